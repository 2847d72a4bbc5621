//! The multi-region CloudTrail trail, with log file validation and logging
//! started after the trail exists; with the security alarms on, it also
//! delivers to its CloudWatch Logs group (`trail_logs`) as the role made for
//! that, whose propagation is waited out (`propagation::TRAIL_DESTINATIONS`).
//! `UpdateTrail` with empty strings stops that delivery. The log files are
//! encrypted with the audit key (`observe::KeyPurpose::Audit`), whose policy
//! must admit CloudTrail before `CreateTrail`/`UpdateTrail` name it
//! (InsufficientEncryptionPolicyException otherwise): the key step runs first.
//! KMS is eventually consistent, so a key created or re-policied a moment
//! ago may still be refused (not found, or not admitting CloudTrail): the
//! same bounded wait covers it.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_cloudtrail::types::{EventSelector, ReadWriteType};

pub(crate) struct TrailStep;

/// Where the trail should deliver in CloudWatch Logs: (group ARN with the
/// stream wildcard, role ARN), both empty with the security alarms off. The
/// role is `None` only in a dry run before it exists.
async fn cloudwatch_delivery(cx: &StepCx) -> Result<Option<(String, String)>, StepError> {
    if !security_events_on(cx) {
        return Ok(Some((String::new(), String::new())));
    }
    let Some(role) = cx.dependency_attr(TRAIL_LOGS_ROLE, "arn", ids::AUDIT_TRAIL_LOGS_ROLE)? else { return Ok(None) };
    let account = account_id(cx).await?;
    Ok(Some((trail_log_group_arn(cx, &account), role)))
}

pub(crate) async fn find_trail(cx: &StepCx) -> Result<Option<aws_sdk_cloudtrail::types::Trail>, StepError> {
    let name = trail_name(cx);
    let o = cx.aws.cloudtrail.describe_trails().trail_name_list(&name).send().await.ctx("DescribeTrails", &name)?;
    Ok(o.trail_list().iter().find(|t| t.name() == Some(name.as_str())).cloned())
}

/// The trail's CloudWatch Logs delivery as it is: (group ARN, role ARN),
/// empty when it has none.
fn live_delivery(t: &aws_sdk_cloudtrail::types::Trail) -> (String, String) {
    let s = |v: Option<&str>| v.unwrap_or_default().to_string();
    (s(t.cloud_watch_logs_log_group_arn()), s(t.cloud_watch_logs_role_arn()))
}

