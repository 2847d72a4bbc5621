//! Load balancer tier: the internet-facing ALB, its target group and listeners.
//!
//! The ALB is reachable only through CloudFront (unless `cdn.restrict_alb =
//! false`): its security group admits 443 only from the managed prefix list
//! `com.amazonaws.global.cloudfront.origin-facing` (looked up, never
//! hard-coded), and the 443 listener answers 403 unless the request carries
//! the secret `X-Origin-Verify` header that only our distribution adds.
//!
//! Ordering constraints: the ALB needs the public subnets, its security group
//! and the attached IGW (an internet-facing ALB without one is refused); the
//! target group needs only the VPC; listeners need the ALB, the target group,
//! and the origin-verify secret. Teardown: listeners before the ALB and
//! target group; the ECS service (compute tier) is gone before the target
//! group because it depends on the listeners.

use super::network::{
    destroy_sg, ensure_sg, inspect_sg, public_subnet_ids, Ingress, IngressSource, SG_ALB, VPC,
};
use super::{secrets, TAG_RESOURCE, TAG_STACK};
use crate::aws::{wait_for, Poll};
use crate::engine::{change, Inspection, Outcome, Step, StepCx};
use crate::error::{absent_ok, aws_err, StepError};
use crate::state::Resource;
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, HttpHeaderConditionConfig,
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, RuleCondition, TargetGroupAttribute, TargetTypeEnum,
};
use std::sync::Arc;

pub const ALB: &str = "elbv2/alb";
pub const TARGET_GROUP: &str = "elbv2/target-group";
pub const LISTENER_HTTP: &str = "elbv2/listener-80";
pub const LISTENER_HTTPS: &str = "elbv2/listener-443";
pub const ORIGIN_SECRET: &str = "secret/origin-verify";
pub const ORIGIN_HEADER: &str = "X-Origin-Verify";
pub const CLOUDFRONT_PREFIX_LIST: &str = "com.amazonaws.global.cloudfront.origin-facing";
/// A modern policy: TLS 1.3 and 1.2 only.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
pub const CONTAINER_PORT: i32 = 8080;
/// The image's health endpoint (`image/moodlectl/health.php`). Not a Moodle
/// page: the ALB sends the task's IP as Host, and Moodle answers any foreign
/// Host with a 303 before touching its database, sessions or cache, so `/`
/// with 200/303 passed a site whose every page was a 500.
pub const HEALTH_PATH: &str = "/moodlectl-health";
/// Only 200 is healthy: the endpoint answers 503 naming the failing part.
pub const HEALTH_CODES: &str = "200";

pub fn steps() -> Vec<Arc<dyn Step>> {
    vec![
        Arc::new(AlbSgStep),
        Arc::new(AlbStep),
        Arc::new(TargetGroupStep),
        Arc::new(ListenersStep),
        Arc::new(OriginSecretStep),
    ]
}

pub fn alb_name(cx: &StepCx) -> String {
    cx.cfg.name("alb")
}
pub fn tg_name(cx: &StepCx) -> String {
    cx.cfg.name("tg")
}
pub fn origin_secret_name(cx: &StepCx) -> String {
    cx.cfg.name("origin-verify")
}

fn tags(cx: &StepCx, key: &str, name: &str) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
    [
        (TAG_STACK, cx.cfg.stack.name.as_str()),
        (TAG_RESOURCE, key),
        ("Name", name),
    ]
    .iter()
    .map(|(k, v)| {
        aws_sdk_elasticloadbalancingv2::types::Tag::builder()
            .key(*k)
            .value(*v)
            .build()
    })
    .collect()
}

/// The CloudFront origin-facing prefix list's ID in this region.
pub async fn cloudfront_prefix_list(cx: &StepCx) -> Result<String, StepError> {
    let o = cx
        .aws
        .ec2
        .describe_managed_prefix_lists()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("prefix-list-name")
                .values(CLOUDFRONT_PREFIX_LIST)
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_err("DescribeManagedPrefixLists", CLOUDFRONT_PREFIX_LIST, e))?;
    o.prefix_lists()
        .iter()
        .find(|p| p.prefix_list_name() == Some(CLOUDFRONT_PREFIX_LIST))
        .and_then(|p| p.prefix_list_id())
        .map(str::to_string)
        .ok_or_else(|| StepError::Refused(format!("managed prefix list {CLOUDFRONT_PREFIX_LIST} not found in {}\nhint: set cdn.restrict_alb = false to open the ALB to the internet instead", cx.aws.region)))
}

