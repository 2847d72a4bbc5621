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
    "MOODLE_DATABASE_TLS",
    "MOODLE_USERNAME",
    "MOODLE_EMAIL",
    "MOODLE_SITE_NAME",
    "MOODLE_DNS_NAME",
    "MOODLE_REDIS_HOST",
    "MOODLE_REDIS_PORT",
    "MOODLE_REDIS_TLS",
    "MOODLE_DATA_DIR",
];
/// The only paths the container writes outside moodledata, as (volume name,
/// path): its root filesystem is read-only (`readonlyRootFilesystem`), and
/// each of these is a volume of the task's ephemeral storage, which Fargate
/// fills from the image's directory (owner and mode included). The image's
/// Dockerfile declares the same paths as `VOLUME`s (a test compares them):
/// config.php and the OPcache blacklist, the local cache, Apache's run and
/// lock files, PHP's temporary files. A write anywhere else — a compromised
/// PHP process dropping a file into the code, say — fails.
pub const SCRATCH_VOLUMES: &[(&str, &str)] = &[
    ("config", "/var/www/config"),
    ("local-cache", "/var/cache/moodle"),
    ("apache-run", "/var/run/apache2"),
    ("apache-lock", "/var/lock/apache2"),
    ("tmp", "/tmp"),
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
/// The cron service's tasks log under their own prefix, so its runs can be
/// told from the web tasks' lines.
pub const CRON_LOG_STREAM_PREFIX: &str = "ecs-cron";
/// What Moodle's `admin/cli/cron.php` prints when a run finished without error.
pub const CRON_DONE: &str = "Cron run completed correctly";

/// The stack's two ECS services. They share the image, secrets, file system
/// and security group; the web tier sits behind the load balancer and scales,
/// cron runs Moodle's scheduled tasks once a minute in exactly one task
/// (Moodle's cluster advice: cron must not pile up, and the web tasks no
/// longer run it: the image's `CRON=off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Web,
    Cron,
}

impl Role {
    pub fn task_def_key(self) -> &'static str {
        match self {
            Role::Web => TASK_DEF,
            Role::Cron => CRON_TASK_DEF,
        }
    }
    pub fn service_key(self) -> &'static str {
        match self {
            Role::Web => SERVICE,
            Role::Cron => CRON_SERVICE,
        }
    }
    pub fn task_def_step(self) -> StepId {
        match self {
            Role::Web => ids::COMPUTE_TASK_DEFINITION,
            Role::Cron => ids::COMPUTE_CRON_TASK_DEFINITION,
        }
    }
    /// The task definition family (`<stack>-moodle`, `<stack>-cron`).
    pub fn family(self, cx: &impl Named) -> String {
        match self {
            Role::Web => family(cx),
            Role::Cron => cron_name(cx),
        }
    }
    /// The ECS service name (`<stack>-service`, `<stack>-cron`).
    pub fn service(self, cx: &impl Named) -> String {
        match self {
            Role::Web => service_name(cx),
            Role::Cron => cron_name(cx),
        }
    }
    pub fn stream_prefix(self) -> &'static str {
        match self {
            Role::Web => LOG_STREAM_PREFIX,
            Role::Cron => CRON_LOG_STREAM_PREFIX,
        }
    }
}

pub(crate) static WEB_TASK_DEF: TaskDefStep = TaskDefStep(Role::Web);
pub(crate) static CRON_TASK_DEF_STEP: TaskDefStep = TaskDefStep(Role::Cron);
pub(crate) static WEB_SERVICE: ServiceStep = ServiceStep(Role::Web);
pub(crate) static CRON_SERVICE_STEP: ServiceStep = ServiceStep(Role::Cron);
