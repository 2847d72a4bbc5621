//! Edge tier: the WAFv2 web ACL (scope CLOUDFRONT, so created through a
//! us-east-1 client whatever the stack's region) and the CloudFront
//! distribution in front of the ALB.
//!
//! The reference needs two CloudFormation stacks, an SSM parameter and a
//! Lambda custom resource to get the web ACL's ARN across regions; a direct
//! SDK call in us-east-1 returns it.
//!
//! Ordering constraints: the distribution needs the ALB's DNS name, the web
//! ACL's ARN and the origin-verify secret. Teardown: a distribution can only
//! be deleted once it is disabled *and* Deployed, with the ETag of its latest
//! config; each of disable → wait → delete is resumable because every step
//! re-reads the live state first. The web ACL is deleted after the
//! distribution (which depends on it) no longer references it.

use super::loadbalancer::{origin_value, ALB, ORIGIN_HEADER, ORIGIN_SECRET};
use super::{TAG_RESOURCE, TAG_STACK};
use crate::aws::{wait_for, Poll};
use crate::engine::{change, Inspection, Outcome, Step, StepCx};
use crate::error::{absent_ok, aws_err, StepError};
use crate::state::Resource;
use async_trait::async_trait;
use aws_sdk_cloudfront::types as cf;
use aws_sdk_wafv2::types as waf;
use std::sync::Arc;

pub const WEB_ACL: &str = "wafv2/web-acl";
pub const DISTRIBUTION: &str = "cloudfront/distribution";

/// AWS managed cache policy "Managed-CachingDisabled" (documented fixed ID;
/// the emulator does not implement ListCachePolicies).
pub const CACHE_POLICY_CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS managed origin request policy "Managed-AllViewer" (documented fixed ID).
pub const ORIGIN_REQUEST_POLICY_ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
pub const IP_REPUTATION: &str = "AWSManagedRulesAmazonIpReputationList";
const ORIGIN_ID: &str = "alb";

pub fn steps() -> Vec<Arc<dyn Step>> {
    vec![Arc::new(WebAclStep), Arc::new(DistributionStep)]
}

pub fn acl_name(cx: &StepCx) -> String {
    cx.cfg.name("cf-waf")
}
fn comment(cx: &StepCx) -> String {
    format!("moodlectl stack {}", cx.cfg.stack.name)
}

// ---------------------------------------------------------------- WAF

fn visibility(metric: &str) -> waf::VisibilityConfig {
    waf::VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(
            metric
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>(),
        )
        .build()
        .expect("all fields set")
}

/// The rules we want: IP reputation at priority 0, then the configured extras.
fn desired_rules(cx: &StepCx) -> Vec<waf::Rule> {
    let mut groups = vec![(IP_REPUTATION.to_string(), "AWS".to_string(), vec![])];
    for g in &cx.cfg.cdn.extra_managed_rule_groups {
        groups.push((g.name.clone(), g.vendor.clone(), g.count_rules.clone()));
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (name, vendor, count))| {
            let overrides: Vec<waf::RuleActionOverride> = count
                .iter()
                .map(|r| {
                    waf::RuleActionOverride::builder()
                        .name(r)
                        .action_to_use(
                            waf::RuleAction::builder()
                                .count(waf::CountAction::builder().build())
                                .build(),
                        )
                        .build()
                        .expect("name and action set")
                })
                .collect();
            let stmt = waf::ManagedRuleGroupStatement::builder()
                .vendor_name(&vendor)
                .name(&name)
                .set_rule_action_overrides((!overrides.is_empty()).then_some(overrides))
                .build()
                .expect("vendor and name set");
            waf::Rule::builder()
                .name(&name)
                .priority(i as i32)
                .statement(
                    waf::Statement::builder()
                        .managed_rule_group_statement(stmt)
                        .build(),
                )
                .override_action(
                    waf::OverrideAction::builder()
                        .none(waf::NoneAction::builder().build())
                        .build(),
                )
                .visibility_config(visibility(&name))
                .build()
                .expect("rule fields set")
        })
        .collect()
}

