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
pub(crate) use self::{admin::*, autoscaling::*, cluster::*, roles::*, security::*, service::*, task_definition::*};
pub use crate::resources::keys::*;
pub use crate::resources::names::*;

use crate::resources::prelude::*;

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

pub fn log_group_name(cx: &StepCx) -> String {
    container_log_group(&cx.cfg.stack.name)
}
pub fn container_log_group(stack: &str) -> String {
    format!("/moodlectl/{stack}/moodle")
}

/// `arn:…:task/<cluster>/<id>` → `<id>`: how ECS names a task to a person.
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The awslogs stream prefix: a task's stream is `<prefix>/moodle/<task id>`.
pub const LOG_STREAM_PREFIX: &str = "ecs-moodle";
