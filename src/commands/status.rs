//! `moodlectl status`: live state of every resource and drift against the
//! state file and the config.
//!
//! Two read-only passes run concurrently: every step's `inspect` (live state
//! per resource) and a dry-run `ensure` over the graph (settings changed
//! outside moodlectl show up as the update `up` would make; resources found
//! only by tag show up as untracked).

use super::{context, inputs, print_table, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::engine::{run as run_graph, tier_of, Direction, Inspection, Options, Outcome, StepCx};
use crate::error::exit;
use crate::report::Collect;
use crate::state::StateStore;
use futures::future::join_all;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
pub struct StatusDoc {
    pub schema: &'static str,
    pub stack: String,
    pub region: String,
    pub healthy: bool,
    pub summary: Summary,
    pub resources: Vec<Inspection>,
}

#[derive(Serialize)]
pub struct Summary {
    pub resources: usize,
    pub unhealthy: usize,
    pub drifted: usize,
    pub errors: Vec<String>,
}

pub async fn run(cli: &Cli) -> CmdResult {
    let inp = inputs(cli)?;
    let state = StateStore::open(&inp.state_path, &inp.cfg.stack.name, &inp.cfg.stack.region, false)?;
    let ctx = context(inp, state, Arc::new(Collect::default()), true, Options::default()).await;
    let steps = crate::resources::steps();
    let inspections = join_all(steps.iter().map(|s| {
        let cx = StepCx::new(ctx.clone(), s.id());
        let s = s.clone();
        async move { (s.id(), s.inspect(&cx).await) }
    }));
    let (inspected, plan) = tokio::join!(inspections, run_graph(&steps, ctx.clone(), Direction::Up, cli.parallelism as usize));
    let mut rows: Vec<Inspection> = vec![];
    let mut errors = vec![];
    for (id, r) in inspected {
        match r {
            Ok(mut v) => {
                for i in &mut v {
                    i.tier = tier_of(id).to_string();
                }
                // Step-level drift from the dry run goes on the step's first row.
                if let Some(res) = plan.results.iter().find(|p| p.id == id) {
                    let mut drift = vec![];
                    if let Ok(Outcome::Updated(c)) = &res.result {
                        drift.extend(c.iter().cloned());
                    }
                    drift.extend(res.notes.iter().cloned());
                    if let (Some(first), false) = (v.first_mut(), drift.is_empty()) {
                        let joined = drift.join("; ");
                        first.drift = Some(match first.drift.take() {
                            Some(d) if !joined.contains(&d) => format!("{d}; {joined}"),
                            _ => joined,
                        });
                    }
                }
                rows.extend(v);
            }
            Err(e) => errors.push(format!("{id}: {e}")),
        }
    }
    let unhealthy = rows.iter().filter(|r| !r.healthy).count();
    let drifted = rows.iter().filter(|r| r.drift.is_some()).count();
    let healthy = unhealthy == 0 && drifted == 0 && errors.is_empty();
    let doc = StatusDoc {
        schema: "moodlectl.status/v1",
        stack: ctx.cfg.stack.name.clone(),
        region: ctx.cfg.stack.region.clone(),
        healthy,
        summary: Summary { resources: rows.len(), unhealthy, drifted, errors: errors.clone() },
        resources: rows,
    };
    match cli.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&doc).expect("status serialises")),
        OutputFormat::Text => {
            let table: Vec<Vec<String>> = doc
                .resources
                .iter()
                .map(|r| {
                    vec![
                        r.tier.clone(),
                        r.kind.clone(),
                        r.name.clone(),
                        r.id.clone().unwrap_or_else(|| "-".into()),
                        r.state.clone(),
                        r.drift.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print_table(&["TIER", "KIND", "NAME", "ID", "STATE", "DRIFT"], &table);
            println!(
                "\n{}: {} resources, {} unhealthy, {} drifted",
                if healthy { "healthy" } else { "DEGRADED" },
                doc.summary.resources,
                unhealthy,
                drifted
            );
            for e in &errors {
                eprintln!("error: {e}");
            }
        }
    }
    Ok(if healthy { exit::OK } else { exit::DEGRADED })
}