/// A comparable signature of a rule list (name, priority, group, overrides).
fn rules_sig(rules: &[waf::Rule]) -> Vec<String> {
    let mut v: Vec<String> = rules
        .iter()
        .map(|r| {
            let g = r.statement().and_then(|s| s.managed_rule_group_statement());
            let mut o: Vec<String> = g
                .map(|g| {
                    g.rule_action_overrides()
                        .iter()
                        .map(|o| o.name().to_string())
                        .collect()
                })
                .unwrap_or_default();
            o.sort();
            format!(
                "{}|{}|{}/{}|{}|none={}",
                r.name(),
                r.priority(),
                g.map(|g| g.vendor_name()).unwrap_or(""),
                g.map(|g| g.name()).unwrap_or(""),
                o.join(","),
                r.override_action().and_then(|a| a.none()).is_some()
            )
        })
        .collect();
    v.sort();
    v
}

/// (id, arn, lock token) of our web ACL, if it exists.
async fn find_acl(cx: &StepCx) -> Result<Option<(String, String, String)>, StepError> {
    let name = acl_name(cx);
    let mut marker = None;
    loop {
        let o = cx
            .aws
            .wafv2_global
            .list_web_acls()
            .scope(waf::Scope::Cloudfront)
            .set_next_marker(marker)
            .send()
            .await
            .map_err(|e| aws_err("ListWebACLs", &name, e))?;
        if let Some(a) = o
            .web_acls()
            .iter()
            .find(|a| a.name() == Some(name.as_str()))
        {
            return Ok(Some((
                a.id().unwrap_or_default().to_string(),
                a.arn().unwrap_or_default().to_string(),
                a.lock_token().unwrap_or_default().to_string(),
            )));
        }
        match o
            .next_marker()
            .filter(|m| !m.is_empty() && !o.web_acls().is_empty())
        {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
}

struct WebAclStep;

#[async_trait]
impl Step for WebAclStep {
    fn id(&self) -> &'static str {
        "edge.waf"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = acl_name(cx);
        let want = desired_rules(cx);
        match find_acl(cx).await? {
            Some((id, arn, _)) => {
                cx.record(
                    WEB_ACL,
                    Resource::new("wafv2:web-acl", &arn).with("id", &id),
                )?;
                let g = cx
                    .aws
                    .wafv2_global
                    .get_web_acl()
                    .name(&name)
                    .scope(waf::Scope::Cloudfront)
                    .id(&id)
                    .send()
                    .await
                    .map_err(|e| aws_err("GetWebACL", &name, e))?;
                let acl = g.web_acl().ok_or_else(|| {
                    StepError::Refused(format!("GetWebACL {name} returned no ACL"))
                })?;
                let allow = acl.default_action().and_then(|d| d.allow()).is_some();
                if rules_sig(acl.rules()) == rules_sig(&want) && allow {
                    return Ok(Outcome::Unchanged);
                }
                let changes = vec![change(
                    "rules",
                    rules_sig(acl.rules()).len(),
                    rules_sig(&want).len(),
                )];
                if !cx.dry_run {
                    // The lock token from the read just made: a concurrent
                    // writer makes this fail with WAFOptimisticLockException.
                    cx.aws
                        .wafv2_global
                        .update_web_acl()
                        .name(&name)
                        .scope(waf::Scope::Cloudfront)
                        .id(&id)
                        .lock_token(g.lock_token().unwrap_or_default())
                        .default_action(
                            waf::DefaultAction::builder()
                                .allow(waf::AllowAction::builder().build())
                                .build(),
                        )
                        .set_rules(Some(want))
                        .visibility_config(visibility(&name))
                        .send()
                        .await
                        .map_err(|e| aws_err("UpdateWebACL", &name, e))?;
                }
                Ok(Outcome::Updated(changes))
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let tags = [
                    (TAG_STACK, cx.cfg.stack.name.as_str()),
                    (TAG_RESOURCE, WEB_ACL),
                ]
                .iter()
                .map(|(k, v)| {
                    waf::Tag::builder()
                        .key(*k)
                        .value(*v)
                        .build()
                        .expect("key and value")
                })
                .collect();
                let o = cx
                    .aws
                    .wafv2_global
                    .create_web_acl()
                    .name(&name)
                    .scope(waf::Scope::Cloudfront)
                    .description(format!("moodlectl {}: CloudFront", cx.cfg.stack.name))
                    .default_action(
                        waf::DefaultAction::builder()
                            .allow(waf::AllowAction::builder().build())
                            .build(),
                    )
                    .set_rules(Some(want))
                    .visibility_config(visibility(&name))
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateWebACL", &name, e))?;
                let s = o
                    .summary()
                    .cloned()
                    .unwrap_or_else(|| waf::WebAclSummary::builder().build());
                cx.record_new(
                    WEB_ACL,
                    Resource::new("wafv2:web-acl", s.arn().unwrap_or_default())
                        .with("id", s.id().unwrap_or_default()),
                )?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = acl_name(cx);
        let out = match find_acl(cx).await? {
            Some((id, _, lock)) => super::deleted(
                "DeleteWebACL",
                &name,
                cx.aws
                    .wafv2_global
                    .delete_web_acl()
                    .name(&name)
                    .scope(waf::Scope::Cloudfront)
                    .id(&id)
                    .lock_token(lock)
                    .send()
                    .await,
            )?,
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(WEB_ACL)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = acl_name(cx);
        Ok(vec![match find_acl(cx).await? {
            Some((_, arn, _)) => Inspection::new(
                "wafv2:web-acl",
                &name,
                Some(arn),
                "exists (us-east-1, CLOUDFRONT)",
                true,
            ),
            None => Inspection::missing("wafv2:web-acl", &name, cx.state.id(WEB_ACL)),
        }])
    }
}

// ---------------------------------------------------------------- CloudFront

fn methods(m: &[&str]) -> Vec<cf::Method> {
    m.iter().map(|s| cf::Method::from(*s)).collect()
}

/// The distribution config we want; `caller_reference` is kept from the live
/// config on updates (it cannot change).
fn desired_config(
    cx: &StepCx,
    caller_reference: &str,
    alb_dns: &str,
    acl_arn: &str,
    origin_secret: &str,
    enabled: bool,
) -> cf::DistributionConfig {
    let c = &cx.cfg;
    let custom = cf::CustomOriginConfig::builder()
        .http_port(80)
        .https_port(443)
        .origin_protocol_policy(cf::OriginProtocolPolicy::HttpsOnly)
        .origin_ssl_protocols(
            cf::OriginSslProtocols::builder()
                .quantity(1)
                .items(cf::SslProtocol::from("TLSv1.2"))
                .build()
                .expect("quantity and items"),
        )
        .origin_read_timeout(c.cdn.origin_timeout_seconds)
        .origin_keepalive_timeout(5)
        .build()
        .expect("ports and policy set");
    let headers = cf::CustomHeaders::builder()
        .quantity(1)
        .items(
            cf::OriginCustomHeader::builder()
                .header_name(ORIGIN_HEADER)
                .header_value(origin_secret)
                .build()
                .expect("name and value"),
        )
        .build()
        .expect("quantity");
    let origin = cf::Origin::builder()
        .id(ORIGIN_ID)
        .domain_name(alb_dns)
        .custom_origin_config(custom)
        .custom_headers(headers)
        .build()
        .expect("id and domain");
    let all = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"];
    let behavior = cf::DefaultCacheBehavior::builder()
        .target_origin_id(ORIGIN_ID)
        .viewer_protocol_policy(cf::ViewerProtocolPolicy::RedirectToHttps)
        .allowed_methods(
            cf::AllowedMethods::builder()
                .quantity(all.len() as i32)
                .set_items(Some(methods(&all)))
                .cached_methods(
                    cf::CachedMethods::builder()
                        .quantity(2)
                        .set_items(Some(methods(&["GET", "HEAD"])))
                        .build()
                        .expect("cached methods"),
                )
                .build()
                .expect("allowed methods"),
        )
        .cache_policy_id(CACHE_POLICY_CACHING_DISABLED)
        .origin_request_policy_id(ORIGIN_REQUEST_POLICY_ALL_VIEWER)
        .compress(true)
        .build()
        .expect("behavior fields");
    cf::DistributionConfig::builder()
        .caller_reference(caller_reference)
        .aliases(
            cf::Aliases::builder()
                .quantity(1)
                .items(&c.domain.name)
                .build()
                .expect("aliases"),
        )
        .origins(
            cf::Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .expect("origins"),
        )
        .default_cache_behavior(behavior)
        .comment(comment(cx))
        .enabled(enabled)
        .viewer_certificate(
            cf::ViewerCertificate::builder()
                .acm_certificate_arn(&c.domain.cloudfront_certificate_arn)
                .ssl_support_method(cf::SslSupportMethod::SniOnly)
                .minimum_protocol_version(cf::MinimumProtocolVersion::from("TLSv1.2_2021"))
                .cloud_front_default_certificate(false)
                .build(),
        )
        .web_acl_id(acl_arn)
        .http_version(cf::HttpVersion::from("http2and3"))
        .is_ipv6_enabled(true)
        .build()
        .expect("distribution fields")
}

/// Differences that matter between the live and the desired config (no secret values).
fn config_diff(live: &cf::DistributionConfig, want: &cf::DistributionConfig) -> Vec<String> {
    let mut d = vec![];
    let o = |c: &cf::DistributionConfig| c.origins().and_then(|o| o.items().first().cloned());
    let (lo, wo) = (o(live), o(want));
    let co = |o: &Option<cf::Origin>| o.as_ref().and_then(|o| o.custom_origin_config().cloned());
    let (lc, wc) = (co(&lo), co(&wo));
    if lo.as_ref().map(|o| o.domain_name()) != wo.as_ref().map(|o| o.domain_name()) {
        d.push(change(
            "origin",
            lo.as_ref().map(|o| o.domain_name()).unwrap_or("none"),
            wo.as_ref().map(|o| o.domain_name()).unwrap_or("none"),
        ));
    }
    if lc.as_ref().and_then(|c| c.origin_read_timeout())
        != wc.as_ref().and_then(|c| c.origin_read_timeout())
    {
        d.push(change(
            "origin_timeout_seconds",
            lc.as_ref()
                .and_then(|c| c.origin_read_timeout())
                .unwrap_or(0),
            wc.as_ref()
                .and_then(|c| c.origin_read_timeout())
                .unwrap_or(0),
        ));
    }
    if lc
        .as_ref()
        .map(|c| c.origin_protocol_policy().as_str().to_string())
        != wc
            .as_ref()
            .map(|c| c.origin_protocol_policy().as_str().to_string())
    {
        d.push("origin protocol policy".into());
    }
    let hdr = |o: &Option<cf::Origin>| {
        o.as_ref()
            .and_then(|o| o.custom_headers())
            .map(|h| {
                h.items()
                    .iter()
                    .map(|i| (i.header_name().to_string(), i.header_value().to_string()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    if hdr(&lo) != hdr(&wo) {
        d.push(format!("{ORIGIN_HEADER} header (value not shown)"));
    }
    if live.web_acl_id() != want.web_acl_id() {
        d.push(change(
            "web_acl",
            live.web_acl_id().unwrap_or("none"),
            want.web_acl_id().unwrap_or("none"),
        ));
    }
    let alias =
        |c: &cf::DistributionConfig| c.aliases().map(|a| a.items().to_vec()).unwrap_or_default();
    if alias(live) != alias(want) {
        d.push(change(
            "aliases",
            alias(live).join(","),
            alias(want).join(","),
        ));
    }
    let cert = |c: &cf::DistributionConfig| {
        c.viewer_certificate()
            .and_then(|v| v.acm_certificate_arn().map(str::to_string))
    };
    if cert(live) != cert(want) {
        d.push(change(
            "certificate",
            cert(live).unwrap_or_default(),
            cert(want).unwrap_or_default(),
        ));
    }
    let tls = |c: &cf::DistributionConfig| {
        c.viewer_certificate()
            .and_then(|v| v.minimum_protocol_version().map(|m| m.as_str().to_string()))
    };
    if tls(live) != tls(want) {
        d.push(change(
            "minimum_protocol_version",
            tls(live).unwrap_or_default(),
            tls(want).unwrap_or_default(),
        ));
    }
    let beh = |c: &cf::DistributionConfig| {
        c.default_cache_behavior().map(|b| {
            format!(
                "{:?}|{:?}|{:?}|{}",
                b.viewer_protocol_policy(),
                b.cache_policy_id(),
                b.origin_request_policy_id(),
                b.allowed_methods().map(|m| m.quantity()).unwrap_or(0)
            )
        })
    };
    if beh(live) != beh(want) {
        d.push("default cache behavior".into());
    }
    if live.http_version().map(|h| h.as_str().to_string())
        != want.http_version().map(|h| h.as_str().to_string())
    {
        d.push(change(
            "http_version",
            live.http_version().map(|h| h.as_str()).unwrap_or("?"),
            "http2and3",
        ));
    }
    if live.enabled() != want.enabled() {
        d.push(change("enabled", live.enabled(), want.enabled()));
    }
    d
}

async fn find_distribution(cx: &StepCx) -> Result<Option<cf::Distribution>, StepError> {
    if let Some(id) = cx.state.id(DISTRIBUTION) {
        if let Some(o) = absent_ok(
            "GetDistribution",
            &id,
            cx.aws.cloudfront.get_distribution().id(&id).send().await,
        )? {
            return Ok(o.distribution().cloned());
        }
    }
    let want = comment(cx);
    let mut marker = None;
    loop {
        let o = cx
            .aws
            .cloudfront
            .list_distributions()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_err("ListDistributions", "distributions", e))?;
        let Some(list) = o.distribution_list() else {
            return Ok(None);
        };
        if let Some(s) = list.items().iter().find(|s| s.comment() == want) {
            let id = s.id().to_string();
            return Ok(absent_ok(
                "GetDistribution",
                &id,
                cx.aws.cloudfront.get_distribution().id(&id).send().await,
            )?
            .and_then(|o| o.distribution().cloned()));
        }
        match list.next_marker().filter(|_| list.is_truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
}

async fn wait_deployed(cx: &StepCx, id: &str) -> Result<(), StepError> {
    wait_for(cx, &format!("CloudFront {id}"), cx.wait_timeout, || async {
        let o = absent_ok(
            "GetDistribution",
            id,
            cx.aws.cloudfront.get_distribution().id(id).send().await,
        )?;
        match o.and_then(|o| o.distribution().map(|d| d.status().to_string())) {
            Some(s) if s == "Deployed" => Ok(Poll::Ready(())),
            Some(s) => Ok(Poll::Pending(s)),
            None => Err(StepError::BadState {
                resource: format!("CloudFront {id}"),
                state: "gone".into(),
                wanted: "Deployed".into(),
            }),
        }
    })
    .await
}

struct DistributionStep;

#[async_trait]
impl Step for DistributionStep {
    fn id(&self) -> &'static str {
        "edge.cloudfront"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["edge.alb", "edge.waf", "edge.origin-secret"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let alb_dns = cx.state.get(ALB).and_then(|r| r.attrs.get("dns").cloned());
        let acl = cx.state.id(WEB_ACL);
        let secret = if cx.state.id(ORIGIN_SECRET).is_some() {
            origin_value(cx).await?
        } else {
            None
        };
        let found = find_distribution(cx).await?;
        let (id, out) = match found {
            Some(d) => {
                let id = d.id().to_string();
                cx.record(
                    DISTRIBUTION,
                    Resource::new("cloudfront:distribution", &id)
                        .with("domain", d.domain_name())
                        .with("arn", d.arn()),
                )?;
                let (Some(alb_dns), Some(acl), Some(secret)) = (alb_dns, acl, secret) else {
                    return if cx.dry_run {
                        Ok(Outcome::Updated(vec![
                            "origin / web ACL (dependencies pending)".into(),
                        ]))
                    } else {
                        Err(StepError::MissingDependency {
                            step: "edge.alb",
                            what: "ALB DNS, web ACL, origin secret".into(),
                        })
                    };
                };
                let cfg = cx
                    .aws
                    .cloudfront
                    .get_distribution_config()
                    .id(&id)
                    .send()
                    .await
                    .map_err(|e| aws_err("GetDistributionConfig", &id, e))?;
                let live = cfg.distribution_config().cloned().ok_or_else(|| {
                    StepError::Refused(format!("distribution {id} has no config"))
                })?;
                let want =
                    desired_config(cx, live.caller_reference(), &alb_dns, &acl, &secret, true);
                let diff = config_diff(&live, &want);
                if diff.is_empty() {
                    (id, Outcome::Unchanged)
                } else {
                    if !cx.dry_run {
                        cx.aws
                            .cloudfront
                            .update_distribution()
                            .id(&id)
                            .if_match(cfg.e_tag().unwrap_or_default())
                            .distribution_config(want)
                            .send()
                            .await
                            .map_err(|e| aws_err("UpdateDistribution", &id, e))?;
                    }
                    (id, Outcome::Updated(diff))
                }
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let alb_dns = alb_dns.ok_or(StepError::MissingDependency {
                    step: "edge.alb",
                    what: ALB.into(),
                })?;
                let acl = acl.ok_or(StepError::MissingDependency {
                    step: "edge.waf",
                    what: WEB_ACL.into(),
                })?;
                let secret = secret.ok_or(StepError::MissingDependency {
                    step: "edge.origin-secret",
                    what: ORIGIN_SECRET.into(),
                })?;
                // CallerReference makes a retried create return the same distribution.
                let config =
                    desired_config(cx, &cx.token(DISTRIBUTION), &alb_dns, &acl, &secret, true);
                let tags = cf::Tags::builder()
                    .set_items(Some(
                        [
                            (TAG_STACK, cx.cfg.stack.name.as_str()),
                            (TAG_RESOURCE, DISTRIBUTION),
                        ]
                        .iter()
                        .map(|(k, v)| cf::Tag::builder().key(*k).value(*v).build().expect("key"))
                        .collect(),
                    ))
                    .build();
                let o = cx
                    .aws
                    .cloudfront
                    .create_distribution_with_tags()
                    .distribution_config_with_tags(
                        cf::DistributionConfigWithTags::builder()
                            .distribution_config(config)
                            .tags(tags)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateDistributionWithTags", &comment(cx), e))?;
                let d = o.distribution().ok_or_else(|| {
                    StepError::Refused("CreateDistribution returned no distribution".into())
                })?;
                cx.record_new(
                    DISTRIBUTION,
                    Resource::new("cloudfront:distribution", d.id())
                        .with("domain", d.domain_name())
                        .with("arn", d.arn()),
                )?;
                (d.id().to_string(), Outcome::Created)
            }
        };
        if !cx.dry_run {
            wait_deployed(cx, &id).await?;
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(d) = find_distribution(cx).await? else {
            cx.forget(DISTRIBUTION)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = d.id().to_string();
        let cfg = cx
            .aws
            .cloudfront
            .get_distribution_config()
            .id(&id)
            .send()
            .await
            .map_err(|e| aws_err("GetDistributionConfig", &id, e))?;
        let live = cfg
            .distribution_config()
            .cloned()
            .ok_or_else(|| StepError::Refused(format!("distribution {id} has no config")))?;
        if live.enabled() {
            cx.progress(format!("disabling CloudFront {id}"));
            let mut disabled = live.clone();
            disabled.enabled = false;
            cx.aws
                .cloudfront
                .update_distribution()
                .id(&id)
                .if_match(cfg.e_tag().unwrap_or_default())
                .distribution_config(disabled)
                .send()
                .await
                .map_err(|e| aws_err("UpdateDistribution", &id, e))?;
        }
        // Disabled but still InProgress (perhaps from a killed run): wait.
        wait_deployed(cx, &id).await?;
        let etag = cx
            .aws
            .cloudfront
            .get_distribution_config()
            .id(&id)
            .send()
            .await
            .map_err(|e| aws_err("GetDistributionConfig", &id, e))?
            .e_tag()
            .unwrap_or_default()
            .to_string();
        let out = super::deleted(
            "DeleteDistribution",
            &id,
            cx.aws
                .cloudfront
                .delete_distribution()
                .id(&id)
                .if_match(etag)
                .send()
                .await,
        )?;
        cx.forget(DISTRIBUTION)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = comment(cx);
        Ok(vec![match find_distribution(cx).await? {
            Some(d) => {
                let cfg = d.distribution_config();
                let enabled = cfg.map(|c| c.enabled()).unwrap_or(false);
                let acl_attached = cfg
                    .and_then(|c| c.web_acl_id())
                    .filter(|a| !a.is_empty())
                    .is_some()
                    && cfg.and_then(|c| c.web_acl_id()).map(str::to_string) == cx.state.id(WEB_ACL);
                let mut i = Inspection::new(
                    "cloudfront:distribution",
                    d.domain_name(),
                    Some(d.id().to_string()),
                    format!("{}{}", d.status(), if enabled { "" } else { ", disabled" }),
                    d.status() == "Deployed" && enabled,
                )
                .detail("domain", d.domain_name())
                .detail("waf_attached", acl_attached.to_string());
                if !acl_attached {
                    i.drift = Some("web ACL not attached".into());
                }
                i
            }
            None => Inspection::missing("cloudfront:distribution", name, cx.state.id(DISTRIBUTION)),
        }])
    }
}
