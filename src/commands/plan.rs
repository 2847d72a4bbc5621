//! `moodlectl plan`: what `up` would change, from read-only calls.
//!
//! It runs every step's `ensure` in dry-run mode: the same lookups and
//! comparisons `up` makes, minus the mutating calls. Under the changes it
//! prints the monthly cost estimate and what the change adds to it
//! (`commands::cost`).

use super::{context, inputs, print_table, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::engine::{run as run_graph, Direction, Outcome, StepId};
use crate::error::exit;
use crate::report::Collect;
use crate::resources::Options;
use std::io::Write;
use std::sync::Arc;

pub async fn run(cli: &Cli) -> CmdResult {
    let inp = inputs(cli)?;
    let Preview { rows, json, counts: (create, update, same), applied } = preview(cli, inp.clone(), "plan").await?;
    // Like Infracost beside `terraform plan`: what the change does to the bill.
    let cost = super::cost::plan_cost(&inp, applied).await;
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema": "moodlectl.plan/v1",
                "steps": json,
                "summary": {"create": create, "update": update, "unchanged": same},
                "cost": cost.json(),
            }))
            .unwrap()
        ),
        OutputFormat::Text => {
            let mut out = std::io::stdout().lock();
            print_plan(&mut out, &rows, (create, update, same), crate::report::color_stdout());
            let _ = writeln!(out);
            cost.print(&mut out, cli.verbose > 0);
        }
    }
    Ok(if create + update > 0 { exit::CHANGES_PENDING } else { exit::OK })
}

/// What a dry run found.
pub struct Preview {
    /// Table rows (changes only unless `-v`).
    pub rows: Vec<Vec<String>>,
    /// Every step, as JSON.
    pub json: Vec<serde_json::Value>,
    /// (create, update, unchanged).
    pub counts: (usize, usize, usize),
    /// The shape the last complete `up` built, from the same read of the state.
    pub applied: Option<serde_json::Value>,
}

/// What `up` would change, from a dry run on a read-only copy of the state.
/// `up` shows it before asking; `cmd` names the command in an error.
pub async fn preview(cli: &Cli, inp: super::Inputs, cmd: &str) -> Result<Preview, super::CmdError> {
    let state = super::open_state(&inp, false).await?;
    let applied = state.applied();
    let ctx = context(inp, state, Arc::new(Collect::default()), true, Options::default()).await;
    let steps = crate::resources::graph();
    let report = run_graph(&steps, ctx.clone(), Direction::Up, cli.parallelism()).await;
    if !report.ok() {
        return Err(super::up::failure(cmd, &report, None));
    }
    // Keep the graph's declaration order for a stable listing.
    let order: Vec<StepId> = steps.nodes().iter().map(|n| n.id).collect();
    let mut results: Vec<_> = report.results.iter().collect();
    results.sort_by_key(|r| order.iter().position(|o| *o == r.id));
    let (mut create, mut update, mut same) = (0, 0, 0);
    let mut rows = vec![];
    let mut json = vec![];
    for r in results {
        let Ok(o) = &r.result else { continue };
        let (sym, action) = match o {
            Outcome::Created => {
                create += 1;
                ("+", "create")
            }
            Outcome::Updated(_) => {
                update += 1;
                ("~", "update")
            }
            _ => {
                same += 1;
                ("=", "unchanged")
            }
        };
        let mut changes = o.changes();
        changes.extend(r.notes.iter().map(|n| format!("adopt: {n}")));
        // Like Terraform, the unchanged are counted, not listed (`-v` lists them).
        if action != "unchanged" || cli.verbose > 0 {
            rows.push(vec![sym.to_string(), r.id.to_string(), action.to_string(), changes.join("; ")]);
        }
        let changes: Vec<serde_json::Value> = changes.iter().map(|c| structured(c)).collect();
        json.push(serde_json::json!({"step": r.id, "action": action, "changes": changes}));
    }
    Ok(Preview { rows, json, counts: (create, update, same), applied })
}

/// The plan as a person reads it (stdout for `plan`, stderr before `up` asks).
pub fn print_plan(
    out: &mut dyn Write,
    rows: &[Vec<String>],
    (create, update, same): (usize, usize, usize),
    paint: bool,
) {
    if !rows.is_empty() {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut r = r.clone();
                let code = if r[0] == "+" {
                    "32"
                } else if r[0] == "~" {
                    "33"
                } else {
                    "2"
                };
                if paint {
                    r[0] = format!("\x1b[{code}m{}\x1b[0m", r[0]);
                }
                r
            })
            .collect();
        print_table(out, &["", "STEP", "ACTION", "CHANGES"], &rows);
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Plan: {create} to create, {update} to update, {same} unchanged.");
    if create + update == 0 {
        let _ = writeln!(out, "No changes: the stack matches the configuration.");
    }
}

/// A change line as data: `field: old → new` (how steps describe an update)
/// becomes `{field, old, new}`; anything else (an adoption, a rule added) is
/// `{description}`.
fn structured(change: &str) -> serde_json::Value {
    let parsed = change.split_once(": ").and_then(|(field, rest)| {
        let (old, new) = rest.split_once(" → ")?;
        Some(serde_json::json!({"field": field, "old": old, "new": new}))
    });
    parsed.unwrap_or_else(|| serde_json::json!({"description": change}))
}
