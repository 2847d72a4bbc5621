//! What a step of this stack receives: the config, the AWS clients, the
//! state store, the reporter, whether this is a dry run, and the options of
//! `down`. The engine sees none of it ([`crate::engine::Context`]).
//!
//! [`StepCx`] is one step's view: it knows its step, so the events it emits,
//! the IDs it records and the idempotency tokens it derives are that step's.

use crate::aws::Aws;
use crate::config::Config;
use crate::engine::{Context, StepId};
use crate::error::StepError;
use crate::report::{Event, Reporter};
use crate::state::{Resource, StateStore};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Options of `down` that change what steps do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub skip_final_snapshot: bool,
    pub delete_audit_logs: bool,
    pub force_delete_secrets: bool,
}

/// Everything a step can reach.
pub struct Ctx {
    pub cfg: Config,
    pub aws: Aws,
    pub state: StateStore,
    pub reporter: Arc<dyn Reporter>,
    pub dry_run: bool,
    pub opts: Options,
    pub wait_timeout: Duration,
    pub created: CreatedThisRun,
}

impl Context for Ctx {
    type StepCx = StepCx;
    fn for_step(self: &Arc<Self>, id: StepId) -> StepCx {
        StepCx::new(self.clone(), id)
    }
    fn notes(cx: &StepCx) -> Vec<String> {
        cx.notes()
    }
    fn reporter(&self) -> &dyn Reporter {
        self.reporter.as_ref()
    }
}

/// State keys of the resources this run created (not found, not adopted).
#[derive(Debug, Default)]
pub struct CreatedThisRun(Mutex<HashSet<String>>);

impl CreatedThisRun {
    fn insert(&self, key: &str) {
        self.0.lock().unwrap().insert(key.to_string());
    }

    /// Can `key`, which only ever lives inside `parent`, exist without this
    /// run having created it? Not when this run created `parent` itself (a
    /// new VPC holds no subnets, groups, route tables, endpoints or flow log
    /// of ours), so the lookups before creating them — a round trip each, at
    /// the moment the whole tier starts at once — can be skipped.
    pub fn may_preexist(&self, key: &str, parent: &str) -> bool {
        !self.contains(parent) || self.contains(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.lock().unwrap().contains(key)
    }
}

/// A step's view of the context: knows which step it is, for events and tags.
pub struct StepCx {
    pub ctx: Arc<Ctx>,
    pub id: StepId,
    notes: Mutex<Vec<String>>,
}

impl std::ops::Deref for StepCx {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

/// In `plan` and `status` (a dry run) a step reports the outcome it would
/// have and stops before its first mutating call: `dry_run!(cx,
/// Outcome::Created)` is that stop, written the same way in every step.
#[macro_export]
macro_rules! dry_run {
    ($cx:expr, $outcome:expr) => {
        if $cx.dry_run {
            return Ok($outcome);
        }
    };
}

impl StepCx {
    pub fn new(ctx: Arc<Ctx>, id: StepId) -> Self {
        StepCx { ctx, id, notes: Mutex::new(vec![]) }
    }

    pub fn progress(&self, message: impl Into<String>) {
        self.reporter.emit(&Event::StepProgress { step: self.id.to_string(), message: message.into() });
    }

    /// Record a resource in state (no-op in dry-run). A resource found by tag
    /// that was not in state is "adopted", which `status` reports as drift.
    pub fn record(&self, key: &str, res: Resource) -> Result<(), StepError> {
        if self.state.get(key).map(|r| r.id) != Some(res.id.clone()) {
            self.note(format!("{key} not in state (found by tag)"));
        }
        // In dry-run the store is read-only: this updates memory only, so
        // downstream steps of a plan see what was found.
        Ok(self.state.record(key, res)?)
    }

    /// Record a resource this step just created (no adoption note).
    pub fn record_new(&self, key: &str, res: Resource) -> Result<(), StepError> {
        self.created.insert(key);
        Ok(self.state.record(key, res)?)
    }

    pub fn forget(&self, key: &str) -> Result<(), StepError> {
        if self.dry_run {
            return Ok(());
        }
        Ok(self.state.forget(key)?)
    }

    /// ID recorded by a step this one depends on.
    pub fn require(&self, key: &str, step: StepId) -> Result<String, StepError> {
        self.state.id(key).ok_or(StepError::MissingDependency { step, what: key.to_string() })
    }

    pub fn require_attr(&self, key: &str, attr: &str, step: StepId) -> Result<String, StepError> {
        self.state
            .get(key)
            .and_then(|r| r.attrs.get(attr).cloned())
            .ok_or(StepError::MissingDependency { step, what: format!("{key}.{attr}") })
    }

    /// The ID a dependency recorded; in a dry run its absence means the
    /// dependency would be created, so this step would be too.
    pub fn dependency(&self, key: &str, step: StepId) -> Result<Option<String>, StepError> {
        match self.state.id(key) {
            Some(id) => Ok(Some(id)),
            None if self.dry_run => Ok(None),
            None => Err(StepError::MissingDependency { step, what: key.to_string() }),
        }
    }

    pub fn note(&self, s: String) {
        self.notes.lock().unwrap().push(s);
    }

    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }

    /// An idempotency token unique to this stack lifetime and resource.
    pub fn token(&self, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(format!("{}|{}|{}", self.cfg.stack.name, self.state.generation(), key));
        format!("moodlectl-{}", &hex::encode(h)[..40])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_a_parent_created_this_run_cannot_preexist() {
        let c = CreatedThisRun::default();
        // Nothing created yet (e.g. the VPC was found): look everything up.
        assert!(c.may_preexist("subnet/public-a", "vpc"));
        c.insert("vpc");
        assert!(!c.may_preexist("subnet/public-a", "vpc"));
        // Once the child is created it is found again by its recorded ID.
        c.insert("subnet/public-a");
        assert!(c.may_preexist("subnet/public-a", "vpc"));
        assert!(!c.may_preexist("subnet/private-a", "vpc"));
        // Another parent is unaffected.
        assert!(c.may_preexist("subnet/public-a", "other"));
    }
}
