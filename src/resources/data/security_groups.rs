//! The data tier's security groups (database, cache, EFS mount targets).
//!
//! Each admits only the Moodle service, on its own port; the rules are the
//! compute tier's (they need the service's group), so these steps create the
//! groups and leave their ingress to it.

use super::*;
use crate::resources::prelude::*;

/// RDS admits the service (3306), through the compute tier's rules.
pub(crate) const DB_SG: SecurityGroupStep =
    SecurityGroupStep { key: SG_DB, suffix: "db-sg", description: "moodlectl: RDS", rules: Rules::CrossTier };

/// ElastiCache admits the service (6379), through the compute tier's rules.
pub(crate) const CACHE_SG: SecurityGroupStep = SecurityGroupStep {
    key: SG_CACHE,
    suffix: "cache-sg",
    description: "moodlectl: ElastiCache",
    rules: Rules::CrossTier,
};

/// The mount targets admit the service (2049), through the compute tier's rules.
pub(crate) const EFS_SG: SecurityGroupStep = SecurityGroupStep {
    key: SG_EFS,
    suffix: "efs-sg",
    description: "moodlectl: EFS mount targets",
    rules: Rules::CrossTier,
};
