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
//! `plan` and `status` run the same `ensure` code with a dry-run context: the
//! step performs its reads, and returns the outcome it *would* have, without
//! any mutating call.
//!
//! The engine knows nothing of AWS: it is generic over the context its steps
//! receive ([`Context`]), and the stack's steps, clients and options live in
//! `crate::resources`. What it does know is the graph: step IDs are
//! [`StepId`] constants declared once (`crate::resources::ids`), and a
//! [`Graph`] is checked when it is built (unique IDs, known dependencies, no
//! cycle), so a misspelt dependency cannot reach a run.

use crate::error::StepError;
use crate::report::{Event, Reporter};
use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// A step's stable identifier, `tier.name`: in events, `plan`, `status` and
/// the benchmark's graph. Only [`StepId::new`] makes one, in a `const`, so
/// every ID is written once and referred to by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(&'static str);

impl StepId {
    pub const fn new(id: &'static str) -> StepId {
        StepId(id)
    }
    pub fn as_str(self) -> &'static str {
        self.0
    }
    /// The tier: what comes before the dot.
    pub fn tier(self) -> &'static str {
        self.0.split('.').next().unwrap_or(self.0)
    }
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for StepId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

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
    /// `Unchanged` when there is nothing to change, `Updated` otherwise.
    pub fn of_changes(changes: Vec<String>) -> Self {
        if changes.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Updated(changes)
        }
    }
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
    /// Not found. Drift only when the state recorded it: a resource never
    /// created (or deleted by `down`) is absent, not gone behind our back.
    pub fn missing(kind: &str, name: impl Into<String>, id: Option<String>) -> Self {
        let recorded = id.is_some();
        let mut i = Inspection::new(kind, name, id, if recorded { "missing" } else { "absent" }, false);
        if recorded {
            i.drift = Some("in state but gone".into());
        }
        i
    }
    /// Found live (not `missing`/`absent`).
    pub fn exists(&self) -> bool {
        !matches!(self.state.as_str(), "missing" | "absent")
    }
    /// The found resource's ID, state and health.
    pub fn status(mut self, id: Option<&str>, state: impl Into<String>, healthy: bool) -> Self {
        if let Some(id) = id {
            self.id = Some(id.to_string());
        }
        self.state = state.into();
        self.healthy = healthy;
        self
    }
    pub fn detail(mut self, k: &str, v: impl Into<String>) -> Self {
        self.details.insert(k.into(), v.into());
        self
    }
}

/// A resource (or a few of one kind) and its whole lifecycle. `Cx` is what
/// the step receives: the engine never looks inside.
#[async_trait]
pub trait Step<Cx>: Send + Sync {
    /// Find (by recorded ID, then by tag), create if missing, update if changed.
    async fn ensure(&self, cx: &Cx) -> Result<Outcome, StepError>;
    /// Delete; not-found is success.
    async fn destroy(&self, cx: &Cx) -> Result<Outcome, StepError>;
    /// Live state of the step's resources, for `status`.
    async fn inspect(&self, cx: &Cx) -> Result<Vec<Inspection>, StepError>;
    /// Refuse a `down` before anything is deleted (a database with deletion
    /// protection): every step's guard runs, and must pass, before the first
    /// `destroy`. Otherwise `down` would take the site apart around a
    /// database it then cannot delete.
    async fn guard_destroy(&self, _cx: &Cx) -> Result<(), StepError> {
        Ok(())
    }
}

/// A step in the graph: its ID, what must be done before it, and the step.
/// The stack lists its nodes in one table (`resources::steps`).
pub struct Node<Cx: 'static> {
    pub id: StepId,
    pub deps: &'static [StepId],
    pub step: &'static (dyn Step<Cx> + 'static),
}

impl<Cx> Clone for Node<Cx> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<Cx> Copy for Node<Cx> {}

/// What a run needs from its context: a per-step view for each step it
/// starts, the notes that view collected, and where events go.
pub trait Context: Send + Sync + 'static {
    type StepCx: Send + Sync + 'static;
    fn for_step(self: &Arc<Self>, id: StepId) -> Self::StepCx;
    /// Notes a step left for the run's report (adoptions, …).
    fn notes(cx: &Self::StepCx) -> Vec<String>;
    fn reporter(&self) -> &dyn Reporter;
}

