//! Observe tier: CloudWatch alarms on every tier (to the stack's alert
//! topic, on ALARM and on OK) and a dashboard of the same metrics.
//!
//! What users of Moodle on AWS report going unnoticed — 5xx from the site,
//! targets failing health checks, slow pages, tasks below their desired
//! count (cron included), the database's CPU, storage, memory and
//! connections, Redis memory and evictions (lost sessions), the file
//! system's I/O limit, CloudFront errors — each has an alarm whose threshold
//! is a key of `[alarms]`.
//!
//! AWS rules encoded here:
//! - `PutMetricAlarm` creates or replaces an alarm by name: `up` sends it
//!   only for an alarm that is missing or differs.
//! - CloudFront publishes its metrics in us-east-1 only (dimension
//!   `Region=Global`): its alarm lives there.
//! - ElastiCache's node metrics are per cache cluster (`<group>-00N`), not
//!   per replication group: one alarm per node.
//! - `DeleteAlarms` takes at most 100 names a call.
//! - An alarm's SNS actions must be topics of the alarm's own region
//!   (`ValidationError: Invalid region`): CloudFront's us-east-1 alarm
//!   notifies a us-east-1 twin of the alert topic, with the same e-mail
//!   subscription, unless the stack is in us-east-1 itself.
//! - The alert topics are encrypted with a key of ours per region (`key`).

mod alarms;
pub use alarms::alarm_count;
mod dashboard;
mod key;
pub(crate) use self::{alarms::*, dashboard::*, key::*};
pub use crate::resources::keys::*;
pub use crate::resources::names::*;

use crate::resources::prelude::*;

/// Does CloudFront's alarm need us-east-1 twins of the alert topic and its
/// key? Only when the stack lives elsewhere: in us-east-1 the stack's own serve.
pub fn needs_us_east_1_twin(cx: &StepCx) -> bool {
    cx.aws.region != "us-east-1"
}

/// The console URL of the stack's dashboard.
pub fn dashboard_url(region: &str, name: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}")
}
