//! The tier's two buckets as steps: the CloudTrail audit bucket
//! (bucket-owner-enforced: only CloudTrail writes, by policy) and the
//! access-logs bucket (ACLs enabled, bucket owner preferred: CloudFront's
//! standard logs are delivered by an ACL grant CloudFront adds itself; the
//! load balancer writes by policy).

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
    })
}

async fn logs_bucket(cx: &StepCx) -> Result<LogBucket, StepError> {
    let account = account_id(cx).await?;
    let name = logs_bucket_name(cx, &account);
    Ok(LogBucket {
        key: LOGS_BUCKET,
        policy: logs_bucket_policy(&name, &account, &cx.aws.region),
        name,
        ownership: ObjectOwnership::BucketOwnerPreferred,
        days: cx.cfg.logs.access_log_retention_days,
        what: ("access-logs bucket", "the load balancer's and CloudFront's logs"),
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
