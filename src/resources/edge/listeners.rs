//! The origin-verify secret and the two listeners: 80 redirects to HTTPS, 443
//! forwards to the target group only with the secret header.
//!
//! Listeners need the ALB, the target group and the secret; teardown removes
//! them before the ALB and the target group.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, HttpHeaderConditionConfig, Listener, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum, RuleCondition,
};

/// The origin-verify header value, generated into Secrets Manager.
pub(crate) const ORIGIN_SECRET_VALUE: secrets::SecretStep = secrets::SecretStep {
    key: ORIGIN_SECRET,
    name: origin_secret_name,
    description: "moodlectl: value of the X-Origin-Verify header CloudFront sends to the ALB",
    value: secrets::plain,
};

/// The origin-verify value, read when a call needs it (never stored or printed).
pub async fn origin_value(cx: &StepCx) -> Result<Option<String>, StepError> {
    match cx.state.id(ORIGIN_SECRET) {
        Some(arn) => Ok(Some(secrets::value(cx, &arn).await?)),
        None => Ok(None),
    }
}

pub(crate) fn forward(tg: &str) -> Action {
    Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg).build()
}

pub(crate) fn redirect_https() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port("443")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build()
}

pub(crate) fn forbidden() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("403")
                .content_type("text/plain")
                .message_body("Forbidden")
                .build(),
        )
        .build()
}

pub(crate) fn header_condition(value: &str) -> RuleCondition {
    RuleCondition::builder()
        .field("http-header")
        .http_header_config(HttpHeaderConditionConfig::builder().http_header_name(ORIGIN_HEADER).values(value).build())
        .build()
}

pub(crate) fn action_sig(a: &[Action]) -> Vec<String> {
    a.iter()
        .map(|a| {
            format!(
                "{}|{}|{}|{}",
                a.r#type().map(|t| t.as_str()).unwrap_or(""),
                a.target_group_arn().unwrap_or(""),
                a.redirect_config()
                    .map(|r| format!("{:?}{:?}{:?}", r.protocol(), r.port(), r.status_code()))
                    .unwrap_or_default(),
                a.fixed_response_config().and_then(|f| f.status_code()).unwrap_or_default()
            )
        })
        .collect()
}

pub(crate) struct ListenersStep;

/// The ALB's listeners (none when it is gone).
pub(crate) async fn listeners(cx: &StepCx, alb: &str) -> Result<Vec<Listener>, StepError> {
    let found = cx.aws.elbv2.describe_listeners().load_balancer_arn(alb).send().await;
    Ok(found.or_absent("DescribeListeners", alb)?.map(|o| o.listeners().to_vec()).unwrap_or_default())
}

