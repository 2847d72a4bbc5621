//! The CloudFront distribution in front of the ALB.
//!
//! It needs the ALB's DNS name, the web ACL's ARN and the origin-verify
//! secret. Teardown: a distribution can only be deleted once it is disabled
//! *and* Deployed, with the ETag of its latest config; each of disable → wait
//! → delete is resumable because every step re-reads the live state first.
//! CloudFront checks the standard-logs bucket on every update, the disable
//! included: when that bucket was deleted by hand, the disable goes without
//! standard logs rather than fail.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_cloudfront::types as cf;

// ---------------------------------------------------------------- CloudFront

pub(crate) fn methods(m: &[&str]) -> Vec<cf::Method> {
    m.iter().map(|s| cf::Method::from(*s)).collect()
}

/// The distribution config we want; `caller_reference` is kept from the live
/// config on updates (it cannot change).
pub(crate) fn desired_config(
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
        .aliases(cf::Aliases::builder().quantity(1).items(&c.domain.name).build().expect("aliases"))
        .origins(cf::Origins::builder().quantity(1).items(origin).build().expect("origins"))
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
        .logging(standard_logs(cx))
        .http_version(cf::HttpVersion::from("http2and3"))
        .is_ipv6_enabled(true)
        .build()
        .expect("distribution fields")
}

/// CloudFront's standard logs, to the stack's logs bucket under
/// `cloudfront/` (cookies left out: they carry Moodle's session). CloudFront
/// grants itself write access by ACL when the setting is applied, which is
/// why that bucket keeps ACLs enabled. Off where CloudFront does not deliver
/// to buckets of the region, or before the bucket exists (a plan).
fn standard_logs(cx: &StepCx) -> cf::LoggingConfig {
    let bucket =
        cx.state.id(LOGS_BUCKET).filter(|_| crate::resources::audit::cloudfront_logs_supported(&cx.aws.region));
    let l = cf::LoggingConfig::builder().include_cookies(false);
    match bucket {
        Some(b) => l
            .enabled(true)
            .bucket(format!("{b}.s3.amazonaws.com"))
            .prefix(crate::resources::audit::CLOUDFRONT_LOG_PREFIX),
        None => l.enabled(false).bucket("").prefix(""),
    }
    .build()
}

/// CloudFront's refusal of a standard-logs bucket that is missing or has
/// ACLs off (InvalidArgument "The S3 bucket that you specified for
/// CloudFront logs …").
fn logs_bucket_refused<E, R>(e: &aws_sdk_cloudfront::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_cloudfront::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let (code, message) = crate::aws::errors::error_code_message(e);
    code == "InvalidArgument" && message.contains("for CloudFront logs")
}

fn logs_to(c: &cf::DistributionConfig) -> String {
    match c.logging() {
        Some(l) if l.enabled() => format!("s3://{}/{}", l.bucket().trim_end_matches(".s3.amazonaws.com"), l.prefix()),
        _ => "off".into(),
    }
}

/// Differences that matter between the live and the desired config (no secret values).
pub(crate) fn config_diff(live: &cf::DistributionConfig, want: &cf::DistributionConfig) -> Vec<String> {
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
    if lc.as_ref().and_then(|c| c.origin_read_timeout()) != wc.as_ref().and_then(|c| c.origin_read_timeout()) {
        d.push(change(
            "origin_timeout_seconds",
            lc.as_ref().and_then(|c| c.origin_read_timeout()).unwrap_or(0),
            wc.as_ref().and_then(|c| c.origin_read_timeout()).unwrap_or(0),
        ));
    }
    if lc.as_ref().map(|c| c.origin_protocol_policy().as_str().to_string())
        != wc.as_ref().map(|c| c.origin_protocol_policy().as_str().to_string())
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
        d.push(change("web_acl", live.web_acl_id().unwrap_or("none"), want.web_acl_id().unwrap_or("none")));
    }
    if logs_to(live) != logs_to(want) {
        d.push(change("standard_logs", logs_to(live), logs_to(want)));
    }
    let alias = |c: &cf::DistributionConfig| c.aliases().map(|a| a.items().to_vec()).unwrap_or_default();
    if alias(live) != alias(want) {
        d.push(change("aliases", alias(live).join(","), alias(want).join(",")));
    }
    let cert =
        |c: &cf::DistributionConfig| c.viewer_certificate().and_then(|v| v.acm_certificate_arn().map(str::to_string));
    if cert(live) != cert(want) {
        d.push(change("certificate", cert(live).unwrap_or_default(), cert(want).unwrap_or_default()));
    }
    let tls = |c: &cf::DistributionConfig| {
        c.viewer_certificate().and_then(|v| v.minimum_protocol_version().map(|m| m.as_str().to_string()))
    };
    if tls(live) != tls(want) {
        d.push(change("minimum_protocol_version", tls(live).unwrap_or_default(), tls(want).unwrap_or_default()));
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
    if live.http_version().map(|h| h.as_str().to_string()) != want.http_version().map(|h| h.as_str().to_string()) {
        d.push(change("http_version", live.http_version().map(|h| h.as_str()).unwrap_or("?"), "http2and3"));
    }
    if live.enabled() != want.enabled() {
        d.push(change("enabled", live.enabled(), want.enabled()));
    }
    d
}

