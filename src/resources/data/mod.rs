//! Data tier: the database (RDS MySQL/MariaDB, or Aurora MySQL provisioned or
//! Serverless v2) with its credentials secret and event alerts, the Redis
//! (or Valkey) replication group, and the EFS file system holding moodledata.
//!
//! This file holds what the tier's resources share: state keys, names, and
//! the step list. Each resource's ordering rules are in its own file.

mod access_point;
mod backup;
mod backup_plan;
mod cache;
mod db_events;
mod db_instance;
mod db_logs;
mod db_monitoring;
mod db_params;
mod db_secret;
mod efs;
mod efs_policy;
mod mount_targets;
mod security_groups;
mod subnet_groups;
pub(crate) use self::{
    access_point::*, backup::*, backup_plan::*, cache::*, db_events::*, db_instance::*, db_logs::*, db_monitoring::*,
    db_params::*, db_secret::*, efs::*, efs_policy::*, mount_targets::*, security_groups::*, subnet_groups::*,
};
pub use crate::resources::keys::*;
pub use crate::resources::names::*;

use crate::config::DbEngine;
use crate::resources::prelude::*;

pub const DB_NAME: &str = "moodledb";
pub const DB_USER: &str = "dbadmin";
pub const EVENT_CATEGORIES: [&str; 5] =
    ["availability", "configuration change", "failure", "maintenance", "low storage"];

pub(crate) fn is_aurora(cx: &StepCx) -> bool {
    matches!(cx.cfg.database.engine, DbEngine::AuroraMysql | DbEngine::AuroraServerless)
}

pub(crate) fn engine_name(e: DbEngine) -> &'static str {
    match e {
        DbEngine::Mysql => "mysql",
        DbEngine::Mariadb => "mariadb",
        DbEngine::AuroraMysql | DbEngine::AuroraServerless => "aurora-mysql",
    }
}

/// The instance class the writer uses (Serverless v2 has its own class).
pub(crate) fn instance_class(cx: &StepCx) -> String {
    match cx.cfg.database.engine {
        DbEngine::AuroraServerless => "db.serverless".into(),
        _ => cx.cfg.database.instance_class.clone(),
    }
}

/// Performance Insights is not offered on the smallest burstable classes
/// (RDS User Guide, "DB engine, Region, and instance class support for
/// Performance Insights"), and on Aurora MySQL not on any db.t2 or db.t3
/// class (Aurora User Guide, same section); db.t4g.micro/small on neither.
pub fn performance_insights_supported(engine: DbEngine, class: &str) -> bool {
    let smallest = ["db.t2.micro", "db.t2.small", "db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small"];
    let aurora = matches!(engine, DbEngine::AuroraMysql | DbEngine::AuroraServerless);
    !(smallest.contains(&class) || aurora && (class.starts_with("db.t2.") || class.starts_with("db.t3.")))
}

pub const PORT: i32 = 6379;

/// uid/gid of `www-data` in the Debian-based moodlehq/moodle-php-apache image.
pub const WEB_UID: i64 = 33;

pub fn mount_target_key(az: &str) -> String {
    format!("efs/mount-target-{az}")
}