#[async_trait]
impl Step<StepCx> for ListenersStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (Some(alb), Some(tg)) =
            (cx.dependency(ALB, ids::EDGE_ALB)?, cx.dependency(TARGET_GROUP, ids::EDGE_TARGET_GROUP)?)
        else {
            return Ok(Outcome::Created);
        };
        let restrict = cx.cfg.cdn.restrict_alb;
        let cert = cx.cfg.domain.alb_certificate_arn.clone();
        // `cdn.alb_ssl_policy`: by default TLS 1.3/1.2 with the restricted
        // (forward-secret AES-GCM) TLS 1.2 ciphers, FIPS 140-3 validated
        // cryptography and hybrid post-quantum key exchange (ML-KEM): one of
        // the two policies AWS recommends since 2025-09. The only client is
        // CloudFront, which negotiates these; a client without ML-KEM falls
        // back to classical key exchange. A listener on another policy is
        // moved with `ModifyListener`.
        let policy = cx.cfg.cdn.alb_ssl_policy.as_str();
        let live = listeners(cx, &alb).await?;
        let mut out = Outcome::Unchanged;
        let mut created = 0;

        // 80: permanent redirect to HTTPS.
        match live.iter().find(|l| l.port() == Some(80)) {
            Some(l) => {
                let arn = l.listener_arn().unwrap_or_default().to_string();
                cx.record(LISTENER_HTTP, Resource::new("elbv2:listener", &arn))?;
                if action_sig(l.default_actions()) != action_sig(&[redirect_https()]) {
                    out = out.merge(Outcome::Updated(vec!["listener 80: redirect to HTTPS".into()]));
                    if !cx.dry_run {
                        let call = cx.aws.elbv2.modify_listener().listener_arn(&arn).default_actions(redirect_https());
                        call.send().await.ctx("ModifyListener", "listener 80")?;
                    }
                }
            }
            None if cx.dry_run => created += 1,
            None => {
                let call = cx.aws.elbv2.create_listener().load_balancer_arn(&alb).protocol(ProtocolEnum::Http).port(80);
                let call = call.default_actions(redirect_https());
                let call = call.set_tags(Some(Tags::named(cx, LISTENER_HTTP, "http").render()));
                let o = call.send().await.ctx("CreateListener", "listener 80")?;
                cx.record_new(
                    LISTENER_HTTP,
                    Resource::new(
                        "elbv2:listener",
                        o.listeners().first().and_then(|l| l.listener_arn()).unwrap_or_default(),
                    ),
                )?;
                created += 1;
            }
        }

        // 443: the certificate; 403 unless the origin-verify header matches.
        let default = if restrict { forbidden() } else { forward(&tg) };
        let https = match live.iter().find(|l| l.port() == Some(443)) {
            Some(l) => {
                let arn = l.listener_arn().unwrap_or_default().to_string();
                cx.record(LISTENER_HTTPS, Resource::new("elbv2:listener", &arn))?;
                let live_cert = l.certificates().first().and_then(|c| c.certificate_arn()).unwrap_or_default();
                if action_sig(l.default_actions()) != action_sig(std::slice::from_ref(&default))
                    || live_cert != cert
                    || l.ssl_policy() != Some(policy)
                {
                    out = out.merge(Outcome::Updated(vec!["listener 443: certificate/policy/default action".into()]));
                    if !cx.dry_run {
                        let call = cx.aws.elbv2.modify_listener().listener_arn(&arn);
                        let call = call.certificates(Certificate::builder().certificate_arn(&cert).build());
                        let call = call.ssl_policy(policy).default_actions(default.clone());
                        call.send().await.ctx("ModifyListener", "listener 443")?;
                    }
                }
                Some(arn)
            }
            None if cx.dry_run => {
                created += 1;
                None
            }
            None => {
                let call = cx.aws.elbv2.create_listener().load_balancer_arn(&alb).protocol(ProtocolEnum::Https);
                let call = call.port(443).certificates(Certificate::builder().certificate_arn(&cert).build());
                let call = call.ssl_policy(policy).default_actions(default.clone());
                let call = call.set_tags(Some(Tags::named(cx, LISTENER_HTTPS, "https").render()));
                let o = call.send().await.ctx("CreateListener", "listener 443")?;
                let arn = o.listeners().first().and_then(|l| l.listener_arn()).unwrap_or_default().to_string();
                cx.record_new(LISTENER_HTTPS, Resource::new("elbv2:listener", &arn))?;
                created += 1;
                Some(arn)
            }
        };

        // The header rule (priority 1) forwards what CloudFront sends.
        if let Some(https) = https {
            let rules =
                cx.aws.elbv2.describe_rules().listener_arn(&https).send().await.ctx("DescribeRules", "listener 443")?;
            let rule = rules.rules().iter().find(|r| r.is_default() != Some(true));
            match (restrict, rule) {
                (true, Some(r)) => {
                    let value = origin_value(cx).await?.unwrap_or_default();
                    let live_values: Vec<&str> = r
                        .conditions()
                        .iter()
                        .filter_map(|c| c.http_header_config())
                        .filter(|h| h.http_header_name() == Some(ORIGIN_HEADER))
                        .flat_map(|h| h.values().iter().map(|s| s.as_str()))
                        .collect();
                    if live_values != [value.as_str()] || action_sig(r.actions()) != action_sig(&[forward(&tg)]) {
                        out = out.merge(Outcome::Updated(vec![format!("listener 443: {ORIGIN_HEADER} rule")]));
                        if !cx.dry_run {
                            let call = cx.aws.elbv2.modify_rule().rule_arn(r.rule_arn().unwrap_or_default());
                            let call = call.conditions(header_condition(&value)).actions(forward(&tg));
                            call.send().await.ctx("ModifyRule", "listener 443 rule")?;
                        }
                    }
                }
                (true, None) => {
                    if out != Outcome::Unchanged || created == 0 {
                        out = out.merge(Outcome::Updated(vec![format!("listener 443: add {ORIGIN_HEADER} rule")]));
                    }
                    if !cx.dry_run {
                        let value = origin_value(cx).await?.ok_or(StepError::MissingDependency {
                            step: ids::EDGE_ORIGIN_SECRET,
                            what: ORIGIN_SECRET.into(),
                        })?;
                        let call = cx.aws.elbv2.create_rule().listener_arn(&https).priority(1);
                        let call = call.conditions(header_condition(&value)).actions(forward(&tg));
                        call.send().await.ctx("CreateRule", "listener 443 rule")?;
                    }
                }
                (false, Some(r)) => {
                    out = out.merge(Outcome::Updated(vec![format!("listener 443: remove {ORIGIN_HEADER} rule")]));
                    if !cx.dry_run {
                        deleted(
                            "DeleteRule",
                            "listener 443 rule",
                            cx.aws.elbv2.delete_rule().rule_arn(r.rule_arn().unwrap_or_default()).send().await,
                        )?;
                    }
                }
                (false, None) => {}
            }
        }
        Ok(if created > 0 { Outcome::Created } else { out })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let mut out = Outcome::AlreadyAbsent;
        if let Some(lb) = find_alb(cx).await? {
            for l in listeners(cx, lb.load_balancer_arn().unwrap_or_default()).await? {
                let arn = l.listener_arn().unwrap_or_default();
                out = out.merge(deleted(
                    "DeleteListener",
                    arn,
                    cx.aws.elbv2.delete_listener().listener_arn(arn).send().await,
                )?);
            }
        }
        cx.forget(LISTENER_HTTP)?;
        cx.forget(LISTENER_HTTPS)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let Some(alb) = cx.state.id(ALB) else {
            return Ok(vec![Inspection::missing("elbv2:listener", "listeners", None)]);
        };
        let live = listeners(cx, &alb).await?;
        Ok([(80, LISTENER_HTTP), (443, LISTENER_HTTPS)]
            .iter()
            .map(|(port, key)| match live.iter().find(|l| l.port() == Some(*port)) {
                Some(l) => Inspection::new(
                    "elbv2:listener",
                    format!("{}:{port}", alb_name(cx)),
                    l.listener_arn().map(str::to_string),
                    l.protocol().map(|p| p.as_str()).unwrap_or_default(),
                    true,
                )
                .detail(
                    "default_action",
                    l.default_actions().first().and_then(|a| a.r#type()).map(|t| t.as_str()).unwrap_or_default(),
                ),
                None => Inspection::missing("elbv2:listener", format!("{}:{port}", alb_name(cx)), cx.state.id(key)),
            })
            .collect())
    }
}
