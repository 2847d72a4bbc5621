//! Edge tier: the internet-facing ALB (its security group, target group and
//! listeners), the WAFv2 web ACL and the CloudFront distribution in front.
//!
//! The ALB is reachable only through CloudFront (unless `cdn.restrict_alb =
//! false`): its security group admits 443 only from the managed prefix list
//! `com.amazonaws.global.cloudfront.origin-facing` (looked up, never
//! hard-coded), and the 443 listener answers 403 unless the request carries
//! the secret `X-Origin-Verify` header that only our distribution adds. This
//! file holds the tier's shared keys, names and constants.

mod alb;
mod cloudfront;
mod listeners;
mod target_group;
mod waf_logging;
mod web_acl;
pub(crate) use self::{alb::*, cloudfront::*, listeners::*, target_group::*, waf_logging::*, web_acl::*};
pub use crate::resources::keys::*;
pub use crate::resources::names::*;

use crate::resources::prelude::*;

pub const ORIGIN_HEADER: &str = "X-Origin-Verify";
pub const CLOUDFRONT_PREFIX_LIST: &str = "com.amazonaws.global.cloudfront.origin-facing";
pub const CONTAINER_PORT: i32 = 8080;
/// The image's health endpoint (`image/moodlectl/health.php`). Not a Moodle
/// page: the ALB sends the task's IP as Host, and Moodle answers any foreign
/// Host with a 303 before touching its database, sessions or cache, so `/`
/// with 200/303 passed a site whose every page was a 500.
pub const HEALTH_PATH: &str = "/moodlectl-health";
/// Only 200 is healthy: the endpoint answers 503 naming the failing part.
pub const HEALTH_CODES: &str = "200";

/// The CloudFront origin-facing prefix list's ID in this region.
pub async fn cloudfront_prefix_list(cx: &StepCx) -> Result<String, StepError> {
    let o = cx
        .aws
        .ec2
        .describe_managed_prefix_lists()
        .filters(aws_sdk_ec2::types::Filter::builder().name("prefix-list-name").values(CLOUDFRONT_PREFIX_LIST).build())
        .send()
        .await
        .ctx("DescribeManagedPrefixLists", CLOUDFRONT_PREFIX_LIST)?;
    o.prefix_lists()
        .iter()
        .find(|p| p.prefix_list_name() == Some(CLOUDFRONT_PREFIX_LIST))
        .and_then(|p| p.prefix_list_id())
        .map(str::to_string)
        .ok_or_else(|| StepError::Refused(format!("managed prefix list {CLOUDFRONT_PREFIX_LIST} not found in {}\nhint: set cdn.restrict_alb = false to open the ALB to the internet instead", cx.aws.region)))
}

pub(crate) async fn alb_ingress(cx: &StepCx) -> Result<Vec<Ingress>, StepError> {
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

/// AWS managed cache policy "Managed-CachingDisabled" (documented fixed ID;
/// the emulator does not implement ListCachePolicies).
pub const CACHE_POLICY_CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS managed origin request policy "Managed-AllViewer" (documented fixed ID).
pub const ORIGIN_REQUEST_POLICY_ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
pub const IP_REPUTATION: &str = "AWSManagedRulesAmazonIpReputationList";
pub(crate) const ORIGIN_ID: &str = "alb";

pub(crate) fn comment(cx: &StepCx) -> String {
    format!("moodlectl stack {}", cx.cfg.stack.name)
}
