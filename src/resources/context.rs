//! What a step of this stack receives: the config, the AWS clients, the
//! state store, the reporter, whether this is a dry run, and the options of
//! `down`. The engine sees none of it ([`crate::engine::Context`]).
//!
//! [`StepCx`] is one step's view: it knows its step, so the events it emits,
//! the IDs it records and the idempotency tokens it derives are that step's.

use crate::aws::Aws;
use crate::config::Config;
use crate::engine::{Context, Inspection, Outcome, StepId};
use crate::error::StepError;
use crate::report::{Event, Reporter};
use crate::resources::shared::retry::Transient;
use crate::state::{Resource, StateStore};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Options of `down` that change what steps do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub skip_final_snapshot: bool,
    pub delete_logs: bool,
    /// `down --delete-backups`: delete the file-system recovery points and their vault.
    pub delete_backups: bool,
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
            self.note(format!("{} {} not in state (found by tag)", res.kind, res.id));
        }
        // In dry-run the store is read-only: this updates memory only, so
        // downstream steps of a plan see what was found.
        Ok(self.state.record(key, res)?)
    }

    /// Record a resource this step just created (no adoption note).
    pub fn record_new(&self, key: &str, res: Resource) -> Result<(), StepError> {
        self.created.insert(key);
        Ok(self.state.record_created(key, res)?)
    }

    pub fn forget(&self, key: &str) -> Result<(), StepError> {
        if self.dry_run {
            return Ok(());
        }
        Ok(self.state.forget(key)?)
    }

    /// `down` for one resource: delete what the lookup found (nothing to do
    /// when it found nothing) and forget the recorded ID either way.
    pub async fn remove<T, F, Fut>(&self, key: &str, found: Option<T>, delete: F) -> Result<Outcome, StepError>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<Outcome, StepError>>,
    {
        let out = match found {
            Some(x) => delete(x).await?,
            None => Outcome::AlreadyAbsent,
        };
        self.forget(key)?;
        Ok(out)
    }

    /// `status` for one resource: what `seen` makes of the one the lookup
    /// found (filling in [`Inspection::status`]), or "missing" with the ID the state recorded for `key`.
    pub fn inspect_one<T>(
        &self,
        key: &str,
        kind: &str,
        name: &str,
        found: Option<T>,
        seen: impl FnOnce(Inspection, T) -> Inspection,
    ) -> Result<Vec<Inspection>, StepError> {
        let recorded = self.state.id(key);
        Ok(vec![match found {
            Some(x) => seen(Inspection::new(kind, name, recorded, "", false), x),
            None => Inspection::missing(kind, name, recorded),
        }])
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

    /// An attribute recorded for `key` (an ARN, say); an empty value counts
    /// as none.
    pub fn recorded_attr(&self, key: &str, attr: &str) -> Option<String> {
        self.state.get(key).and_then(|r| r.attrs.get(attr).cloned()).filter(|v| !v.is_empty())
    }

    /// An attribute a dependency recorded, as [`Self::dependency`] reads its ID:
    /// absent in a dry run means the dependency would be created.
    pub fn dependency_attr(&self, key: &str, attr: &str, step: StepId) -> Result<Option<String>, StepError> {
        match self.recorded_attr(key, attr) {
            Some(v) => Ok(Some(v)),
            None if self.dry_run => Ok(None),
            None => Err(StepError::MissingDependency { step, what: format!("{key}.{attr}") }),
        }
    }

    pub fn note(&self, s: String) {
        self.notes.lock().unwrap().push(s);
    }

    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }

    /// An idempotency token for creating `key`, asked for just before the
    /// create: unique to this stack's lifetime, the resource, and how many
    /// times it was deleted before (so a token is never replayed after a
    /// delete). 36 characters: the shortest limit of the APIs that take one
    /// (ECS `clientToken` ≤ 36; EC2 and EFS ≤ 64; Secrets Manager 32–64).
    ///
    /// A record the lookup just failed to find is of a resource that is gone
    /// — deleted by a `down` killed before it could forget it, or out of
    /// band. It is dropped first, which moves the token on: replaying the old
    /// token would get the deleted NAT gateway or endpoint back.
    pub fn token(&self, key: &str) -> Result<String, StepError> {
        if self.state.id(key).is_some() {
            self.forget(key)?;
        }
        Ok(idempotency_token(&self.cfg.stack.name, &self.state.generation(), key, self.state.token_epoch(key)))
    }

    /// Say a create of `key` is about to be sent: from now until the settle
    /// window passes, a lookup that does not see it keeps looking (see
    /// `StateData::created_at`).
    pub fn intend(&self, key: &str) -> Result<(), StepError> {
        if self.dry_run {
            return Ok(());
        }
        Ok(self.state.set_created_at(key, Some(crate::state::unix_now()))?)
    }

    /// AWS refused the create of `key` outright (a 4xx): nothing was created,
    /// so there is nothing to wait for.
    pub fn refused(&self, key: &str) -> Result<(), StepError> {
        if self.dry_run {
            return Ok(());
        }
        Ok(self.state.set_created_at(key, None)?)
    }

    /// How much longer a lookup of `key` may not see it although it exists:
    /// what is left of the settle window since its create was sent
    /// (`MOODLECTL_SETTLE_S`, default 60 s: AWS's reads catch up within
    /// seconds, Terraform allows 2 minutes).
    pub fn settle_left(&self, key: &str) -> Option<Duration> {
        let at = self.state.created_at(key)?;
        let window = std::env::var("MOODLECTL_SETTLE_S").ok().and_then(|v| v.parse().ok()).unwrap_or(60u64);
        let left = (at + window).saturating_sub(crate::state::unix_now());
        (left > 0).then(|| Duration::from_secs(left))
    }

    /// Send a create of `key` (retrying `rule`'s refusals), saying so first
    /// (see [`StepCx::intend`]); an outright refusal clears the note, an
    /// ambiguous failure (timeout, 5xx, lost connection) keeps it, since the
    /// resource may exist.
    pub async fn create<T, E, F, Fut>(
        &self,
        key: &str,
        op: &str,
        name: &str,
        rule: &Transient,
        call: F,
    ) -> Result<T, StepError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        self.intend(key)?;
        let r = crate::resources::shared::retry::retry(self, op, name, rule, call).await;
        if let Err(StepError::Aws { code, .. }) = &r {
            if !ambiguous(code) {
                self.refused(key)?;
            }
        }
        r
    }
}