/// A validated graph: unique IDs, every dependency a step of the graph, no
/// cycle. The only way to a run.
#[derive(Clone)]
pub struct Graph<Cx: 'static> {
    nodes: Vec<Node<Cx>>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("step {0} is declared twice")]
    Duplicate(StepId),
    #[error("step {step} depends on {dep}, which is not a step of the graph")]
    UnknownDependency { step: StepId, dep: StepId },
    #[error("the steps {0:?} depend on each other in a cycle")]
    Cycle(Vec<StepId>),
}

impl<Cx> Graph<Cx> {
    pub fn new(nodes: Vec<Node<Cx>>) -> Result<Graph<Cx>, GraphError> {
        let mut ids: HashMap<StepId, usize> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if ids.insert(n.id, i).is_some() {
                return Err(GraphError::Duplicate(n.id));
            }
        }
        for n in &nodes {
            if let Some(&dep) = n.deps.iter().find(|d| !ids.contains_key(*d)) {
                return Err(GraphError::UnknownDependency { step: n.id, dep });
            }
        }
        // Kahn's algorithm: every node must be reached.
        let mut indeg: Vec<usize> = nodes.iter().map(|n| n.deps.len()).collect();
        let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| indeg[i] == 0).collect();
        let mut reached = vec![false; nodes.len()];
        while let Some(i) = ready.pop() {
            reached[i] = true;
            for (j, n) in nodes.iter().enumerate() {
                if n.deps.contains(&nodes[i].id) {
                    indeg[j] -= 1;
                    if indeg[j] == 0 {
                        ready.push(j);
                    }
                }
            }
        }
        let stuck: Vec<StepId> = (0..nodes.len()).filter(|&i| !reached[i]).map(|i| nodes[i].id).collect();
        if !stuck.is_empty() {
            return Err(GraphError::Cycle(stuck));
        }
        Ok(Graph { nodes })
    }

    pub fn nodes(&self) -> &[Node<Cx>] {
        &self.nodes
    }

    pub fn get(&self, id: StepId) -> Option<&Node<Cx>> {
        self.nodes.iter().find(|n| n.id == id)
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
    pub id: StepId,
    pub result: Result<Outcome, StepError>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct RunReport {
    pub results: Vec<StepResult>,
    pub skipped: Vec<StepId>,
    pub elapsed: Duration,
}

impl RunReport {
    pub fn ok(&self) -> bool {
        self.skipped.is_empty() && self.results.iter().all(|r| r.result.is_ok())
    }
    pub fn failures(&self) -> impl Iterator<Item = (StepId, &StepError)> {
        self.results.iter().filter_map(|r| r.result.as_ref().err().map(|e| (r.id, e)))
    }
    pub fn changed(&self) -> Vec<&StepResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.result, Ok(Outcome::Created | Outcome::Updated(_) | Outcome::Deleted)))
            .collect()
    }
}

