//! The upgrade procedure's record and its one-off tasks (the command,
//! `commands::upgrade`, orders them and rolls the service in between).
//!
//! Every step is recorded in the state file under `ops/upgrade` before and
//! after it happens:
//! - the snapshot's name before `CreateDBSnapshot` (a rerun finds it by name),
//! - the backup job's ID after `StartBackupJob` (its idempotency token covers
//!   a kill in between),
//! - each one-off task's ARN after `RunTask` (its client token covers a kill
//!   in between: ECS returns the task it already started).
//!
//! A rerun therefore waits for what is running and skips what is done; a
//! task that failed is started again (a deliberate retry), under a new token.
//!
//! Moodle's own rules: `upgrade.php --is-pending` exits 2 when the code is
//! newer than the database, 0 when there is nothing to do, anything else when
//! it cannot tell (a downgrade, a half-finished upgrade); CLI maintenance mode
//! (`maintenance.php --enable`) serves every web request a 503 page while
//! the database is changed, and is switched off only once the service runs
//! the new code.

use super::oneoff::{self, Finished, ServiceShape};
use crate::error::StepError;
use crate::resources::context::idempotency_token;
use crate::resources::keys::{SITE_IMAGE, UPGRADE};
use crate::resources::prelude::*;

pub const IS_PENDING: &[&str] = &["php", "admin/cli/upgrade.php", "--is-pending"];
pub const UPGRADE_CMD: &[&str] = &["php", "admin/cli/upgrade.php", "--non-interactive"];
pub const MAINTENANCE_ON: &[&str] = &["php", "admin/cli/maintenance.php", "--enable"];
pub const MAINTENANCE_OFF: &[&str] = &["php", "admin/cli/maintenance.php", "--disable"];

/// Attributes of the `ops/upgrade` record, in the order they are reached.
pub mod at {
    pub const FROM: &str = "from";
    pub const SNAPSHOT: &str = "snapshot";
    pub const BACKUP_JOB: &str = "backup_job";
    pub const RECOVERY_POINT: &str = "recovery_point";
    pub const MAINTENANCE_ON: &str = "maintenance_on_task";
    pub const UPGRADE_TASK: &str = "upgrade_task";
    pub const UPGRADED: &str = "upgraded";
    pub const ROLLED: &str = "rolled_out";
    pub const MAINTENANCE_OFF: &str = "maintenance_off_task";
}

/// The upgrade in progress, as the state file records it.
pub struct Record<'a> {
    cx: &'a StepCx,
}

impl<'a> Record<'a> {
    pub fn open(cx: &'a StepCx) -> Self {
        Record { cx }
    }
    pub fn target(&self) -> Option<String> {
        self.cx.state.get(UPGRADE).map(|r| r.id)
    }
    pub fn get(&self, attr: &str) -> Option<String> {
        self.cx.state.get(UPGRADE).and_then(|r| r.attrs.get(attr).cloned())
    }
    pub fn begin(&self, target: &str, from: &str) -> Result<(), StepError> {
        Ok(self.cx.state.record(UPGRADE, Resource::new("moodlectl:upgrade", target).with(at::FROM, from))?)
    }
    pub fn set(&self, attr: &str, value: &str) -> Result<(), StepError> {
        let mut r = self.cx.state.get(UPGRADE).expect("an upgrade record exists once begun");
        r.attrs.insert(attr.to_string(), value.to_string());
        Ok(self.cx.state.record(UPGRADE, r)?)
    }
    fn unset(&self, attr: &str) -> Result<(), StepError> {
        let mut r = self.cx.state.get(UPGRADE).expect("an upgrade record exists once begun");
        r.attrs.remove(attr);
        Ok(self.cx.state.record(UPGRADE, r)?)
    }
    /// Done: the site's database is at `target`'s code; `from` is older code.
    pub fn finish(&self) -> Result<(), StepError> {
        let target = self.target().expect("an upgrade record exists once begun");
        let from = self.get(at::FROM).unwrap_or_default();
        let mut older = older_images(self.cx);
        if !from.is_empty() && from != target && !older.contains(&from) {
            older.push(from);
        }
        older.retain(|i| i != &target);
        let site = Resource::new("moodlectl:site-image", &target).with("older", older.join(" "));
        self.cx.state.record(SITE_IMAGE, site)?;
        Ok(self.cx.state.forget(UPGRADE)?)
    }
}

/// The images the site's database was upgraded away from: code older than it.
pub fn older_images(cx: &StepCx) -> Vec<String> {
    let r = cx.state.get(SITE_IMAGE);
    r.and_then(|r| r.attrs.get("older").cloned())
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Run `command` once for the upgrade step `attr`: a recorded task that is
/// running or succeeded is waited for, not started again; one that failed
/// (or is no longer known) is started again under a new client token.
pub async fn task_once(
    cx: &StepCx,
    shape: &ServiceShape,
    task_definition: &str,
    attr: &str,
    command: &[&str],
    line: &mut (dyn FnMut(&str) + Send),
) -> Result<Result<Finished, String>, StepError> {
    let rec = Record::open(cx);
    if let Some(arn) = rec.get(attr) {
        let done = oneoff::wait(&cx.aws, &cx.cfg, &arn, &mut *line).await?;
        if done.succeeded() {
            return Ok(Ok(done));
        }
        // A retry: the next attempt's token.
        let n: u32 = rec.get(&format!("{attr}_attempt")).and_then(|n| n.parse().ok()).unwrap_or(0);
        rec.set(&format!("{attr}_attempt"), &(n + 1).to_string())?;
        rec.unset(attr)?;
    }
    let n: u32 = rec.get(&format!("{attr}_attempt")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let target = rec.target().unwrap_or_default();
    let token = idempotency_token(&cx.cfg.stack.name, &cx.state.generation(), &format!("upgrade|{target}|{attr}"), n);
    let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    let started = match oneoff::start(&cx.aws, &cx.cfg, shape, task_definition, &command, Some(&token)).await? {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    rec.set(attr, &started.arn)?;
    cx.progress(format!(
        "task {} ({}): {}",
        started.id,
        task_definition.rsplit('/').next().unwrap_or(""),
        command.join(" ")
    ));
    Ok(Ok(oneoff::wait(&cx.aws, &cx.cfg, &started.arn, &mut *line).await?))
}