/// An error after which the create may or may not have happened: the
/// request timed out or the connection broke, or AWS failed internally.
/// Anything else is AWS refusing the request, which then created nothing.
fn ambiguous(code: &str) -> bool {
    matches!(
        code,
        "TimeoutError"
            | "DispatchFailure"
            | "ClientError"
            | "InternalError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "Unavailable"
    )
}

/// See [`StepCx::token`].
pub fn idempotency_token(stack: &str, generation: &str, key: &str, epoch: u32) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{stack}|{generation}|{key}|{epoch}"));
    format!("moodlectl-{}", &hex::encode(h)[..26])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_fit_every_api_and_change_after_a_delete() {
        let t = idempotency_token("moodle", "ab12", "nat/a", 0);
        // ECS clientToken ≤ 36, Secrets Manager ClientRequestToken ≥ 32.
        assert_eq!(t.len(), 36);
        assert!(t.is_ascii());
        assert_eq!(t, idempotency_token("moodle", "ab12", "nat/a", 0), "stable");
        assert_ne!(t, idempotency_token("moodle", "ab12", "nat/a", 1), "rotated by a delete");
        assert_ne!(t, idempotency_token("moodle", "ab12", "nat/b", 0));
        assert_ne!(t, idempotency_token("moodle", "cd34", "nat/a", 0));
    }

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
