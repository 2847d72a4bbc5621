//! The VPC flow log: its IAM role, its CloudWatch log group and the flow log.
//!
//! The role must be assumable by `vpc-flow-logs.amazonaws.com` before
//! `CreateFlowLogs` names it; the log group's ARN is derived (account
//! wildcard) so the role does not wait for the group.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};

// ---------------------------------------------------------------- Flow log

pub fn flow_log_group_name(cx: &StepCx) -> String {
    format!("/moodlectl/{}/vpc-flow-logs", cx.cfg.stack.name)
}

pub(crate) fn flow_role_name(cx: &StepCx) -> String {
    cx.cfg.name("vpc-flow-logs")
}

pub(crate) fn flow_trust_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

pub(crate) fn flow_permissions(log_group_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
            "Resource": [log_group_arn, format!("{log_group_arn}:*")]
        }]
    })
}

/// IAM role helpers shared with the compute tier.

pub(crate) struct FlowLogRoleStep;

#[async_trait]
impl Step<StepCx> for FlowLogRoleStep {
    fn id(&self) -> StepId {
        ids::NETWORK_FLOW_LOG_ROLE
    }
    fn deps(&self) -> &'static [StepId] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let arn = log_group_arn(cx);
        iam::ensure_role(
            cx,
            FLOW_ROLE,
            &flow_role_name(cx),
            &flow_trust_policy(),
            "flow-logs-to-cloudwatch",
            &flow_permissions(&arn),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::destroy_role(cx, FLOW_ROLE, &flow_role_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            iam::inspect_role(cx, FLOW_ROLE, &flow_role_name(cx)).await?,
        ])
    }
}

/// The log group ARN is derivable without a call once the account is known;
/// a wildcard account keeps the role step independent of the group step.
pub(crate) fn log_group_arn(cx: &StepCx) -> String {
    format!(
        "arn:aws:logs:{}:*:log-group:{}",
        cx.aws.region,
        flow_log_group_name(cx)
    )
}

pub(crate) struct FlowLogGroupStep;

#[async_trait]
impl Step<StepCx> for FlowLogGroupStep {
    fn id(&self) -> StepId {
        ids::NETWORK_FLOW_LOG_GROUP
    }
    fn deps(&self) -> &'static [StepId] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        log_group::ensure(
            cx,
            FLOW_LOG_GROUP,
            &flow_log_group_name(cx),
            cx.cfg.network.flow_log_retention_days,
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        log_group::destroy(cx, FLOW_LOG_GROUP, &flow_log_group_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            log_group::inspect(
                cx,
                FLOW_LOG_GROUP,
                &flow_log_group_name(cx),
                cx.cfg.network.flow_log_retention_days,
            )
            .await?,
        ])
    }
}

pub(crate) struct FlowLogStep;

pub(crate) async fn find_flow_log(
    cx: &StepCx,
) -> Result<Option<aws_sdk_ec2::types::FlowLog>, StepError> {
    if !cx.created.may_preexist(FLOW_LOG, VPC) {
        return Ok(None);
    }
    if let Some(id) = cx.state.id(FLOW_LOG) {
        let r = absent_ok(
            "DescribeFlowLogs",
            &id,
            cx.aws
                .ec2
                .describe_flow_logs()
                .flow_log_ids(&id)
                .send()
                .await,
        )?;
        if let Some(f) = r.and_then(|o| o.flow_logs().first().cloned()) {
            return Ok(Some(f));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_flow_logs()
        .set_filter(Some(ec2_filters(cx, FLOW_LOG)))
        .send()
        .await
        .map_err(ec2_err("DescribeFlowLogs", "flow log"))?;
    Ok(o.flow_logs()
        .iter()
        .find(|f| is_ours(cx, f.tags(), FLOW_LOG))
        .cloned())
}

#[async_trait]
impl Step<StepCx> for FlowLogStep {
    fn id(&self) -> StepId {
        ids::NETWORK_FLOW_LOG
    }
    fn deps(&self) -> &'static [StepId] {
        &[
            ids::NETWORK_VPC,
            ids::NETWORK_FLOW_LOG_ROLE,
            ids::NETWORK_FLOW_LOG_GROUP,
        ]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("vpc-flow-log");
        if let Some(f) = find_flow_log(cx).await? {
            let id = f.flow_log_id().unwrap_or_default().to_string();
            cx.record(FLOW_LOG, Resource::new("ec2:flow-log", &id))?;
            let ok = f.traffic_type().map(|t| t.as_str()) == Some("ALL")
                && f.log_group_name() == Some(flow_log_group_name(cx).as_str());
            if ok {
                return Ok(Outcome::Unchanged);
            }
            // Flow logs cannot be modified: replace.
            if cx.dry_run {
                return Ok(Outcome::Updated(vec!["flow log settings (replace)".into()]));
            }
            deleted(
                "DeleteFlowLogs",
                &id,
                cx.aws.ec2.delete_flow_logs().flow_log_ids(&id).send().await,
            )?;
            cx.forget(FLOW_LOG)?;
        } else if cx.dry_run {
            return Ok(Outcome::Created);
        }
        let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
        let role = cx.require_attr(FLOW_ROLE, "arn", ids::NETWORK_FLOW_LOG_ROLE)?;
        let o = cx
            .aws
            .ec2
            .create_flow_logs()
            .resource_type(FlowLogsResourceType::Vpc)
            .resource_ids(&vpc)
            .traffic_type(TrafficType::All)
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(flow_log_group_name(cx))
            .deliver_logs_permission_arn(role)
            .client_token(cx.token(FLOW_LOG))
            .tag_specifications(ec2_tag_spec(cx, ResourceType::VpcFlowLog, FLOW_LOG, &name))
            .send()
            .await
            .map_err(ec2_err("CreateFlowLogs", &name))?;
        if let Some(u) = o.unsuccessful().first() {
            let err = u.error();
            return Err(StepError::Aws {
                op: "CreateFlowLogs".into(),
                resource: name,
                code: err.and_then(|e| e.code()).unwrap_or("Unsuccessful").into(),
                message: err.and_then(|e| e.message()).unwrap_or_default().into(),
                source: None,
            });
        }
        let id = o.flow_log_ids().first().cloned().unwrap_or_default();
        cx.record_new(FLOW_LOG, Resource::new("ec2:flow-log", &id))?;
        Ok(Outcome::Created)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(f) = find_flow_log(cx).await? else {
            cx.forget(FLOW_LOG)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = f.flow_log_id().unwrap_or_default().to_string();
        let out = deleted(
            "DeleteFlowLogs",
            &id,
            cx.aws.ec2.delete_flow_logs().flow_log_ids(&id).send().await,
        )?;
        cx.forget(FLOW_LOG)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("vpc-flow-log");
        Ok(vec![match find_flow_log(cx).await? {
            Some(f) => Inspection::new(
                "ec2:flow-log",
                name,
                f.flow_log_id().map(str::to_string),
                f.flow_log_status().unwrap_or("unknown").to_lowercase(),
                f.flow_log_status()
                    .map(|s| s.eq_ignore_ascii_case("active"))
                    .unwrap_or(false),
            )
            .detail(
                "traffic_type",
                f.traffic_type().map(|t| t.as_str()).unwrap_or_default(),
            ),
            None => Inspection::missing("ec2:flow-log", name, cx.state.id(FLOW_LOG)),
        }])
    }
}