/// Whether the trail records every read and write management event: a
/// basic selector that includes them for `All`, or an advanced selector of
/// the Management category with no `readOnly` field.
async fn logs_all_management_events(cx: &StepCx) -> Result<bool, StepError> {
    let name = trail_name(cx);
    let o = cx.aws.cloudtrail.get_event_selectors().trail_name(&name).send().await;
    let Some(o) = o.or_absent("GetEventSelectors", &name)? else { return Ok(false) };
    let basic = o
        .event_selectors()
        .iter()
        .any(|s| s.include_management_events() == Some(true) && s.read_write_type() == Some(&ReadWriteType::All));
    let advanced = o.advanced_event_selectors().iter().any(|s| {
        let fields = s.field_selectors();
        let management =
            fields.iter().any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"));
        management && !fields.iter().any(|f| f.field() == "readOnly")
    });
    Ok(basic || advanced)
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
        let delivery = cloudwatch_delivery(cx).await?;
        let key = crate::resources::observe::audit_key_arn(cx)?;
        let out = match find_trail(cx).await? {
            Some(t) => {
                cx.record(TRAIL, Resource::new("cloudtrail:trail", t.trail_arn().unwrap_or_default()))?;
                let bucket = cx.state.id(BUCKET).unwrap_or_default();
                let mut changes = vec![];
                let ok = t.is_multi_region_trail() == Some(true)
                    && t.include_global_service_events() == Some(true)
                    && t.log_file_validation_enabled() == Some(true)
                    && t.s3_bucket_name() == Some(bucket.as_str());
                if !ok {
                    changes.push("trail settings (multi-region, global events, log validation, bucket)".to_string());
                }
                if key.is_none() || t.kms_key_id() != key.as_deref() {
                    changes.push(change("log file encryption", t.kms_key_id().unwrap_or("SSE-S3"), "the audit key"));
                }
                let live = live_delivery(&t);
                match &delivery {
                    Some(want) if *want != live => changes.push(change(
                        "cloudwatch_logs",
                        if live.0.is_empty() { "none" } else { live.0.as_str() },
                        if want.0.is_empty() { "none" } else { want.0.as_str() },
                    )),
                    // A dry run before the role exists: it will be set.
                    None if live.0.is_empty() => changes.push("cloudwatch_logs: none → the trail's log group".into()),
                    _ => {}
                }
                if !changes.is_empty() && !cx.dry_run {
                    let (group, role) = delivery.clone().unwrap_or_default();
                    let call = cx.aws.cloudtrail.update_trail().name(&name).s3_bucket_name(&bucket);
                    let call = call.is_multi_region_trail(true).include_global_service_events(true);
                    let call = call.enable_log_file_validation(true).set_kms_key_id(key.clone());
                    let call = call.cloud_watch_logs_log_group_arn(group).cloud_watch_logs_role_arn(role);
                    retry(cx, "UpdateTrail", &name, &transient::TRAIL_DESTINATIONS, || call.clone().send()).await?;
                }
                Outcome::of_changes(changes)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = Tags::new(cx, TRAIL).render();
                let call = cx.aws.cloudtrail.create_trail().name(&name);
                let call = call.s3_bucket_name(cx.require(BUCKET, ids::AUDIT_BUCKET)?).is_multi_region_trail(true);
                let call = call.include_global_service_events(true).enable_log_file_validation(true);
                let mut call = call.set_kms_key_id(key).set_tags_list(Some(tags));
                if let Some((group, role)) = delivery.filter(|(g, _)| !g.is_empty()) {
                    call = call.cloud_watch_logs_log_group_arn(group).cloud_watch_logs_role_arn(role);
                }
                let o = retry(cx, "CreateTrail", &name, &transient::TRAIL_DESTINATIONS, || call.clone().send()).await?;
                cx.record_new(TRAIL, Resource::new("cloudtrail:trail", o.trail_arn().unwrap_or_default()))?;
                Outcome::Created
            }
        };
        let mut changes = vec![];
        // A new trail logs every management event; one changed since (an
        // event selector that leaves them out, or only reads or writes)
        // would blind the audit record and the security alarms.
        if out != Outcome::Created && !logs_all_management_events(cx).await? {
            changes.push("event selectors: every read and write management event".to_string());
            if !cx.dry_run {
                let all = EventSelector::builder().read_write_type(ReadWriteType::All).include_management_events(true);
                let call = cx.aws.cloudtrail.put_event_selectors().trail_name(&name).event_selectors(all.build());
                call.send().await.ctx("PutEventSelectors", &name)?;
            }
        }
        if !is_logging(cx).await? {
            if !cx.dry_run {
                cx.aws.cloudtrail.start_logging().name(&name).send().await.ctx("StartLogging", &name)?;
            }
            changes.push("logging: off → on".into());
        }
        Ok(match out {
            Outcome::Unchanged => Outcome::of_changes(changes),
            Outcome::Updated(mut c) => {
                c.extend(changes);
                Outcome::Updated(c)
            }
            other => other,
        })
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
            Some(t) => Some((t, is_logging(cx).await?, logs_all_management_events(cx).await?)),
            None => None,
        };
        cx.inspect_one(TRAIL, "cloudtrail:trail", &trail_name(cx), found, |i, (t, logging, management)| {
            let mut i = i
                .status(t.trail_arn(), if logging { "logging" } else { "not logging" }, logging)
                .detail("multi_region", t.is_multi_region_trail().unwrap_or(false).to_string());
            let group = live_delivery(&t).0;
            i = i.detail("cloudwatch_logs", if group.is_empty() { "none" } else { group.as_str() });
            let mut drift = vec![];
            if !logging {
                drift.push("logging stopped".to_string());
            }
            if !management {
                drift.push("not every management event recorded (event selectors)".to_string());
            }
            if t.kms_key_id().is_none() || t.kms_key_id() != cx.recorded_attr(AUDIT_KEY, "arn").as_deref() {
                drift.push("log files not encrypted with the audit key".to_string());
            }
            if security_events_on(cx) == group.is_empty() {
                drift.push(format!("CloudWatch Logs delivery {}", if group.is_empty() { "off" } else { "on" }));
            }
            if !drift.is_empty() {
                i.drift = Some(drift.join("; "));
            }
            i
        })
    }
}
