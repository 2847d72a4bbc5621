//! Audit tier: what the stack writes down about itself — the CloudTrail
//! trail and its bucket, the trail's CloudWatch Logs copy with the security
//! metric filters on it, and the bucket of the load balancer's and
//! CloudFront's access logs.
//!
//! Both buckets are kept and reported on `down` unless `--delete-logs`: logs
//! outlive the stack. This file holds the tier's names and bucket policies;
//! the buckets themselves are `shared::bucket::LogBucket`s.

mod buckets;
mod trail;
mod trail_logs;
pub use self::trail_logs::{security_events, security_events_on, SecurityEvent, SECURITY_NAMESPACE};
pub(crate) use self::{buckets::*, trail::*, trail_logs::*};
pub use crate::resources::keys::*;
pub use crate::resources::names::*;
pub use crate::resources::shared::bucket::account_id;

use crate::resources::prelude::*;
use crate::resources::shared::bucket::deny_insecure_transport;

/// Bucket names are global: account and region make ours unique.
pub fn bucket_name(cx: &StepCx, account: &str) -> String {
    format!("{}-cloudtrail-{account}-{}", cx.cfg.stack.name, cx.aws.region)
}

/// The access-logs bucket (ALB under `alb/`, CloudFront under `cloudfront/`).
pub fn logs_bucket_name(cx: &StepCx, account: &str) -> String {
    format!("{}-logs-{account}-{}", cx.cfg.stack.name, cx.aws.region)
}

pub(crate) fn trail_arn(cx: &StepCx, account: &str) -> String {
    format!("arn:aws:cloudtrail:{}:{account}:trail/{}", cx.aws.region, trail_name(cx))
}

/// Deny plain HTTP; let exactly this account's trail check the ACL and write.
pub fn bucket_policy(bucket: &str, account: &str, trail_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            deny_insecure_transport(bucket),
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": format!("arn:aws:s3:::{bucket}"),
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/{account}/*"),
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}}
            }
        ]
    })
}

/// Where the load balancer writes its access logs inside the logs bucket.
pub const ALB_LOG_PREFIX: &str = "alb";
/// Where CloudFront writes its standard logs inside the logs bucket.
pub const CLOUDFRONT_LOG_PREFIX: &str = "cloudfront/";
/// Where S3 writes the audit bucket's server access logs inside the logs bucket.
pub const S3_ACCESS_LOG_PREFIX: &str = "s3-access/cloudtrail/";

/// Elastic Load Balancing's log-writing account in the regions that opened
/// before August 2022 (AWS's "Enable access logs" page). Regions opened
/// since accept only the `logdelivery.elasticloadbalancing.amazonaws.com`
/// service principal — and these older ones only the account.
const ELB_ACCOUNTS: &[(&str, &str)] = &[
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-southeast-3", "589379963580"),
    ("ap-south-1", "718504428378"),
    ("ap-northeast-3", "383597477331"),
    ("ap-northeast-2", "600734575887"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-northeast-1", "582318560864"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-south-1", "635631232127"),
    ("eu-west-3", "009996457667"),
    ("eu-north-1", "897822967062"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
];

/// Who delivers the load balancer's access logs in `region`.
pub fn elb_log_principal(region: &str) -> serde_json::Value {
    match ELB_ACCOUNTS.iter().find(|(r, _)| *r == region) {
        Some((_, account)) => serde_json::json!({"AWS": format!("arn:aws:iam::{account}:root")}),
        None => serde_json::json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    }
}

/// Regions whose S3 buckets CloudFront does not deliver standard logs to
/// (CloudFront developer guide, "Choose an Amazon S3 bucket for standard logs").
const NO_CLOUDFRONT_LOGS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
];

/// Whether CloudFront can write its standard logs to a bucket in `region`.
pub fn cloudfront_logs_supported(region: &str) -> bool {
    !NO_CLOUDFRONT_LOGS.contains(&region)
}

/// Deny plain HTTP; let the region's load balancer log delivery write under
/// `alb/AWSLogs/<account>/`, and S3's log delivery write the audit bucket's
/// server access logs under `s3-access/cloudtrail/` (for that bucket of this
/// account only, the conditions AWS documents). CloudFront writes by the ACL
/// grant it adds to the bucket itself (standard logs predate bucket policies
/// for it).
pub fn logs_bucket_policy(bucket: &str, account: &str, region: &str, audit_bucket: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            deny_insecure_transport(bucket),
            {
                "Sid": "LoadBalancerAccessLogs",
                "Effect": "Allow",
                "Principal": elb_log_principal(region),
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/{ALB_LOG_PREFIX}/AWSLogs/{account}/*")
            },
            {
                "Sid": "AuditBucketServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/{S3_ACCESS_LOG_PREFIX}*"),
                "Condition": {
                    "ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{audit_bucket}")},
                    "StringEquals": {"aws:SourceAccount": account}
                }
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_elb_log_principal_is_the_account_in_old_regions_and_the_service_in_new_ones() {
        assert_eq!(elb_log_principal("ap-southeast-1")["AWS"], "arn:aws:iam::114774131450:root");
        assert_eq!(elb_log_principal("eu-central-2")["Service"], "logdelivery.elasticloadbalancing.amazonaws.com");
    }
}
