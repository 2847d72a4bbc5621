//! The tier's two buckets as steps: the CloudTrail audit bucket
//! (bucket-owner-enforced: only CloudTrail writes, by policy) and the
//! access-logs bucket (ACLs enabled, bucket owner preferred: CloudFront's
//! standard logs are delivered by an ACL grant CloudFront adds itself; the
//! load balancer writes by policy).
//!
//! The audit bucket's default encryption is SSE-KMS with the audit key (the
//! trail encrypts its log files with it too); the access-logs bucket stays
//! SSE-S3, the only encryption ALB and CloudFront log delivery accept.
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
use crate::resources::shared::bucket::{LogBucket, Sse};
use aws_sdk_s3::types::ObjectOwnership;

/// The audit bucket. Only `ensure` needs its key (a dependency: it fails
/// without one); `destroy` and `inspect` must work when the key is gone from
/// the state — a `down` killed after the key step forgot the kept key.
async fn audit_bucket(cx: &StepCx, ensuring: bool) -> Result<LogBucket, StepError> {
    let key = match ensuring {
        true => crate::resources::observe::audit_key_arn(cx)?,
        false => cx.recorded_attr(AUDIT_KEY, "arn"),
    };
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
        encryption: Sse::Kms(key),
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
        encryption: Sse::S3,
    })
}

pub(crate) struct BucketStep;

#[async_trait]
impl Step<StepCx> for BucketStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        audit_bucket(cx, true).await?.ensure(cx).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        audit_bucket(cx, false).await?.destroy(cx).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        audit_bucket(cx, false).await?.inspect(cx).await
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