async fn alb_ingress(cx: &StepCx) -> Result<Vec<Ingress>, StepError> {
    if cx.cfg.cdn.restrict_alb {
        Ok(vec![Ingress {
            port: 443,
            source: IngressSource::PrefixList(cloudfront_prefix_list(cx).await?),
            description: "HTTPS from CloudFront only".into(),
        }])
    } else {
        Ok([80, 443]
            .iter()
            .map(|p| Ingress {
                port: *p,
                source: IngressSource::Cidr("0.0.0.0/0".into()),
                description: "HTTP(S) from anywhere".into(),
            })
            .collect())
    }
}

struct AlbSgStep;

#[async_trait]
impl Step for AlbSgStep {
    fn id(&self) -> &'static str {
        "edge.alb-sg"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let ingress = alb_ingress(cx).await?;
        ensure_sg(
            cx,
            SG_ALB,
            "alb-sg",
            "moodlectl: application load balancer",
            Some(&ingress),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_sg(cx, SG_ALB).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let ingress = alb_ingress(cx).await?;
        Ok(vec![inspect_sg(cx, SG_ALB, "alb-sg", &ingress).await?])
    }
}

pub async fn find_alb(
    cx: &StepCx,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>, StepError> {
    let name = alb_name(cx);
    let r = absent_ok(
        "DescribeLoadBalancers",
        &name,
        cx.aws
            .elbv2
            .describe_load_balancers()
            .names(&name)
            .send()
            .await,
    )?;
    Ok(r.and_then(|o| o.load_balancers().first().cloned()))
}

struct AlbStep;

#[async_trait]
impl Step for AlbStep {
    fn id(&self) -> &'static str {
        "edge.alb"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.subnets", "network.igw", "edge.alb-sg"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = alb_name(cx);
        let (arn, out) = match find_alb(cx).await? {
            Some(lb) => {
                let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                cx.record(
                    ALB,
                    Resource::new("elbv2:load-balancer", &arn)
                        .with("dns", lb.dns_name().unwrap_or_default())
                        .with("zone", lb.canonical_hosted_zone_id().unwrap_or_default()),
                )?;
                let sg = cx.state.id(SG_ALB);
                let mut changes = vec![];
                if let Some(sg) = sg.filter(|sg| lb.security_groups() != [sg.clone()]) {
                    changes.push(change(
                        "security_groups",
                        lb.security_groups().join(","),
                        &sg,
                    ));
                    if !cx.dry_run {
                        cx.aws
                            .elbv2
                            .set_security_groups()
                            .load_balancer_arn(&arn)
                            .security_groups(sg)
                            .send()
                            .await
                            .map_err(|e| aws_err("SetSecurityGroups", &name, e))?;
                    }
                }
                (
                    arn,
                    if changes.is_empty() {
                        Outcome::Unchanged
                    } else {
                        Outcome::Updated(changes)
                    },
                )
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let o = cx
                    .aws
                    .elbv2
                    .create_load_balancer()
                    .name(&name)
                    .set_subnets(Some(public_subnet_ids(cx)?))
                    .security_groups(cx.require(SG_ALB, "edge.alb-sg")?)
                    .scheme(LoadBalancerSchemeEnum::InternetFacing)
                    .r#type(LoadBalancerTypeEnum::Application)
                    .set_tags(Some(tags(cx, ALB, &name)))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateLoadBalancer", &name, e))?;
                let lb = o.load_balancers().first().cloned().unwrap_or_else(|| {
                    aws_sdk_elasticloadbalancingv2::types::LoadBalancer::builder().build()
                });
                let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                cx.record_new(
                    ALB,
                    Resource::new("elbv2:load-balancer", &arn)
                        .with("dns", lb.dns_name().unwrap_or_default())
                        .with("zone", lb.canonical_hosted_zone_id().unwrap_or_default()),
                )?;
                (arn, Outcome::Created)
            }
        };
        if !cx.dry_run {
            wait_for(cx, &format!("ALB {name}"), cx.wait_timeout, || async {
                let lb = find_alb(cx).await?;
                match lb
                    .as_ref()
                    .and_then(|l| l.state())
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().to_string())
                {
                    Some(c) if c == "active" => Ok(Poll::Ready(())),
                    Some(c) if c == "failed" => Err(StepError::BadState {
                        resource: format!("ALB {arn}"),
                        state: c,
                        wanted: "active".into(),
                    }),
                    c => Ok(Poll::Pending(c.unwrap_or("provisioning".into()))),
                }
            })
            .await?;
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(lb) = find_alb(cx).await? else {
            cx.forget(ALB)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        let out = super::deleted(
            "DeleteLoadBalancer",
            &arn,
            cx.aws
                .elbv2
                .delete_load_balancer()
                .load_balancer_arn(&arn)
                .send()
                .await,
        )?;
        wait_for(
            cx,
            &format!("ALB {} deletion", alb_name(cx)),
            cx.wait_timeout,
            || async {
                Ok(if find_alb(cx).await?.is_none() {
                    Poll::Ready(())
                } else {
                    Poll::Pending("deleting".into())
                })
            },
        )
        .await?;
        cx.forget(ALB)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = alb_name(cx);
        Ok(vec![match find_alb(cx).await? {
            Some(lb) => {
                let st = lb
                    .state()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default();
                Inspection::new(
                    "elbv2:load-balancer",
                    &name,
                    lb.load_balancer_arn().map(str::to_string),
                    &st,
                    st == "active",
                )
                .detail("dns", lb.dns_name().unwrap_or_default())
                .detail(
                    "scheme",
                    lb.scheme().map(|s| s.as_str()).unwrap_or_default(),
                )
            }
            None => Inspection::missing("elbv2:load-balancer", &name, cx.state.id(ALB)),
        }])
    }
}

pub async fn find_tg(
    cx: &StepCx,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::TargetGroup>, StepError> {
    let name = tg_name(cx);
    let r = absent_ok(
        "DescribeTargetGroups",
        &name,
        cx.aws
            .elbv2
            .describe_target_groups()
            .names(&name)
            .send()
            .await,
    )?;
    Ok(r.and_then(|o| o.target_groups().first().cloned()))
}

struct TargetGroupStep;

#[async_trait]
impl Step for TargetGroupStep {
    fn id(&self) -> &'static str {
        "edge.target-group"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = tg_name(cx);
        let delay = cx.cfg.cdn.deregistration_delay_seconds.to_string();
        let (arn, mut out) = match find_tg(cx).await? {
            Some(tg) => {
                let arn = tg.target_group_arn().unwrap_or_default().to_string();
                cx.record(TARGET_GROUP, Resource::new("elbv2:target-group", &arn))?;
                let mut changes = vec![];
                let codes = tg.matcher().and_then(|m| m.http_code()).unwrap_or_default();
                if tg.health_check_path() != Some(HEALTH_PATH)
                    || tg.health_check_timeout_seconds() != Some(20)
                    || codes != HEALTH_CODES
                {
                    changes.push(change(
                        "health_check",
                        format!(
                            "{} {}s {codes}",
                            tg.health_check_path().unwrap_or("?"),
                            tg.health_check_timeout_seconds().unwrap_or(0)
                        ),
                        format!("{HEALTH_PATH} 20s {HEALTH_CODES}"),
                    ));
                    if !cx.dry_run {
                        cx.aws
                            .elbv2
                            .modify_target_group()
                            .target_group_arn(&arn)
                            .health_check_path(HEALTH_PATH)
                            .health_check_timeout_seconds(20)
                            .health_check_interval_seconds(30)
                            .matcher(Matcher::builder().http_code(HEALTH_CODES).build())
                            .send()
                            .await
                            .map_err(|e| aws_err("ModifyTargetGroup", &name, e))?;
                    }
                }
                (
                    arn,
                    if changes.is_empty() {
                        Outcome::Unchanged
                    } else {
                        Outcome::Updated(changes)
                    },
                )
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let o = cx
                    .aws
                    .elbv2
                    .create_target_group()
                    .name(&name)
                    .protocol(ProtocolEnum::Http)
                    .port(CONTAINER_PORT)
                    .vpc_id(cx.require(VPC, "network.vpc")?)
                    .target_type(TargetTypeEnum::Ip)
                    .health_check_path(HEALTH_PATH)
                    .health_check_timeout_seconds(20)
                    .health_check_interval_seconds(30)
                    .matcher(Matcher::builder().http_code(HEALTH_CODES).build())
                    .set_tags(Some(tags(cx, TARGET_GROUP, &name)))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateTargetGroup", &name, e))?;
                let arn = o
                    .target_groups()
                    .first()
                    .and_then(|t| t.target_group_arn())
                    .unwrap_or_default()
                    .to_string();
                cx.record_new(TARGET_GROUP, Resource::new("elbv2:target-group", &arn))?;
                (arn, Outcome::Created)
            }
        };
        let live = if out == Outcome::Created && !cx.dry_run {
            None
        } else {
            let a = cx
                .aws
                .elbv2
                .describe_target_group_attributes()
                .target_group_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_err("DescribeTargetGroupAttributes", &name, e))?;
            a.attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value().map(str::to_string))
        };
        if live.as_deref() != Some(delay.as_str()) {
            if out != Outcome::Created {
                out = out.merge(Outcome::Updated(vec![change(
                    "deregistration_delay",
                    live.unwrap_or("?".into()),
                    &delay,
                )]));
            }
            if !cx.dry_run {
                cx.aws
                    .elbv2
                    .modify_target_group_attributes()
                    .target_group_arn(&arn)
                    .attributes(
                        TargetGroupAttribute::builder()
                            .key("deregistration_delay.timeout_seconds")
                            .value(&delay)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| aws_err("ModifyTargetGroupAttributes", &name, e))?;
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let out = match find_tg(cx).await? {
            Some(tg) => {
                let arn = tg.target_group_arn().unwrap_or_default().to_string();
                super::retry_while_in_use(cx, "DeleteTargetGroup", &arn, || {
                    cx.aws
                        .elbv2
                        .delete_target_group()
                        .target_group_arn(&arn)
                        .send()
                })
                .await?
            }
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(TARGET_GROUP)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = tg_name(cx);
        Ok(vec![match find_tg(cx).await? {
            Some(tg) => {
                let arn = tg.target_group_arn().unwrap_or_default().to_string();
                let h = cx
                    .aws
                    .elbv2
                    .describe_target_health()
                    .target_group_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| aws_err("DescribeTargetHealth", &name, e))?;
                let targets: Vec<String> = h
                    .target_health_descriptions()
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={}",
                            d.target().and_then(|t| t.id()).unwrap_or("?"),
                            d.target_health()
                                .and_then(|t| t.state())
                                .map(|s| s.as_str())
                                .unwrap_or("?")
                        )
                    })
                    .collect();
                let healthy = h
                    .target_health_descriptions()
                    .iter()
                    .filter(|d| {
                        d.target_health()
                            .and_then(|t| t.state())
                            .map(|s| s.as_str())
                            == Some("healthy")
                    })
                    .count();
                Inspection::new(
                    "elbv2:target-group",
                    &name,
                    Some(arn),
                    format!("{healthy}/{} healthy", targets.len()),
                    true,
                )
                .detail("targets", targets.join(","))
                .detail("healthy", healthy.to_string())
                .detail("total", targets.len().to_string())
            }
            None => Inspection::missing("elbv2:target-group", &name, cx.state.id(TARGET_GROUP)),
        }])
    }
}

