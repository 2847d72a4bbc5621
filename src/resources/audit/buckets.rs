//! The tier's two buckets as steps: the CloudTrail audit bucket
//! (bucket-owner-enforced: only CloudTrail writes, by policy) and the
//! access-logs bucket (ACLs enabled, bucket owner preferred: CloudFront's
//! standard logs are delivered by an ACL grant CloudFront adds itself; the
//! load balancer writes by policy).
//!
//! Both buckets' default encryption is SSE-S3: the only one ALB and
//! CloudFront log delivery accept, and for the audit bucket only a fallback —
//! CloudTrail encrypts each log and digest file itself, with the audit key
//! (`trail`). A default of SSE-KMS with that key would refuse any write that
//! relies on the default: the key admits CloudTrail only under its own
//! encryption context, and with an S3 Bucket Key the context becomes the
//! bucket's (CloudTrail user guide, "Configure AWS KMS key policies for
//! CloudTrail").
//!
//! Who reads or deletes the audit trail is itself logged: the audit bucket's
//! S3 server access logs go to the access-logs bucket (under
//! [`S3_ACCESS_LOG_PREFIX`]), whose policy lets S3's log delivery write
//! there for the audit bucket only — so the logs bucket is ensured first.
//! The access-logs bucket logs nowhere: logging it into the audit bucket
//! would make each bucket's log deliveries a log record in the other, an
//! endless trickle, and into itself is the loop AWS advises against.

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::bucket::LogBucket;
use aws_sdk_s3::types::ObjectOwnership;

async fn audit_bucket(cx: &StepCx) -> Result<LogBucket, StepError> {
    let account = account_id(cx).await?;
    let name = bucket_name(cx, &account);
    Ok(LogBucket {
        key: BUCKET,
        policy: bucket_policy(&name, &account, &trail_arn(cx, &account)),
        name,
        ownership: ObjectOwnership::BucketOwnerEnforced,
        days: cx.cfg.logs.audit_retention_days,
        what: ("CloudTrail bucket", "the audit logs"),
        access_logs: Some((logs_bucket_name(cx, &account), S3_ACCESS_LOG_PREFIX.to_string())),
    })
}

async fn logs_bucket(cx: &StepCx) -> Result<LogBucket, StepError> {
    let account = account_id(cx).await?;
    let name = logs_bucket_name(cx, &account);
    Ok(LogBucket {
        key: LOGS_BUCKET,
        policy: logs_bucket_policy(&name, &account, &cx.aws.region, &bucket_name(cx, &account)),
        name,
        ownership: ObjectOwnership::BucketOwnerPreferred,
        days: cx.cfg.logs.access_log_retention_days,
        what: ("access-logs bucket", "the load balancer's and CloudFront's logs"),
        access_logs: None,
    })
}

pub(crate) struct BucketStep;

#[async_trait]
impl Step<StepCx> for BucketStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        audit_bucket(cx).await?.ensure(cx).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        audit_bucket(cx).await?.destroy(cx).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        audit_bucket(cx).await?.inspect(cx).await
    }
}

pub(crate) struct LogsBucketStep;

#[async_trait]
impl Step<StepCx> for LogsBucketStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        logs_bucket(cx).await?.ensure(cx).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        logs_bucket(cx).await?.destroy(cx).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        logs_bucket(cx).await?.inspect(cx).await
    }
}
