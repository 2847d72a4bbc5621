//! The log groups RDS exports the database's error and slow-query logs to,
//! created before the database with `logs.db_retention_days`.
//!
//! RDS creates `/aws/rds/instance/<id>/<type>` (Aurora:
//! `/aws/rds/cluster/<id>/<type>`) itself on the first export, with no
//! retention at all — logs kept and billed forever. Creating them first is
//! how their retention is ours (the same thing Terraform users are told to do).
//! RDS does not delete them with the database: `down` does, after it.

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::log_group;

/// (state key, log group name) of each exported log.
fn groups(cx: &StepCx) -> Vec<(&'static str, String)> {
    let base = if is_aurora(cx) {
        format!("/aws/rds/cluster/{}", cluster_id(cx))
    } else {
        format!("/aws/rds/instance/{}", instance_id(cx))
    };
    LOG_EXPORTS
        .iter()
        .map(|t| (if *t == "error" { DB_ERROR_LOGS } else { DB_SLOW_LOGS }, format!("{base}/{t}")))
        .collect()
}

pub(crate) struct DbLogGroupsStep;

#[async_trait]
impl Step<StepCx> for DbLogGroupsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let days = cx.cfg.logs.db_retention_days;
        let mut out = Outcome::Unchanged;
        for (key, name) in groups(cx) {
            out = out.merge(log_group::ensure(cx, false, key, &name, days).await?);
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let mut out = Outcome::AlreadyAbsent;
        for (key, name) in groups(cx) {
            if log_group::destroy(cx, false, key, &name).await? == Outcome::Deleted {
                out = Outcome::Deleted;
            }
        }
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let days = cx.cfg.logs.db_retention_days;
        let mut rows = vec![];
        for (key, name) in groups(cx) {
            rows.push(log_group::inspect(cx, false, key, &name, days).await?);
        }
        Ok(rows)
    }
}