/// The origin-verify header value, generated into Secrets Manager.
struct OriginSecretStep;

#[async_trait]
impl Step for OriginSecretStep {
    fn id(&self) -> &'static str {
        "edge.origin-secret"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(secrets::ensure(
            cx,
            ORIGIN_SECRET,
            &origin_secret_name(cx),
            "moodlectl: value of the X-Origin-Verify header CloudFront sends to the ALB",
            |pw| pw.to_string(),
        )
        .await?
        .0)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        secrets::destroy(cx, ORIGIN_SECRET, &origin_secret_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            secrets::inspect(cx, ORIGIN_SECRET, &origin_secret_name(cx)).await?,
        ])
    }
}

/// The origin-verify value, read when a call needs it (never stored or printed).
pub async fn origin_value(cx: &StepCx) -> Result<Option<String>, StepError> {
    match cx.state.id(ORIGIN_SECRET) {
        Some(arn) => Ok(Some(secrets::value(cx, &arn).await?)),
        None => Ok(None),
    }
}

fn forward(tg: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg)
        .build()
}

fn redirect_https() -> Action {
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

fn forbidden() -> Action {
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

fn header_condition(value: &str) -> RuleCondition {
    RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name(ORIGIN_HEADER)
                .values(value)
                .build(),
        )
        .build()
}

fn action_sig(a: &[Action]) -> Vec<String> {
    a.iter()
        .map(|a| {
            format!(
                "{}|{}|{}|{}",
                a.r#type().map(|t| t.as_str()).unwrap_or(""),
                a.target_group_arn().unwrap_or(""),
                a.redirect_config()
                    .map(|r| format!("{:?}{:?}{:?}", r.protocol(), r.port(), r.status_code()))
                    .unwrap_or_default(),
                a.fixed_response_config()
                    .and_then(|f| f.status_code())
                    .unwrap_or_default()
            )
        })
        .collect()
}

struct ListenersStep;

async fn listeners(
    cx: &StepCx,
    alb: &str,
) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::Listener>, StepError> {
    let r = absent_ok(
        "DescribeListeners",
        alb,
        cx.aws
            .elbv2
            .describe_listeners()
            .load_balancer_arn(alb)
            .send()
            .await,
    )?;
    Ok(r.map(|o| o.listeners().to_vec()).unwrap_or_default())
}

#[async_trait]
impl Step for ListenersStep {
    fn id(&self) -> &'static str {
        "edge.listeners"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["edge.alb", "edge.target-group", "edge.origin-secret"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (Some(alb), Some(tg)) = (cx.state.id(ALB), cx.state.id(TARGET_GROUP)) else {
            return if cx.dry_run {
                Ok(Outcome::Created)
            } else {
                Err(StepError::MissingDependency {
                    step: "edge.alb",
                    what: ALB.into(),
                })
            };
        };
        let restrict = cx.cfg.cdn.restrict_alb;
        let cert = cx.cfg.domain.alb_certificate_arn.clone();
        let live = listeners(cx, &alb).await?;
        let mut out = Outcome::Unchanged;
        let mut created = 0;

        // 80: permanent redirect to HTTPS.
        match live.iter().find(|l| l.port() == Some(80)) {
            Some(l) => {
                let arn = l.listener_arn().unwrap_or_default().to_string();
                cx.record(LISTENER_HTTP, Resource::new("elbv2:listener", &arn))?;
                if action_sig(l.default_actions()) != action_sig(&[redirect_https()]) {
                    out = out.merge(Outcome::Updated(vec![
                        "listener 80: redirect to HTTPS".into()
                    ]));
                    if !cx.dry_run {
                        cx.aws
                            .elbv2
                            .modify_listener()
                            .listener_arn(&arn)
                            .default_actions(redirect_https())
                            .send()
                            .await
                            .map_err(|e| aws_err("ModifyListener", "listener 80", e))?;
                    }
                }
            }
            None if cx.dry_run => created += 1,
            None => {
                let o = cx
                    .aws
                    .elbv2
                    .create_listener()
                    .load_balancer_arn(&alb)
                    .protocol(ProtocolEnum::Http)
                    .port(80)
                    .default_actions(redirect_https())
                    .set_tags(Some(tags(cx, LISTENER_HTTP, "http")))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateListener", "listener 80", e))?;
                cx.record_new(
                    LISTENER_HTTP,
                    Resource::new(
                        "elbv2:listener",
                        o.listeners()
                            .first()
                            .and_then(|l| l.listener_arn())
                            .unwrap_or_default(),
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
                let live_cert = l
                    .certificates()
                    .first()
                    .and_then(|c| c.certificate_arn())
                    .unwrap_or_default();
                if action_sig(l.default_actions()) != action_sig(&[default.clone()])
                    || live_cert != cert
                    || l.ssl_policy() != Some(SSL_POLICY)
                {
                    out = out.merge(Outcome::Updated(vec![
                        "listener 443: certificate/policy/default action".into(),
                    ]));
                    if !cx.dry_run {
                        cx.aws
                            .elbv2
                            .modify_listener()
                            .listener_arn(&arn)
                            .certificates(Certificate::builder().certificate_arn(&cert).build())
                            .ssl_policy(SSL_POLICY)
                            .default_actions(default.clone())
                            .send()
                            .await
                            .map_err(|e| aws_err("ModifyListener", "listener 443", e))?;
                    }
                }
                Some(arn)
            }
            None if cx.dry_run => {
                created += 1;
                None
            }
            None => {
                let o = cx
                    .aws
                    .elbv2
                    .create_listener()
                    .load_balancer_arn(&alb)
                    .protocol(ProtocolEnum::Https)
                    .port(443)
                    .certificates(Certificate::builder().certificate_arn(&cert).build())
                    .ssl_policy(SSL_POLICY)
                    .default_actions(default.clone())
                    .set_tags(Some(tags(cx, LISTENER_HTTPS, "https")))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateListener", "listener 443", e))?;
                let arn = o
                    .listeners()
                    .first()
                    .and_then(|l| l.listener_arn())
                    .unwrap_or_default()
                    .to_string();
                cx.record_new(LISTENER_HTTPS, Resource::new("elbv2:listener", &arn))?;
                created += 1;
                Some(arn)
            }
        };

        // The header rule (priority 1) forwards what CloudFront sends.
        if let Some(https) = https {
            let rules = cx
                .aws
                .elbv2
                .describe_rules()
                .listener_arn(&https)
                .send()
                .await
                .map_err(|e| aws_err("DescribeRules", "listener 443", e))?;
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
                    if live_values != [value.as_str()]
                        || action_sig(r.actions()) != action_sig(&[forward(&tg)])
                    {
                        out = out.merge(Outcome::Updated(vec![format!(
                            "listener 443: {ORIGIN_HEADER} rule"
                        )]));
                        if !cx.dry_run {
                            cx.aws
                                .elbv2
                                .modify_rule()
                                .rule_arn(r.rule_arn().unwrap_or_default())
                                .conditions(header_condition(&value))
                                .actions(forward(&tg))
                                .send()
                                .await
                                .map_err(|e| aws_err("ModifyRule", "listener 443 rule", e))?;
                        }
                    }
                }
                (true, None) => {
                    if out != Outcome::Unchanged || created == 0 {
                        out = out.merge(Outcome::Updated(vec![format!(
                            "listener 443: add {ORIGIN_HEADER} rule"
                        )]));
                    }
                    if !cx.dry_run {
                        let value =
                            origin_value(cx)
                                .await?
                                .ok_or(StepError::MissingDependency {
                                    step: "edge.origin-secret",
                                    what: ORIGIN_SECRET.into(),
                                })?;
                        cx.aws
                            .elbv2
                            .create_rule()
                            .listener_arn(&https)
                            .priority(1)
                            .conditions(header_condition(&value))
                            .actions(forward(&tg))
                            .send()
                            .await
                            .map_err(|e| aws_err("CreateRule", "listener 443 rule", e))?;
                    }
                }
                (false, Some(r)) => {
                    out = out.merge(Outcome::Updated(vec![format!(
                        "listener 443: remove {ORIGIN_HEADER} rule"
                    )]));
                    if !cx.dry_run {
                        super::deleted(
                            "DeleteRule",
                            "listener 443 rule",
                            cx.aws
                                .elbv2
                                .delete_rule()
                                .rule_arn(r.rule_arn().unwrap_or_default())
                                .send()
                                .await,
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
                out = out.merge(super::deleted(
                    "DeleteListener",
                    arn,
                    cx.aws
                        .elbv2
                        .delete_listener()
                        .listener_arn(arn)
                        .send()
                        .await,
                )?);
            }
        }
        cx.forget(LISTENER_HTTP)?;
        cx.forget(LISTENER_HTTPS)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let Some(alb) = cx.state.id(ALB) else {
            return Ok(vec![Inspection::missing(
                "elbv2:listener",
                "listeners",
                None,
            )]);
        };
        let live = listeners(cx, &alb).await?;
        Ok([(80, LISTENER_HTTP), (443, LISTENER_HTTPS)]
            .iter()
            .map(
                |(port, key)| match live.iter().find(|l| l.port() == Some(*port)) {
                    Some(l) => Inspection::new(
                        "elbv2:listener",
                        format!("{}:{port}", alb_name(cx)),
                        l.listener_arn().map(str::to_string),
                        l.protocol().map(|p| p.as_str()).unwrap_or_default(),
                        true,
                    )
                    .detail(
                        "default_action",
                        l.default_actions()
                            .first()
                            .and_then(|a| a.r#type())
                            .map(|t| t.as_str())
                            .unwrap_or_default(),
                    ),
                    None => Inspection::missing(
                        "elbv2:listener",
                        format!("{}:{port}", alb_name(cx)),
                        cx.state.id(key),
                    ),
                },
            )
            .collect())
    }
}
