//! The container log group and the Moodle admin password secret: what the
//! task definition references besides the roles.

use super::*;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- log group, admin secret, roles

/// The Moodle container's logs, kept `logs.container_retention_days`.
pub(crate) const CONTAINER_LOGS: log_group::LogGroupStep = log_group::LogGroupStep {
    key: LOG_GROUP,
    name: log_group_name,
    retention_days: |cx| cx.cfg.logs.container_retention_days,
    global: false,
};

/// The Moodle admin password (the image sets it at the first install).
pub(crate) const ADMIN_SECRET_VALUE: secrets::SecretStep = secrets::SecretStep {
    key: ADMIN_SECRET,
    name: admin_secret_name,
    description: "moodlectl: Moodle admin password",
    value: secrets::plain,
};
