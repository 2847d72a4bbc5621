//! The step engine: a dependency graph of idempotent steps run concurrently.
//!
//! `up` starts every step whose dependencies are done (bounded parallelism),
//! so independent work overlaps: the NAT gateways wait beside the interface
//! endpoints, the database beside the cache. `down` walks the reverse graph
//! the same way, so a resource is destroyed only after everything that uses
//! it is gone (NAT gateways and endpoints before subnets, subnets before the
//! VPC). On a failure no new step starts; running ones finish; state is
//! already saved (every ID is recorded as it is created), so rerunning
//! resumes.
//!
//! `plan` and `status` run the same `ensure` code with `dry_run` set: the step
//! performs its reads, and returns the outcome it *would* have, without any
//! mutating call.

use crate::aws::Aws;
use crate::config::Config;
use crate::error::StepError;
use crate::report::{Event, Reporter};
use crate::state::{Resource, StateStore};
use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// What a step did (or, in dry-run, would do).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Created,
    Updated(Vec<String>),
    Unchanged,
    Deleted,
    AlreadyAbsent,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated(_) => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
            Outcome::AlreadyAbsent => "already absent",
        }
    }
    pub fn changes(&self) -> Vec<String> {
        match self {
            Outcome::Updated(c) => c.clone(),
            _ => vec![],
        }
    }
    /// Combine the outcomes of the resources one step manages.
    pub fn merge(self, other: Outcome) -> Outcome {
        use Outcome::*;
        match (self, other) {
            (Created, _) | (_, Created) => Created,
            (Updated(mut a), Updated(b)) => {
                a.extend(b);
                Updated(a)
            }
            (Updated(a), _) | (_, Updated(a)) => Updated(a),
            (Deleted, _) | (_, Deleted) => Deleted,
            (Unchanged, _) | (_, Unchanged) => Unchanged,
            (AlreadyAbsent, AlreadyAbsent) => AlreadyAbsent,
        }
    }
}

/// A field-level change for `plan` (`name: old → new`).
pub fn change(field: &str, old: impl std::fmt::Display, new: impl std::fmt::Display) -> String {
    format!("{field}: {old} → {new}")
}

/// One row of `status`.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Inspection {
    pub tier: String,
    pub kind: String,
    pub name: String,
    pub id: Option<String>,
    pub state: String,
    pub healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

impl Inspection {
    pub fn new(
        kind: &str,
        name: impl Into<String>,
        id: Option<String>,
        state: impl Into<String>,
        healthy: bool,
    ) -> Self {
        Inspection {
            tier: String::new(),
            kind: kind.into(),
            name: name.into(),
            id,
            state: state.into(),
            healthy,
            drift: None,
            details: BTreeMap::new(),
        }
    }
    /// A resource recorded in state that no longer exists.
    pub fn missing(kind: &str, name: impl Into<String>, id: Option<String>) -> Self {
        let mut i = Inspection::new(kind, name, id, "missing", false);
        i.drift = Some("in state but gone".into());
        i
    }
    pub fn detail(mut self, k: &str, v: impl Into<String>) -> Self {
        self.details.insert(k.into(), v.into());
        self
    }
}

#[async_trait]
pub trait Step: Send + Sync {
    /// Stable identifier, `tier.name`; also the benchmark's graph node.
    fn id(&self) -> &'static str;
    fn deps(&self) -> &'static [&'static str];
    /// Find (by recorded ID, then by tag), create if missing, update if changed.
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError>;
    /// Delete; not-found is success.
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError>;
    /// Live state of the step's resources, for `status`.
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError>;
}

pub fn tier_of(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

/// Options that change what steps do.
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
    pub id: &'static str,
    notes: Mutex<Vec<String>>,
}

impl std::ops::Deref for StepCx {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

impl StepCx {
    pub fn new(ctx: Arc<Ctx>, id: &'static str) -> Self {
        StepCx {
            ctx,
            id,
            notes: Mutex::new(vec![]),
        }
    }

