//! CloudWatch log groups with their retention, encrypted with the stack's own
//! KMS key: shared by the flow log, the container logs, the database's
//! exported logs and the WAF's request logs (in us-east-1, `global`: a
//! CLOUDFRONT-scope web ACL logs to its region).
//!
//! Why a customer-managed key rather than CloudWatch Logs' own encryption:
//! who may read the logs (Apache's access log names users' IPs and URLs) is
//! then also a matter of the key policy, and disabling the key makes them
//! unreadable at once. The key is the region's [`stack_key_arn`]; its policy
//! admits `logs.<region>.amazonaws.com` for this account's log groups only.

use crate::resources::observe::{recorded_key_arn, stack_key_arn};
use crate::resources::prelude::*;
use aws_sdk_cloudwatchlogs::Client;

/// The logs client of the stack's region, or of us-east-1 (`global`).
pub fn client(cx: &StepCx, global: bool) -> &Client {
    if global {
        &cx.aws.logs_global
    } else {
        &cx.aws.logs
    }
}

pub async fn find(logs: &Client, name: &str) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, StepError> {
    let o = logs.describe_log_groups().log_group_name_prefix(name).send().await.ctx("DescribeLogGroups", name)?;
    Ok(o.log_groups().iter().find(|g| g.log_group_name() == Some(name)).cloned())
}

/// The log group `name` (us-east-1 when `global`), with `retention` days and
/// encrypted with the stack's KMS key of its region ([`stack_key_arn`]).
///
/// CloudWatch Logs checks the key when the group is created or the key
/// associated: it must be a key ARN of the group's region whose policy lets
/// `logs.<region>.amazonaws.com` use it (AccessDeniedException otherwise). A
/// key policy just written may not be seen at once, so that refusal is
/// waited out (`transient::LOGS_KMS_KEY`).
pub async fn ensure(cx: &StepCx, global: bool, key: &str, name: &str, retention: i32) -> Result<Outcome, StepError> {
    let logs = client(cx, global);
    let kms = stack_key_arn(cx, global)?;
    let (live, live_kms, out) = match find(logs, name).await? {
        Some(g) => {
            cx.record(key, Resource::new("logs:log-group", name))?;
            (g.retention_in_days(), g.kms_key_id().map(str::to_string), Outcome::Unchanged)
        }
        None if cx.dry_run => return Ok(Outcome::Created),
        None => {
            let tags = Tags::new(cx, key).map();
            let call = logs.create_log_group().log_group_name(name).set_tags(Some(tags)).set_kms_key_id(kms.clone());
            match retry(cx, "CreateLogGroup", name, &transient::LOGS_KMS_KEY, || call.clone().send()).await {
                Ok(_) => {}
                // Created by a run killed before it could record it.
                Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {}
                Err(e) => return Err(e),
            }
            cx.record_new(key, Resource::new("logs:log-group", name))?;
            (None, kms.clone(), Outcome::Created)
        }
    };
    let mut changes = vec![];
    if let Some(want) = kms.as_deref().filter(|k| live_kms.as_deref() != Some(*k)) {
        changes.push(change("kms_key_id", live_kms.as_deref().unwrap_or("none (CloudWatch Logs' own key)"), want));
        if !cx.dry_run {
            let call = logs.associate_kms_key().log_group_name(name).kms_key_id(want);
            retry(cx, "AssociateKmsKey", name, &transient::LOGS_KMS_KEY, || call.clone().send()).await?;
        }
    }
    if live != Some(retention) {
        changes.push(change(
            "retention_in_days",
            live.map(|d| d.to_string()).unwrap_or("never expire".into()),
            retention,
        ));
        if !cx.dry_run {
            let call = logs.put_retention_policy().log_group_name(name).retention_in_days(retention);
            call.send().await.ctx("PutRetentionPolicy", name)?;
        }
    }
    Ok(if out == Outcome::Created { out } else { Outcome::of_changes(changes) })
}

pub async fn destroy(cx: &StepCx, global: bool, key: &str, name: &str) -> Result<Outcome, StepError> {
    let logs = client(cx, global);
    if find(logs, name).await?.is_none() {
        cx.forget(key)?;
        return Ok(Outcome::AlreadyAbsent);
    }
    let out = deleted("DeleteLogGroup", name, logs.delete_log_group().log_group_name(name).send().await)?;
    cx.forget(key)?;
    Ok(out)
}

pub async fn inspect(
    cx: &StepCx,
    global: bool,
    key: &str,
    name: &str,
    retention: i32,
) -> Result<Inspection, StepError> {
    let kms = recorded_key_arn(cx, global);
    Ok(match find(client(cx, global), name).await? {
        Some(g) => {
            let live = g.retention_in_days();
            let mut i = Inspection::new("logs:log-group", name, Some(name.to_string()), "exists", true)
                .detail("retention_days", live.map(|d| d.to_string()).unwrap_or("never".into()))
                .detail("kms_key_id", g.kms_key_id().unwrap_or("none"));
            let mut drift = vec![];
            if live != Some(retention) {
                let shown = live.map_or("never expire".to_string(), |d| format!("{d} day(s)"));
                drift.push(format!("retention {shown} (config: {retention} days)"));
            }
            if kms.is_some() && g.kms_key_id() != kms.as_deref() {
                drift.push("not encrypted with the stack's KMS key".to_string());
            }
            if !drift.is_empty() {
                i.drift = Some(drift.join("; "));
            }
            i
        }
        None => Inspection::missing("logs:log-group", name, cx.state.id(key)),
    })
}

/// A log group of the stack, as the step that owns it.
pub struct LogGroupStep {
    pub key: &'static str,
    pub name: fn(&StepCx) -> String,
    pub retention_days: fn(&StepCx) -> i32,
    /// In us-east-1 rather than the stack's region.
    pub global: bool,
}

#[async_trait]
impl Step<StepCx> for LogGroupStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        ensure(cx, self.global, self.key, &(self.name)(cx), (self.retention_days)(cx)).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy(cx, self.global, self.key, &(self.name)(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let (name, days) = ((self.name)(cx), (self.retention_days)(cx));
        Ok(vec![inspect(cx, self.global, self.key, &name, days).await?])
    }
}
