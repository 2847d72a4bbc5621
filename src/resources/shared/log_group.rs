//! CloudWatch log groups with their retention: shared by the flow log, the
//! container logs, the database's exported logs and the WAF's request logs
//! (in us-east-1, `global`: a CLOUDFRONT-scope web ACL logs to its region).

use crate::resources::prelude::*;
use aws_sdk_cloudwatchlogs::Client;

pub async fn find(logs: &Client, name: &str) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, StepError> {
    let o = logs.describe_log_groups().log_group_name_prefix(name).send().await.ctx("DescribeLogGroups", name)?;
    Ok(o.log_groups().iter().find(|g| g.log_group_name() == Some(name)).cloned())
}

pub async fn ensure(cx: &StepCx, logs: &Client, key: &str, name: &str, retention: i32) -> Result<Outcome, StepError> {
    let (live, out) = match find(logs, name).await? {
        Some(g) => {
            cx.record(key, Resource::new("logs:log-group", name))?;
            (g.retention_in_days(), Outcome::Unchanged)
        }
        None if cx.dry_run => return Ok(Outcome::Created),
        None => {
            let tags = Tags::new(cx, key).map();
            match logs.create_log_group().log_group_name(name).set_tags(Some(tags)).send().await {
                Ok(_) => {}
                // Created by a run killed before it could record it.
                Err(e) if e.as_service_error().map(|s| s.is_resource_already_exists_exception()).unwrap_or(false) => {}
                Err(e) => return Err(aws_err("CreateLogGroup", name, e)),
            }
            cx.record_new(key, Resource::new("logs:log-group", name))?;
            (None, Outcome::Created)
        }
    };
    if live == Some(retention) {
        return Ok(out);
    }
    if !cx.dry_run {
        let call = logs.put_retention_policy().log_group_name(name).retention_in_days(retention);
        call.send().await.ctx("PutRetentionPolicy", name)?;
    }
    Ok(if out == Outcome::Created {
        out
    } else {
        Outcome::Updated(vec![change(
            "retention_in_days",
            live.map(|d| d.to_string()).unwrap_or("never expire".into()),
            retention,
        )])
    })
}

pub async fn destroy(cx: &StepCx, logs: &Client, key: &str, name: &str) -> Result<Outcome, StepError> {
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
    logs: &Client,
    key: &str,
    name: &str,
    retention: i32,
) -> Result<Inspection, StepError> {
    Ok(match find(logs, name).await? {
        Some(g) => {
            let live = g.retention_in_days();
            let mut i = Inspection::new("logs:log-group", name, Some(name.to_string()), "exists", true)
                .detail("retention_days", live.map(|d| d.to_string()).unwrap_or("never".into()));
            if live != Some(retention) {
                let shown = live.map_or("never expire".to_string(), |d| format!("{d} day(s)"));
                i.drift = Some(format!("retention {shown} (config: {retention} days)"));
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

impl LogGroupStep {
    fn logs<'a>(&self, cx: &'a StepCx) -> &'a Client {
        if self.global {
            &cx.aws.logs_global
        } else {
            &cx.aws.logs
        }
    }
}

#[async_trait]
impl Step<StepCx> for LogGroupStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        ensure(cx, self.logs(cx), self.key, &(self.name)(cx), (self.retention_days)(cx)).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy(cx, self.logs(cx), self.key, &(self.name)(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let (name, days) = ((self.name)(cx), (self.retention_days)(cx));
        Ok(vec![inspect(cx, self.logs(cx), self.key, &name, days).await?])
    }
}
