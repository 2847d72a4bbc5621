//! `moodlectl plan`: what `up` would change, from read-only calls.
//!
//! It runs every step's `ensure` in dry-run mode: the same lookups and
//! comparisons `up` makes, minus the mutating calls.

use super::{context, inputs, print_table, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::engine::{run as run_graph, Direction, Outcome, StepId};
use crate::error::exit;
use crate::report::Collect;
use crate::resources::Options;
use std::sync::Arc;

pub async fn run(cli: &Cli) -> CmdResult {
    let inp = inputs(cli)?;
    let state = super::open_state(&inp, false).await?;
    let ctx = context(inp, state, Arc::new(Collect::default()), true, Options::default()).await;
    let steps = crate::resources::graph();
    let report = run_graph(&steps, ctx.clone(), Direction::Up, cli.parallelism as usize).await;
    if !report.ok() {
        return Err(super::up::failure("plan", &report, &ctx.state.path().display().to_string()));
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
        rows.push(vec![sym.to_string(), r.id.to_string(), action.to_string(), changes.join("; ")]);
        json.push(serde_json::json!({"step": r.id, "action": action, "changes": changes}));
    }
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema": "moodlectl.plan/v1",
                "steps": json,
                "summary": {"create": create, "update": update, "unchanged": same}
            }))
            .unwrap()
        ),
        OutputFormat::Text => {
            print_table(&["", "STEP", "ACTION", "CHANGES"], &rows);
            println!("\nPlan: {create} to create, {update} to update, {same} unchanged.");
        }
    }
    Ok(if create + update > 0 { exit::CHANGES_PENDING } else { exit::OK })
}
