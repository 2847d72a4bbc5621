//! The IAM role RDS enhanced monitoring publishes the instance's OS metrics
//! with (`database.monitoring_interval_seconds`, 60 s by default; 0 is off).
//!
//! CloudWatch's RDS metrics come from the hypervisor; enhanced monitoring's
//! come from an agent on the instance — the process list, memory split and
//! per-disk I/O an administrator needs when Moodle's database is slow. RDS
//! writes them to the `RDSOSMetrics` log group as this role, which trusts
//! `monitoring.rds.amazonaws.com` for this account only and may write only
//! `RDS*` log groups (the permissions of AWS's managed
//! `AmazonRDSEnhancedMonitoringRole`, inline so the role says what it does).
//!
//! AWS rules encoded here:
//! - A non-zero interval needs the role (InvalidParameterCombination), and a
//!   role RDS cannot assume yet is refused with InvalidParameterValue
//!   "... ENHANCED_MONITORING" — waited out
//!   (`propagation::RDS_MONITORING_ROLE`) by the database step, which runs
//!   after this one.
//! - The role exists even with monitoring off, so turning it on is one
//!   `ModifyDBInstance`.

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::iam;

fn monitoring_permissions() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RdsLogGroups",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                "Resource": "arn:aws:logs:*:*:log-group:RDS*"
            },
            {
                "Sid": "RdsLogStreams",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"],
                "Resource": "arn:aws:logs:*:*:log-group:RDS*:log-stream:*"
            }
        ]
    })
}

pub(crate) const DB_MONITORING_ROLE_DEF: iam::RoleStep = iam::RoleStep {
    key: DB_MONITORING_ROLE,
    name: |cx| cx.cfg.name("rds-monitoring"),
    trust: |account| iam::trust_in_account("monitoring.rds.amazonaws.com", account),
    policy_name: "rds-enhanced-monitoring",
    policy: |_| monitoring_permissions(),
};

/// What the instance's monitoring settings should be: (interval, role ARN).
/// The ARN is `None` only in a dry run before the role exists.
pub(crate) fn monitoring(cx: &StepCx) -> Result<(i32, Option<String>), StepError> {
    let interval = cx.cfg.database.monitoring_interval_seconds;
    if interval == 0 {
        return Ok((0, None));
    }
    Ok((interval, cx.dependency_attr(DB_MONITORING_ROLE, "arn", ids::DATA_DB_MONITORING_ROLE)?))
}