    pub fn progress(&self, message: impl Into<String>) {
        self.reporter.emit(&Event::StepProgress {
            step: self.id.to_string(),
            message: message.into(),
        });
    }

    /// Record a resource in state (no-op in dry-run). A resource found by tag
    /// that was not in state is "adopted", which `status` reports as drift.
    pub fn record(&self, key: &str, res: Resource) -> Result<(), StepError> {
        if self.state.get(key).map(|r| r.id) != Some(res.id.clone()) {
            self.note(format!("{key} not in state (found by tag)"));
        }
        // In dry-run the store is read-only: this updates memory only, so
        // downstream steps of a plan see what was found.
        self.state
            .record(key, res)
            .map_err(|e| StepError::State(e.to_string()))
    }

    /// Record a resource this step just created (no adoption note).
    pub fn record_new(&self, key: &str, res: Resource) -> Result<(), StepError> {
        self.created.insert(key);
        self.state
            .record(key, res)
            .map_err(|e| StepError::State(e.to_string()))
    }

    pub fn forget(&self, key: &str) -> Result<(), StepError> {
        if self.dry_run {
            return Ok(());
        }
        self.state
            .forget(key)
            .map_err(|e| StepError::State(e.to_string()))
    }

    /// ID recorded by a step this one depends on.
    pub fn require(&self, key: &str, step: &'static str) -> Result<String, StepError> {
        self.state.id(key).ok_or(StepError::MissingDependency {
            step,
            what: key.to_string(),
        })
    }

