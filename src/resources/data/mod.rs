//! Data tier: the database (RDS MySQL/MariaDB, or Aurora MySQL provisioned or
//! Serverless v2) with its credentials secret and event alerts, the Redis
//! (or Valkey) replication group, and the EFS file system holding moodledata.
//!
//! This file holds what the tier's resources share: state keys, names, and
//! the step list. Each resource's ordering rules are in its own file.

mod access_point;
mod cache;
mod db_events;
mod db_instance;
mod db_secret;
mod efs;
mod mount_targets;
mod security_groups;
mod subnet_groups;
pub use access_point::*;
pub use cache::*;
pub(crate) use db_events::*;
pub(crate) use db_instance::*;
pub(crate) use db_secret::*;
pub use efs::*;
pub(crate) use mount_targets::*;
pub(crate) use security_groups::*;
pub use subnet_groups::*;

use crate::config::DbEngine;
use crate::resources::prelude::*;

pub const SG_DB: &str = "sg/db";
pub const DB_SUBNET_GROUP: &str = "rds/subnet-group";
pub const DB_SECRET: &str = "secret/db";
pub const DB_INSTANCE: &str = "rds/instance";
pub const DB_CLUSTER: &str = "rds/cluster";
pub const TOPIC: &str = "sns/rds-events";
pub const EVENT_SUB: &str = "rds/event-subscription";

pub const DB_NAME: &str = "moodledb";
pub const DB_USER: &str = "dbadmin";
pub const EVENT_CATEGORIES: [&str; 5] =
    ["availability", "configuration change", "failure", "maintenance", "low storage"];

pub fn instance_id(cx: &StepCx) -> String {
    cx.cfg.name("db")
}
pub(crate) fn cluster_id(cx: &StepCx) -> String {
    cx.cfg.name("aurora")
}
pub fn secret_name(cx: &StepCx) -> String {
    cx.cfg.name("db-credentials")
}
pub(crate) fn subnet_group_name(cx: &StepCx) -> String {
    cx.cfg.name("db-subnets")
}
pub(crate) fn topic_name(cx: &StepCx) -> String {
    cx.cfg.name("rds-events")
}
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

/// Performance Insights is not offered on the smallest burstable classes.
pub fn performance_insights_supported(class: &str) -> bool {
    !(class.starts_with("db.t2.") || ["db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small"].contains(&class))
}

pub const SG_CACHE: &str = "sg/cache";
pub const CACHE_SUBNET_GROUP: &str = "elasticache/subnet-group";
pub const REPLICATION_GROUP: &str = "elasticache/replication-group";
pub const PORT: i32 = 6379;

pub fn group_id(cx: &StepCx) -> String {
    cx.cfg.name("redis")
}
pub(crate) fn cache_subnet_group_name(cx: &StepCx) -> String {
    cx.cfg.name("cache-subnets")
}

pub const SG_EFS: &str = "sg/efs";
pub const EFS: &str = "efs/file-system";
pub const ACCESS_POINT: &str = "efs/access-point";

/// uid/gid of `www-data` in the Debian-based moodlehq/moodle-php-apache image.
pub const WEB_UID: i64 = 33;

pub fn mount_target_key(az: &str) -> String {
    format!("efs/mount-target-{az}")
}
