//! The service's security group, and the cross-tier ingress rules (DB 3306,
//! EFS 2049, cache 6379 from the service; the service's 8080 from the ALB).
//!
//! A rule needs both of its groups; the rules go before either group on
//! teardown, since a referenced group cannot be deleted.

use crate::resources::data::SG_CACHE;
use crate::resources::data::SG_DB;
use crate::resources::data::SG_EFS;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- security groups

/// The tasks admit the ALB (8080) and nothing else.
pub(crate) const SERVICE_SG: SecurityGroupStep = SecurityGroupStep {
    key: SG_SERVICE,
    suffix: "service-sg",
    description: "moodlectl: Moodle service tasks",
    rules: Rules::Own(|cx| Box::pin(async move { Ok(expected_ingress(cx, SG_SERVICE)) })),
};

/// The data tier's groups admit the service (3306, 2049, 6379) and nothing else.
pub(crate) struct SgRulesStep;

/// (key, name suffix, the step that creates it).
pub(crate) const DATA_SGS: [(&str, &str, StepId); 3] = [
    (SG_DB, "db-sg", ids::DATA_DB_SG),
    (SG_EFS, "efs-sg", ids::DATA_EFS_SG),
    (SG_CACHE, "cache-sg", ids::DATA_CACHE_SG),
];

#[async_trait]
impl Step<StepCx> for SgRulesStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let mut out = Outcome::Unchanged;
        for (key, suffix, owner) in DATA_SGS {
            match sg::sync_ingress(cx, key, suffix, &expected_ingress(cx, key)).await? {
                Some(o) => out = out.merge(o),
                None => {
                    dry_run!(cx, Outcome::Created);
                    return Err(StepError::MissingDependency { step: owner, what: key.to_string() });
                }
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        // Revoke every rule, so the service group is no longer referenced.
        let mut out = Outcome::AlreadyAbsent;
        for (key, suffix, _) in DATA_SGS {
            if let Some(Outcome::Updated(_)) = sg::sync_ingress(cx, key, suffix, &[]).await? {
                out = out.merge(Outcome::Deleted);
            }
        }
        Ok(out)
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        // Reported on the groups' own rows (data tier), against expected_ingress.
        Ok(vec![])
    }
}
