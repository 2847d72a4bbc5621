//! Compute tier: the Moodle service on ECS Fargate, with its roles, log group,
//! admin secret, cluster, task definition, security group rules and
//! autoscaling.
//!
//! This file holds the tier's shared keys, names and the environment contract
//! with the image. IAM is eventually consistent: a role created seconds ago
//! may not yet be assumable by ECS, so the first use of a new role is retried.

mod admin;
mod autoscaling;
mod cluster;
mod roles;
mod security;
mod service;
mod task_definition;
pub(crate) use admin::*;
pub(crate) use autoscaling::*;
pub(crate) use cluster::*;
pub(crate) use roles::*;
pub(crate) use security::*;
pub use service::*;
pub use task_definition::*;

use crate::resources::prelude::*;

pub const LOG_GROUP: &str = "log-group/moodle";
pub const ADMIN_SECRET: &str = "secret/moodle-admin";
pub const EXEC_ROLE: &str = "iam-role/task-execution";
pub const TASK_ROLE: &str = "iam-role/task";
pub const CLUSTER: &str = "ecs/cluster";
pub const TASK_DEF: &str = "ecs/task-definition";
pub const SERVICE: &str = "ecs/service";
pub const SCALING: &str = "autoscaling/target";
pub const CONTAINER: &str = "moodle";
/// Where the image expects the shared `moodledata` (the EFS mount).
pub const MOODLEDATA_PATH: &str = "/var/www/moodledata";

/// The environment contract with the image (`image/entrypoint.sh` reads
/// exactly these; a test checks both sides name the same set).
pub const ENV_NAMES: &[&str] = &[
    "MOODLE_DATABASE_TYPE",
    "MOODLE_DATABASE_HOST",
    "MOODLE_DATABASE_PORT_NUMBER",
    "MOODLE_DATABASE_NAME",
    "MOODLE_DATABASE_USER",
    "MOODLE_USERNAME",
    "MOODLE_EMAIL",
    "MOODLE_SITE_NAME",
    "MOODLE_DNS_NAME",
    "MOODLE_REDIS_HOST",
    "MOODLE_REDIS_PORT",
    "MOODLE_REDIS_TLS",
    "MOODLE_DATA_DIR",
];
/// Injected from Secrets Manager by ECS, never in plain text.
pub const SECRET_ENV_NAMES: &[&str] = &["MOODLE_DATABASE_PASSWORD", "MOODLE_PASSWORD"];

pub fn cluster_name(cx: &StepCx) -> String {
    cx.cfg.name("cluster")
}
pub fn service_name(cx: &StepCx) -> String {
    cx.cfg.name("service")
}
pub fn family(cx: &StepCx) -> String {
    cx.cfg.name("moodle")
}
pub fn log_group_name(cx: &StepCx) -> String {
    container_log_group(&cx.cfg.stack.name)
}
pub fn container_log_group(stack: &str) -> String {
    format!("/moodlectl/{stack}/moodle")
}
pub fn admin_secret_name(cx: &StepCx) -> String {
    cx.cfg.name("moodle-admin")
}
pub(crate) fn exec_role_name(cx: &StepCx) -> String {
    cx.cfg.name("task-execution")
}
pub(crate) fn task_role_name(cx: &StepCx) -> String {
    cx.cfg.name("task")
}