/// Run the graph in `dir` order with at most `parallelism` steps at once.
pub async fn run<C: Context>(graph: &Graph<C::StepCx>, ctx: Arc<C>, dir: Direction, parallelism: usize) -> RunReport {
    let nodes = graph.nodes();
    let start = Instant::now();
    let n = nodes.len();
    if dir == Direction::Down {
        if let Some(refused) = guards(nodes, &ctx, parallelism).await {
            let skipped: Vec<StepId> = nodes.iter().map(|s| s.id).filter(|id| *id != refused.id).collect();
            for s in &skipped {
                ctx.reporter().emit(&Event::StepSkipped {
                    step: s.to_string(),
                    reason: "nothing is deleted while a step refuses".into(),
                });
            }
            return RunReport { results: vec![refused], skipped, elapsed: start.elapsed() };
        }
    }
    let index: HashMap<StepId, usize> = nodes.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    // preds[i]: what must finish before i; succs[i]: what i unblocks.
    let mut preds: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, s) in nodes.iter().enumerate() {
        for d in s.deps {
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
            let Node { id, step, .. } = nodes[i];
            ctx.reporter().emit(&Event::StepStarted { step: id.to_string() });
            let cx = ctx.for_step(id);
            // The span names the step on every log line its calls emit.
            let span = tracing::info_span!("step", id = id.as_str());
            let task = tokio::spawn(
                async move {
                    let t = Instant::now();
                    let result = match dir {
                        Direction::Up => step.ensure(&cx).await,
                        // What a step makes needs what its dependencies made:
                        // when one of those was never created (an `up` that
                        // failed early), the step has nothing to delete.
                        Direction::Down => match step.destroy(&cx).await {
                            Err(StepError::MissingDependency { .. }) => Ok(Outcome::AlreadyAbsent),
                            r => r,
                        },
                    };
                    (result, C::notes(&cx), t.elapsed())
                }
                .instrument(span),
            );
            running.push(async move { (i, task.await) });
        }
        let Some((i, joined)) = running.next().await else {
            break;
        };
        let id = nodes[i].id;
        let (result, notes, elapsed) = match joined {
            Ok(v) => v,
            // A step's panic is that step's failure: the run stops like for
            // any other failure, with the state saved.
            Err(e) => (Err(StepError::Panicked(panic_message(e))), vec![], Duration::ZERO),
        };
        match &result {
            Ok(o) => {
                ctx.reporter().emit(&Event::StepFinished {
                    step: id.to_string(),
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
                emit_failure(ctx.reporter(), id, e, elapsed);
            }
        }
        results.push(StepResult { id, result, notes, elapsed });
    }
    let skipped: Vec<StepId> = (0..n).filter(|&i| !started[i]).map(|i| nodes[i].id).collect();
    for s in &skipped {
        ctx.reporter().emit(&Event::StepSkipped {
            step: s.to_string(),
            reason: if failed { "an earlier step failed".into() } else { "dependency not done".into() },
        });
    }
    RunReport { results, skipped, elapsed: start.elapsed() }
}

/// Every step's [`Step::guard_destroy`], `parallelism` at a time; the first
/// refusal (reported as that step's failure), if any.
async fn guards<C: Context>(nodes: &[Node<C::StepCx>], ctx: &Arc<C>, parallelism: usize) -> Option<StepResult> {
    let checks = futures::stream::iter(nodes.iter().map(|node| {
        let cx = ctx.for_step(node.id);
        async move {
            let t = Instant::now();
            node.step.guard_destroy(&cx).await.err().map(|e| (node.id, e, t.elapsed()))
        }
    }))
    .buffer_unordered(parallelism.max(1))
    .filter_map(|r| async move { r });
    futures::pin_mut!(checks);
    let (id, e, elapsed) = checks.next().await?;
    emit_failure(ctx.reporter(), id, &e, elapsed);
    Some(StepResult { id, result: Err(e), notes: vec![], elapsed })
}

fn emit_failure(rep: &dyn Reporter, id: StepId, e: &StepError, elapsed: Duration) {
    rep.emit(&Event::StepFailed {
        step: id.to_string(),
        error: e.to_string(),
        code: e.code().map(str::to_string),
        hint: e.hint().map(str::to_string),
        elapsed_ms: elapsed.as_millis() as u64,
    });
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S;

    #[async_trait]
    impl Step<()> for S {
        async fn ensure(&self, _: &()) -> Result<Outcome, StepError> {
            Ok(Outcome::Unchanged)
        }
        async fn destroy(&self, _: &()) -> Result<Outcome, StepError> {
            Ok(Outcome::AlreadyAbsent)
        }
        async fn inspect(&self, _: &()) -> Result<Vec<Inspection>, StepError> {
            Ok(vec![])
        }
    }

    const A: StepId = StepId::new("t.a");
    const B: StepId = StepId::new("t.b");
    const C: StepId = StepId::new("t.c");

    fn graph(nodes: &[(StepId, &'static [StepId])]) -> Result<Graph<()>, GraphError> {
        Graph::new(nodes.iter().map(|&(id, deps)| Node { id, deps, step: &S }).collect())
    }

    #[test]
    fn a_graph_is_checked_when_it_is_built() {
        assert!(graph(&[(A, &[]), (B, &[A]), (C, &[A, B])]).is_ok());
        assert_eq!(graph(&[(A, &[]), (A, &[])]).err(), Some(GraphError::Duplicate(A)));
        assert_eq!(graph(&[(A, &[C])]).err(), Some(GraphError::UnknownDependency { step: A, dep: C }));
        assert_eq!(graph(&[(A, &[]), (B, &[C]), (C, &[B])]).err(), Some(GraphError::Cycle(vec![B, C])));
        assert_eq!(C.tier(), "t");
    }

    #[test]
    fn merge_prefers_the_strongest_change() {
        use Outcome::*;
        assert_eq!(Unchanged.merge(Created), Created);
        assert_eq!(Updated(vec!["a".into()]).merge(Updated(vec!["b".into()])), Updated(vec!["a".into(), "b".into()]));
        assert_eq!(AlreadyAbsent.merge(Deleted), Deleted);
        assert_eq!(AlreadyAbsent.merge(AlreadyAbsent), AlreadyAbsent);
        assert_eq!(Unchanged.merge(AlreadyAbsent), Unchanged);
    }

    /// A step whose destroy needs an ID its dependency never recorded.
    struct NeedsParent;

    #[async_trait]
    impl Step<()> for NeedsParent {
        async fn ensure(&self, _: &()) -> Result<Outcome, StepError> {
            Err(StepError::MissingDependency { step: A, what: "parent".into() })
        }
        async fn destroy(&self, _: &()) -> Result<Outcome, StepError> {
            Err(StepError::MissingDependency { step: A, what: "parent".into() })
        }
        async fn inspect(&self, _: &()) -> Result<Vec<Inspection>, StepError> {
            Ok(vec![])
        }
    }

    struct Ctx(crate::report::Collect);

    impl Context for Ctx {
        type StepCx = ();
        fn for_step(self: &Arc<Self>, _: StepId) {}
        fn notes(_: &()) -> Vec<String> {
            vec![]
        }
        fn reporter(&self) -> &dyn Reporter {
            &self.0
        }
    }

    /// A step that counts the deletes it saw, and may refuse to be deleted.
    struct Counting(std::sync::atomic::AtomicUsize, bool);

    #[async_trait]
    impl Step<()> for Counting {
        async fn ensure(&self, _: &()) -> Result<Outcome, StepError> {
            Ok(Outcome::Unchanged)
        }
        async fn destroy(&self, _: &()) -> Result<Outcome, StepError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Outcome::Deleted)
        }
        async fn inspect(&self, _: &()) -> Result<Vec<Inspection>, StepError> {
            Ok(vec![])
        }
        async fn guard_destroy(&self, _: &()) -> Result<(), StepError> {
            if self.1 {
                return Err(StepError::Refused("protected".into()));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn down_deletes_nothing_while_a_guard_refuses() {
        // B depends on A, so B would be deleted first; A refuses.
        static A_STEP: Counting = Counting(std::sync::atomic::AtomicUsize::new(0), true);
        static B_STEP: Counting = Counting(std::sync::atomic::AtomicUsize::new(0), false);
        let g = Graph::new(vec![Node { id: A, deps: &[], step: &A_STEP }, Node { id: B, deps: &[A], step: &B_STEP }])
            .unwrap();
        let down = run(&g, Arc::new(Ctx(crate::report::Collect(Default::default()))), Direction::Down, 2).await;
        assert!(!down.ok());
        assert_eq!(down.failures().map(|(id, _)| id).collect::<Vec<_>>(), [A]);
        assert_eq!(down.skipped, [B]);
        let deletes = |c: &Counting| c.0.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!((deletes(&A_STEP), deletes(&B_STEP)), (0, 0), "nothing deleted");
    }

    #[tokio::test]
    async fn down_counts_a_step_whose_dependencies_were_never_created_as_absent() {
        let g = Graph::new(vec![Node { id: A, deps: &[], step: &S }, Node { id: B, deps: &[A], step: &NeedsParent }])
            .unwrap();
        let ctx = Arc::new(Ctx(crate::report::Collect(Default::default())));
        let up = run(&g, ctx.clone(), Direction::Up, 2).await;
        assert!(!up.ok(), "up still fails on a missing dependency");
        let down = run(&g, ctx, Direction::Down, 2).await;
        assert!(down.ok(), "{:?}", down.failures().collect::<Vec<_>>());
        let b = down.results.iter().find(|r| r.id == B).unwrap();
        assert_eq!(b.result.as_ref().ok(), Some(&Outcome::AlreadyAbsent));
    }
}
