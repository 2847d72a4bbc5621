//! Audit tier: the CloudTrail trail and the S3 bucket it writes to.
//!
//! The bucket — audit logs outlive the stack — is kept and reported on
//! `down` unless `--delete-audit-logs`. This file holds the tier's keys and
//! names, and the bucket policy both steps rely on.

mod bucket;
mod trail;
pub(crate) use self::{bucket::*, trail::*};
pub use crate::resources::keys::*;
pub use crate::resources::names::*;

use crate::resources::prelude::*;

pub async fn account_id(cx: &StepCx) -> Result<String, StepError> {
    let o = cx.aws.sts.get_caller_identity().send().await.ctx("GetCallerIdentity", "credentials")?;
    Ok(o.account().unwrap_or_default().to_string())
}

/// Bucket names are global: account and region make ours unique.
pub fn bucket_name(cx: &StepCx, account: &str) -> String {
    format!("{}-cloudtrail-{account}-{}", cx.cfg.stack.name, cx.aws.region)
}

pub(crate) fn trail_arn(cx: &StepCx, account: &str) -> String {
    format!("arn:aws:cloudtrail:{}:{account}:trail/{}", cx.aws.region, trail_name(cx))
}

/// Deny plain HTTP; let exactly this account's trail check the ACL and write.
pub fn bucket_policy(bucket: &str, account: &str, trail_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
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

pub(crate) async fn bucket_exists(cx: &StepCx, bucket: &str) -> Result<bool, StepError> {
    match cx.aws.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().map(|s| s.is_not_found()).unwrap_or(false) => Ok(false),
        Err(e) if e.raw_response().map(|r| r.status().as_u16() == 404).unwrap_or(false) => Ok(false),
        Err(e) => Err(aws_err("HeadBucket", bucket, e)),
    }
}
