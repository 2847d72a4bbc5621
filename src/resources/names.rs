//! Every physical name the stack gives AWS resources: `<stack>-<suffix>`
//! ([`crate::config::Config::name`]), one function per resource so a find
//! and a create can never disagree. Renaming one makes `up` create a new
//! resource and leave the old one behind: like a state key, a name is kept
//! once released.

use crate::config::Config;
use crate::resources::StepCx;

/// What a name is derived from: a step's context, or (in commands that run
/// no step, like `exec`) the config itself.
pub trait Named {
    fn config(&self) -> &Config;
}

impl Named for StepCx {
    fn config(&self) -> &Config {
        &self.cfg
    }
}

impl Named for Config {
    fn config(&self) -> &Config {
        self
    }
}

macro_rules! names {
    ($($(#[$doc:meta])* $f:ident => $suffix:literal,)*) => {$(
        $(#[$doc])*
        pub fn $f(cx: &impl Named) -> String {
            cx.config().name($suffix)
        }
    )*};
}

names! {
    // data
    instance_id => "db",
    cluster_id => "aurora",
    secret_name => "db-credentials",
    subnet_group_name => "db-subnets",
    topic_name => "rds-events",
    group_id => "redis",
    cache_subnet_group_name => "cache-subnets",
    /// The AWS Backup vault of the stack's file-system recovery points.
    backup_vault_name => "backups",
    backup_role_name => "backup",
    // edge
    alb_name => "alb",
    tg_name => "tg",
    origin_secret_name => "origin-verify",
    acl_name => "cf-waf",
    // compute
    cluster_name => "cluster",
    service_name => "service",
    family => "moodle",
    /// The cron service and its task definition family: `<stack>-cron`.
    cron_name => "cron",
    /// One-off tasks of another image (`run --image`, `upgrade`).
    oneoff_family => "oneoff",
    admin_secret_name => "moodle-admin",
    exec_role_name => "task-execution",
    task_role_name => "task",
    // audit
    trail_name => "trail",
    /// The role CloudTrail writes the trail's CloudWatch Logs copy as.
    trail_logs_role_name => "cloudtrail-logs",
}