pub(crate) async fn find_distribution(cx: &StepCx) -> Result<Option<cf::Distribution>, StepError> {
    if let Some(id) = cx.state.id(DISTRIBUTION) {
        if let Some(o) = cx.aws.cloudfront.get_distribution().id(&id).send().await.or_absent("GetDistribution", &id)? {
            return Ok(o.distribution().cloned());
        }
    }
    let want = comment(cx);
    let mut marker = None;
    loop {
        let call = cx.aws.cloudfront.list_distributions().set_marker(marker);
        let o = call.send().await.ctx("ListDistributions", "distributions")?;
        let Some(list) = o.distribution_list() else {
            return Ok(None);
        };
        if let Some(s) = list.items().iter().find(|s| s.comment() == want) {
            let id = s.id().to_string();
            let o = cx.aws.cloudfront.get_distribution().id(&id).send().await.or_absent("GetDistribution", &id)?;
            return Ok(o.and_then(|o| o.distribution().cloned()));
        }
        match list.next_marker().filter(|_| list.is_truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
}

/// The distribution's live config and the ETag an update or delete must name.
async fn distribution_config(cx: &StepCx, id: &str) -> Result<(cf::DistributionConfig, String), StepError> {
    let o = cx.aws.cloudfront.get_distribution_config().id(id).send().await.ctx("GetDistributionConfig", id)?;
    let live = o.distribution_config().cloned();
    let live = live.ok_or_else(|| StepError::Refused(format!("distribution {id} has no config")))?;
    Ok((live, o.e_tag().unwrap_or_default().to_string()))
}

pub(crate) async fn wait_deployed(cx: &StepCx, id: &str) -> Result<(), StepError> {
    wait_for(cx, &format!("CloudFront {id}"), cx.wait_timeout, || async {
        let o = cx.aws.cloudfront.get_distribution().id(id).send().await.or_absent("GetDistribution", id)?;
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

pub(crate) struct DistributionStep;

#[async_trait]
impl Step<StepCx> for DistributionStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let alb_dns = cx.state.get(ALB).and_then(|r| r.attrs.get("dns").cloned());
        let acl = cx.state.id(WEB_ACL);
        let secret = if cx.state.id(ORIGIN_SECRET).is_some() { origin_value(cx).await? } else { None };
        let found = find_distribution(cx).await?;
        let (id, out) = match found {
            Some(d) => {
                let id = d.id().to_string();
                cx.record(
                    DISTRIBUTION,
                    Resource::new("cloudfront:distribution", &id).with("domain", d.domain_name()).with("arn", d.arn()),
                )?;
                let (Some(alb_dns), Some(acl), Some(secret)) = (alb_dns, acl, secret) else {
                    return if cx.dry_run {
                        Ok(Outcome::Updated(vec!["origin / web ACL (dependencies pending)".into()]))
                    } else {
                        Err(StepError::MissingDependency {
                            step: ids::EDGE_ALB,
                            what: "ALB DNS, web ACL, origin secret".into(),
                        })
                    };
                };
                let (live, etag) = distribution_config(cx, &id).await?;
                let want = desired_config(cx, live.caller_reference(), &alb_dns, &acl, &secret, true);
                let diff = config_diff(&live, &want);
                if diff.is_empty() {
                    (id, Outcome::Unchanged)
                } else {
                    if !cx.dry_run {
                        let call = cx.aws.cloudfront.update_distribution().id(&id);
                        let call = call.if_match(etag).distribution_config(want);
                        call.send().await.ctx("UpdateDistribution", &id)?;
                    }
                    (id, Outcome::Updated(diff))
                }
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let alb_dns = alb_dns.ok_or(StepError::MissingDependency { step: ids::EDGE_ALB, what: ALB.into() })?;
                let acl = acl.ok_or(StepError::MissingDependency { step: ids::EDGE_WAF, what: WEB_ACL.into() })?;
                let secret = secret.ok_or(StepError::MissingDependency {
                    step: ids::EDGE_ORIGIN_SECRET,
                    what: ORIGIN_SECRET.into(),
                })?;
                // CallerReference makes a retried create return the same distribution.
                let config = desired_config(cx, &cx.token(DISTRIBUTION)?, &alb_dns, &acl, &secret, true);
                let tags = cf::Tags::builder().set_items(Some(Tags::new(cx, DISTRIBUTION).render())).build();
                let o = cx
                    .aws
                    .cloudfront
                    .create_distribution_with_tags()
                    .distribution_config_with_tags(
                        cf::DistributionConfigWithTags::builder().distribution_config(config).tags(tags).build(),
                    )
                    .send()
                    .await
                    .ctx("CreateDistributionWithTags", comment(cx))?;
                let d = o
                    .distribution()
                    .ok_or_else(|| StepError::Refused("CreateDistribution returned no distribution".into()))?;
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
        cx.remove(DISTRIBUTION, find_distribution(cx).await?, |d| async move {
            let id = d.id();
            let (live, etag) = distribution_config(cx, id).await?;
            if live.enabled() {
                cx.progress(format!("disabling CloudFront {id}"));
                let mut disabled = live.clone();
                disabled.enabled = false;
                let call = cx.aws.cloudfront.update_distribution().id(id).if_match(&etag);
                match call.distribution_config(disabled.clone()).send().await {
                    // CloudFront checks the standard-logs bucket on every
                    // update: one deleted by hand (or with its ACLs turned
                    // off) makes even the disable fail. A distribution on
                    // its way out needs no logs: disable it without them.
                    Err(e) if logs_bucket_refused(&e) => {
                        cx.progress(format!("{id}: its logs bucket is gone; disabling without standard logs"));
                        disabled.logging =
                            Some(cf::LoggingConfig::builder().enabled(false).bucket("").prefix("").build());
                        let call = cx.aws.cloudfront.update_distribution().id(id).if_match(etag);
                        call.distribution_config(disabled).send().await.ctx("UpdateDistribution", id)?;
                    }
                    r => {
                        r.ctx("UpdateDistribution", id)?;
                    }
                }
            }
            // Disabled but still InProgress (perhaps from a killed run): wait.
            wait_deployed(cx, id).await?;
            let (_, etag) = distribution_config(cx, id).await?;
            deleted(
                "DeleteDistribution",
                id,
                cx.aws.cloudfront.delete_distribution().id(id).if_match(etag).send().await,
            )
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(DISTRIBUTION, "cloudfront:distribution", &comment(cx), find_distribution(cx).await?, |i, d| {
            let cfg = d.distribution_config();
            let enabled = cfg.map(|c| c.enabled()).unwrap_or(false);
            let acl = cfg.and_then(|c| c.web_acl_id()).filter(|a| !a.is_empty()).map(str::to_string);
            let acl_attached = acl.is_some() && acl == cx.state.id(WEB_ACL);
            let state = format!("{}{}", d.status(), if enabled { "" } else { ", disabled" });
            let mut i = i
                .status(Some(d.id()), state, d.status() == "Deployed" && enabled)
                .detail("domain", d.domain_name())
                .detail("waf_attached", acl_attached.to_string());
            i.name = d.domain_name().to_string();
            if !acl_attached {
                i.drift = Some("web ACL not attached".into());
            }
            i
        })
    }
}
