//! The multi-region CloudTrail trail, with log file validation and logging
//! started after the trail exists.

use super::*;
use crate::resources::prelude::*;

pub(crate) struct TrailStep;

pub(crate) async fn find_trail(cx: &StepCx) -> Result<Option<aws_sdk_cloudtrail::types::Trail>, StepError> {
    let name = trail_name(cx);
    let o = cx.aws.cloudtrail.describe_trails().trail_name_list(&name).send().await.ctx("DescribeTrails", &name)?;
    Ok(o.trail_list().iter().find(|t| t.name() == Some(name.as_str())).cloned())
}

pub(crate) async fn is_logging(cx: &StepCx) -> Result<bool, StepError> {
    let name = trail_name(cx);
    let status = cx.aws.cloudtrail.get_trail_status().name(&name).send().await.or_absent("GetTrailStatus", &name)?;
    Ok(status.and_then(|s| s.is_logging()).unwrap_or(false))
}

#[async_trait]
impl Step<StepCx> for TrailStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = trail_name(cx);
        let out = match find_trail(cx).await? {
            Some(t) => {
                cx.record(TRAIL, Resource::new("cloudtrail:trail", t.trail_arn().unwrap_or_default()))?;
                let bucket = cx.state.id(BUCKET).unwrap_or_default();
                let ok = t.is_multi_region_trail() == Some(true)
                    && t.include_global_service_events() == Some(true)
                    && t.log_file_validation_enabled() == Some(true)
                    && t.s3_bucket_name() == Some(bucket.as_str());
                if ok {
                    Outcome::Unchanged
                } else {
                    if !cx.dry_run {
                        let call = cx.aws.cloudtrail.update_trail().name(&name).s3_bucket_name(&bucket);
                        let call = call.is_multi_region_trail(true).include_global_service_events(true);
                        let call = call.enable_log_file_validation(true);
                        call.send().await.ctx("UpdateTrail", &name)?;
                    }
                    Outcome::Updated(
                        vec!["trail settings (multi-region, global events, log validation, bucket)".into()],
                    )
                }
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = Tags::new(cx, TRAIL).render();
                let call = cx.aws.cloudtrail.create_trail().name(&name);
                let call = call.s3_bucket_name(cx.require(BUCKET, ids::AUDIT_BUCKET)?).is_multi_region_trail(true);
                let call = call.include_global_service_events(true).enable_log_file_validation(true);
                let call = call.set_tags_list(Some(tags));
                let o = call.send().await.ctx("CreateTrail", &name)?;
                cx.record_new(TRAIL, Resource::new("cloudtrail:trail", o.trail_arn().unwrap_or_default()))?;
                Outcome::Created
            }
        };
        if !is_logging(cx).await? {
            if !cx.dry_run {
                cx.aws.cloudtrail.start_logging().name(&name).send().await.ctx("StartLogging", &name)?;
            }
            if out == Outcome::Unchanged {
                return Ok(Outcome::Updated(vec!["logging: off → on".into()]));
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = trail_name(cx);
        cx.remove(TRAIL, find_trail(cx).await?, |_| async {
            // Stop deliveries first, so the bucket (emptied next, with
            // --delete-logs) receives as few late files as possible.
            if is_logging(cx).await? {
                cx.aws.cloudtrail.stop_logging().name(&name).send().await.ctx("StopLogging", &name)?;
            }
            deleted("DeleteTrail", &name, cx.aws.cloudtrail.delete_trail().name(&name).send().await)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let found = match find_trail(cx).await? {
            Some(t) => Some((t, is_logging(cx).await?)),
            None => None,
        };
        cx.inspect_one(TRAIL, "cloudtrail:trail", &trail_name(cx), found, |i, (t, logging)| {
            let mut i = i
                .status(t.trail_arn(), if logging { "logging" } else { "not logging" }, logging)
                .detail("multi_region", t.is_multi_region_trail().unwrap_or(false).to_string());
            if !logging {
                i.drift = Some("logging stopped".into());
            }
            i
        })
    }
}
