//! The container log group and the Moodle admin password secret: what the
//! task definition references besides the roles.

use super::*;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- log group, admin secret, roles

pub(crate) struct LogGroupStep;

#[async_trait]
impl Step<StepCx> for LogGroupStep {
    fn id(&self) -> StepId {
        ids::COMPUTE_LOG_GROUP
    }
    fn deps(&self) -> &'static [StepId] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        log_group::ensure(
            cx,
            LOG_GROUP,
            &log_group_name(cx),
            cx.cfg.logs.container_retention_days,
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        log_group::destroy(cx, LOG_GROUP, &log_group_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            log_group::inspect(
                cx,
                LOG_GROUP,
                &log_group_name(cx),
                cx.cfg.logs.container_retention_days,
            )
            .await?,
        ])
    }
}

pub(crate) struct AdminSecretStep;

#[async_trait]
impl Step<StepCx> for AdminSecretStep {
    fn id(&self) -> StepId {
        ids::COMPUTE_ADMIN_SECRET
    }
    fn deps(&self) -> &'static [StepId] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(secrets::ensure(
            cx,
            ADMIN_SECRET,
            &admin_secret_name(cx),
            "moodlectl: Moodle admin password",
            |pw| pw.to_string(),
        )
        .await?
        .0)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        secrets::destroy(cx, ADMIN_SECRET, &admin_secret_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            secrets::inspect(cx, ADMIN_SECRET, &admin_secret_name(cx)).await?,
        ])
    }
}
