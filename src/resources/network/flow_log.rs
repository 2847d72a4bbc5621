//! The VPC flow log: its IAM role, its CloudWatch log group and the flow log.
//!
//! The role must be assumable by `vpc-flow-logs.amazonaws.com` before
//! `CreateFlowLogs` names it: IAM takes seconds to propagate a new role, and
//! AWS answers `InvalidParameter` "Unable to assume given IAM role" until
//! then (waited out, `propagation::FLOW_LOG_ROLE`). The log group's ARN is
//! derived (account wildcard) so the role does not wait for the group.

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

pub(crate) const FLOW_ROLE_DEF: iam::RoleStep = iam::RoleStep {
    key: FLOW_ROLE,
    name: flow_role_name,
    trust: |account| iam::trust_in_account("vpc-flow-logs.amazonaws.com", account),
    policy_name: "flow-logs-to-cloudwatch",
    policy: |cx| flow_permissions(&log_group_arn(cx)),
};

pub(crate) const FLOW_LOGS: log_group::LogGroupStep = log_group::LogGroupStep {
    key: FLOW_LOG_GROUP,
    name: flow_log_group_name,
    retention_days: |cx| cx.cfg.network.flow_log_retention_days,
    global: false,
};

/// The log group ARN is derivable without a call once the account is known;
/// a wildcard account keeps the role step independent of the group step.
pub(crate) fn log_group_arn(cx: &StepCx) -> String {
    format!("arn:aws:logs:{}:*:log-group:{}", cx.aws.region, flow_log_group_name(cx))
}

pub(crate) struct FlowLogStep;

#[async_trait]
impl Step<StepCx> for FlowLogStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("vpc-flow-log");
        if let Some(f) = ec2::find::<FlowLog>(cx, FLOW_LOG, Some(VPC)).await? {
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
            deleted("DeleteFlowLogs", &id, cx.aws.ec2.delete_flow_logs().flow_log_ids(&id).send().await)?;
            cx.forget(FLOW_LOG)?;
        } else if cx.dry_run {
            return Ok(Outcome::Created);
        }
        let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
        let role = cx.require_attr(FLOW_ROLE, "arn", ids::NETWORK_FLOW_LOG_ROLE)?;
        let call = cx.aws.ec2.create_flow_logs().resource_type(FlowLogsResourceType::Vpc).resource_ids(&vpc);
        let call = call.traffic_type(TrafficType::All).log_destination_type(LogDestinationType::CloudWatchLogs);
        let call = call.log_group_name(flow_log_group_name(cx)).deliver_logs_permission_arn(role);
        let call = call.client_token(cx.token(FLOW_LOG)?);
        let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::VpcFlowLog, FLOW_LOG, &name));
        let o = retry(cx, "CreateFlowLogs", &name, &transient::FLOW_LOG_ROLE, || call.clone().send()).await?;
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
        let Some(f) = ec2::find::<FlowLog>(cx, FLOW_LOG, Some(VPC)).await? else {
            cx.forget(FLOW_LOG)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = f.flow_log_id().unwrap_or_default().to_string();
        let out = deleted("DeleteFlowLogs", &id, cx.aws.ec2.delete_flow_logs().flow_log_ids(&id).send().await)?;
        cx.forget(FLOW_LOG)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("vpc-flow-log");
        Ok(vec![match ec2::find::<FlowLog>(cx, FLOW_LOG, Some(VPC)).await? {
            Some(f) => Inspection::new(
                "ec2:flow-log",
                name,
                f.flow_log_id().map(str::to_string),
                f.flow_log_status().unwrap_or("unknown").to_lowercase(),
                f.flow_log_status().map(|s| s.eq_ignore_ascii_case("active")).unwrap_or(false),
            )
            .detail("traffic_type", f.traffic_type().map(|t| t.as_str()).unwrap_or_default()),
            None => Inspection::missing("ec2:flow-log", name, cx.state.id(FLOW_LOG)),
        }])
    }
}