    pub fn require_attr(
        &self,
        key: &str,
        attr: &str,
        step: &'static str,
    ) -> Result<String, StepError> {
        self.state
            .get(key)
            .and_then(|r| r.attrs.get(attr).cloned())
            .ok_or(StepError::MissingDependency {
                step,
                what: format!("{key}.{attr}"),
            })
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
        let h = Sha256::digest(format!(
            "{}|{}|{}",
            self.cfg.stack.name,
            self.state.generation(),
            key
        ));
        format!("moodlectl-{}", &hex::encode(h)[..40])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// The result of one step in a run.
#[derive(Debug)]
pub struct StepResult {
    pub id: &'static str,
    pub result: Result<Outcome, StepError>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct RunReport {
    pub results: Vec<StepResult>,
    pub skipped: Vec<&'static str>,
    pub elapsed: Duration,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.skipped.is_empty() && self.results.iter().all(|r| r.result.is_ok())
    }
    pub fn failures(&self) -> impl Iterator<Item = (&'static str, &StepError)> {
        self.results
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|e| (r.id, e)))
    }
    pub fn changed(&self) -> Vec<&StepResult> {
        self.results
            .iter()
            .filter(|r| {
                matches!(
                    r.result,
                    Ok(Outcome::Created | Outcome::Updated(_) | Outcome::Deleted)
                )
            })
            .collect()
    }
}

/// Check the graph: unique ids, known deps, no cycles. Panics are for us, not users.
pub fn validate_graph(steps: &[Arc<dyn Step>]) -> Result<(), String> {
    let ids: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.id(), i)).collect();
    if ids.len() != steps.len() {
        return Err("duplicate step id".into());
    }
    for s in steps {
        for d in s.deps() {
            if !ids.contains_key(d) {
                return Err(format!("step {} depends on unknown step {d}", s.id()));
            }
        }
    }
    // Kahn's algorithm: every node must be reached.
    let mut indeg: Vec<usize> = steps.iter().map(|s| s.deps().len()).collect();
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&i| indeg[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for (j, s) in steps.iter().enumerate() {
            if s.deps().contains(&steps[i].id()) {
                indeg[j] -= 1;
                if indeg[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    if seen != steps.len() {
        return Err("dependency cycle".into());
    }
    Ok(())
}

/// Run `steps` in `dir` order with at most `parallelism` at once.
pub async fn run(
    steps: &[Arc<dyn Step>],
    ctx: Arc<Ctx>,
    dir: Direction,
    parallelism: usize,
) -> RunReport {
    let start = Instant::now();
    let n = steps.len();
    let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.id(), i)).collect();
    // preds[i]: what must finish before i; succs[i]: what i unblocks.
    let mut preds: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, s) in steps.iter().enumerate() {
        for d in s.deps() {
            let j = index[d];
            match dir {
                Direction::Up => preds[i].push(j),
                Direction::Down => preds[j].push(i),
            }
        }
    }
    let mut succs: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, p) in preds.iter().enumerate() {
        for &j in p {
            succs[j].push(i);
        }
    }
    let mut waiting: Vec<usize> = preds.iter().map(|p| p.len()).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    // Start in declaration order: it puts the slow, critical-path steps first.
    ready.reverse();
    let mut started = vec![false; n];
    let mut running = FuturesUnordered::new();
    let mut results = Vec::new();
    let mut failed = false;

    loop {
        while !failed && running.len() < parallelism.max(1) {
            let Some(i) = ready.pop() else { break };
            started[i] = true;
            let step = steps[i].clone();
            let ctx = ctx.clone();
            ctx.reporter.emit(&Event::StepStarted {
                step: step.id().to_string(),
            });
            // The span names the step on every log line its calls emit.
            let span = tracing::info_span!("step", id = step.id());
            running.push(tokio::spawn(
                async move {
                    let t = Instant::now();
                    let cx = StepCx::new(ctx, step.id());
                    let result = match dir {
                        Direction::Up => step.ensure(&cx).await,
                        Direction::Down => step.destroy(&cx).await,
                    };
                    (i, result, cx.notes(), t.elapsed())
                }
                .instrument(span),
            ));
        }
        let Some(joined) = running.next().await else {
            break;
        };
        let (i, result, notes, elapsed) = match joined {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let id = steps[i].id();
        match &result {
            Ok(o) => {
                ctx.reporter.emit(&Event::StepFinished {
                    step: id.into(),
                    outcome: o.label().into(),
                    changes: o.changes(),
                    elapsed_ms: elapsed.as_millis() as u64,
                });
                for &s in &succs[i] {
                    waiting[s] -= 1;
                    if waiting[s] == 0 {
                        ready.push(s);
                    }
                }
            }
            Err(e) => {
                failed = true;
                ctx.reporter.emit(&Event::StepFailed {
                    step: id.into(),
                    error: e.to_string(),
                    code: e.code().map(str::to_string),
                    hint: e.hint().map(str::to_string),
                    elapsed_ms: elapsed.as_millis() as u64,
                });
            }
        }
        results.push(StepResult {
            id,
            result,
            notes,
            elapsed,
        });
    }
    let skipped: Vec<&'static str> = (0..n)
        .filter(|&i| !started[i])
        .map(|i| steps[i].id())
        .collect();
    for s in &skipped {
        ctx.reporter.emit(&Event::StepSkipped {
            step: s.to_string(),
            reason: if failed {
                "an earlier step failed".into()
            } else {
                "dependency not done".into()
            },
        });
    }
    RunReport {
        results,
        skipped,
        elapsed: start.elapsed(),
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

    #[test]
    fn merge_prefers_the_strongest_change() {
        use Outcome::*;
        assert_eq!(Unchanged.merge(Created), Created);
        assert_eq!(
            Updated(vec!["a".into()]).merge(Updated(vec!["b".into()])),
            Updated(vec!["a".into(), "b".into()])
        );
        assert_eq!(AlreadyAbsent.merge(Deleted), Deleted);
        assert_eq!(AlreadyAbsent.merge(AlreadyAbsent), AlreadyAbsent);
        assert_eq!(Unchanged.merge(AlreadyAbsent), Unchanged);
    }
}
