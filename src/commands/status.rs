//! `moodlectl status`: live state of every resource and drift against the
//! state file and the config.
//!
//! Two read-only passes run concurrently: every step's `inspect` (live state
//! per resource) and a dry-run `ensure` over the graph (settings changed
//! outside moodlectl show up as the update `up` would make; resources found
//! only by tag show up as untracked).

use super::{context, inputs, print_table, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::engine::{run as run_graph, Context, Direction, Inspection, Outcome, StepId};
use crate::error::exit;
use crate::report::Collect;
use crate::resources::Options;
use futures::future::join_all;
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
pub struct StatusDoc {
    pub schema: &'static str,
    pub stack: String,
    pub region: String,
    /// False when nothing of the stack exists (never deployed, or after
    /// `down`): then `healthy` is false and the exit code 0.
    pub deployed: bool,
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
    pub health: Health,
}

/// The operator's one-glance view, derived from the rows plus one HTTP probe.
#[derive(Serialize)]
pub struct Health {
    pub moodle_reachable: String,
    pub ecs_running: u64,
    pub ecs_desired: u64,
    pub targets_healthy: u64,
    pub targets_total: u64,
    pub database: String,
    pub cache: String,
    pub file_system: String,
    pub cloudfront: String,
    pub waf_attached: bool,
    pub trail_logging: bool,
}

fn health(rows: &[Inspection], reachable: String) -> Health {
    let row = |kind: &str| rows.iter().find(|r| r.kind == kind);
    let num =
        |kind: &str, key: &str| row(kind).and_then(|r| r.details.get(key)).and_then(|v| v.parse().ok()).unwrap_or(0);
    let state = |kind: &str| row(kind).map(|r| r.state.clone()).unwrap_or_else(|| "absent".into());
    Health {
        moodle_reachable: reachable,
        ecs_running: num("ecs:service", "running"),
        ecs_desired: num("ecs:service", "desired"),
        targets_healthy: num("elbv2:target-group", "healthy"),
        targets_total: num("elbv2:target-group", "total"),
        database: state("rds:db-instance"),
        cache: state("elasticache:replication-group"),
        file_system: state("efs:file-system"),
        cloudfront: state("cloudfront:distribution"),
        waf_attached: row("cloudfront:distribution")
            .and_then(|r| r.details.get("waf_attached"))
            .map(|v| v == "true")
            .unwrap_or(false),
        trail_logging: row("cloudtrail:trail").map(|r| r.state == "logging").unwrap_or(false),
    }
}

/// GET the site through CloudFront; any HTTP answer below 500 means Moodle answers.
async fn probe(cfg: &crate::config::Config, custom_endpoint: bool) -> String {
    if custom_endpoint {
        return "skipped: custom endpoint (emulator), the site's DNS is not served there".into();
    }
    let url = format!("https://{}/", cfg.domain.name);
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return format!("no: {e}"),
    };
    match client.get(&url).send().await {
        Ok(r) if r.status().as_u16() < 500 => "yes".into(),
        Ok(r) => format!("no: {url} answered {}", r.status()),
        Err(e) => format!("no: {e}"),
    }
}

pub async fn run(cli: &Cli) -> CmdResult {
    let inp = inputs(cli)?;
    let state = super::open_state(&inp, false).await?;
    // Read before the dry run, which records what it finds in memory.
    let recorded = !state.snapshot().resources.is_empty();
    let ctx = context(inp, state, Arc::new(Collect::default()), true, Options::default()).await;
    let steps = crate::resources::graph();
    let inspections = join_all(steps.nodes().iter().map(|n| {
        let cx = ctx.for_step(n.id);
        async move { (n.id, n.step.inspect(&cx).await) }
    }));
    let custom_endpoint = cli.endpoint_url.is_some();
    let (inspected, plan, reachable) = tokio::join!(
        inspections,
        run_graph(&steps, ctx.clone(), Direction::Up, cli.parallelism as usize),
        probe(&ctx.cfg, custom_endpoint)
    );
    let mut errors = vec![];
    let mut by_step: Vec<(StepId, Vec<Inspection>)> = vec![];
    for (id, r) in inspected {
        match r {
            Ok(mut v) => {
                for i in &mut v {
                    i.tier = id.tier().to_string();
                }
                by_step.push((id, v));
            }
            Err(e) => errors.push(format!("{id}: {e}")),
        }
    }
    // Step-level drift from the dry run goes on the step's first row; a step
    // with no rows of its own (it configures another step's resource, like
    // the VPC's DNS attributes) reports it on its first dependency's row.
    for res in &plan.results {
        let mut drift = vec![];
        if let Ok(Outcome::Updated(c)) = &res.result {
            drift.extend(c.iter().cloned());
        }
        drift.extend(res.notes.iter().cloned());
        if drift.is_empty() {
            continue;
        }
        let rows_of = |id: StepId| by_step.iter().position(|(s, _)| *s == id);
        // A step whose inspect failed is reported in `errors` instead.
        let Some(own) = rows_of(res.id) else {
            continue;
        };
        let target = if by_step[own].1.is_empty() {
            let deps = steps.get(res.id).map_or(&[][..], |n| n.deps);
            deps.iter().filter_map(|&d| rows_of(d)).find(|&i| !by_step[i].1.is_empty())
        } else {
            Some(own)
        };
        if let Some(first) = target.map(|t| &mut by_step[t].1[0]) {
            let joined = drift.join("; ");
            first.drift = Some(match first.drift.take() {
                Some(d) if d.contains(&joined) => d,
                Some(d) if !joined.contains(&d) => format!("{d}; {joined}"),
                _ => joined,
            });
        }
    }
    let mut rows: Vec<Inspection> = by_step.into_iter().flat_map(|(_, v)| v).collect();
    // Nothing recorded and nothing found but what `down` keeps on purpose
    // (the audit bucket; secrets in their recovery window): the stack is not
    // deployed, which is not a fault. Only the kept things are listed.
    let kept = |r: &Inspection| KEPT_BY_DOWN.contains(&r.kind.as_str()) || r.state == "pending deletion";
    let deployed = recorded || rows.iter().any(|r| r.exists() && !kept(r)) || !errors.is_empty();
    if !deployed {
        rows.retain(|r| r.exists());
        for r in &mut rows {
            (r.drift, r.healthy) = (None, true);
        }
    }
    let unhealthy = rows.iter().filter(|r| !r.healthy).count();
    let drifted = rows.iter().filter(|r| r.drift.is_some()).count();
    let health = health(&rows, reachable);
    let healthy =
        deployed && unhealthy == 0 && drifted == 0 && errors.is_empty() && !health.moodle_reachable.starts_with("no");
    if !deployed && cli.output == OutputFormat::Text {
        println!("stack `{}` is not deployed in {}", ctx.cfg.stack.name, ctx.cfg.stack.region);
        for r in &rows {
            println!("kept from an earlier stack: {} {} ({})", r.kind, r.name, r.state);
        }
        eprintln!("hint: `moodlectl plan` shows what `moodlectl up` would create");
        return Ok(exit::OK);
    }
    let doc = StatusDoc {
        schema: "moodlectl.status/v1",
        stack: ctx.cfg.stack.name.clone(),
        region: ctx.cfg.stack.region.clone(),
        deployed,
        healthy,
        summary: Summary { resources: rows.len(), unhealthy, drifted, errors: errors.clone(), health },
        resources: rows,
    };
    match cli.output {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&doc).expect("status serialises"))
        }
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
            print_table(&mut std::io::stdout().lock(), &["TIER", "KIND", "NAME", "ID", "STATE", "DRIFT"], &table);
            let h = &doc.summary.health;
            println!(
                "\n{}: {} resources, {} unhealthy, {} drifted",
                if healthy { "healthy" } else { "DEGRADED" },
                doc.summary.resources,
                unhealthy,
                drifted
            );
            println!(
                "moodle reachable: {} | ecs: {}/{} running | targets: {}/{} healthy | db: {} | cache: {} | efs: {} | cloudfront: {} | waf attached: {} | trail logging: {}",
                h.moodle_reachable, h.ecs_running, h.ecs_desired, h.targets_healthy, h.targets_total, h.database, h.cache, h.file_system, h.cloudfront, h.waf_attached, h.trail_logging
            );
            for e in &errors {
                eprintln!("error: {e}");
            }
        }
    }
    Ok(if healthy || !deployed { exit::OK } else { exit::DEGRADED })
}

/// Kinds `down` leaves in place by default (see `down --delete-audit-logs`);
/// secrets stay in their recovery window unless `--force-delete-secrets`.
const KEPT_BY_DOWN: &[&str] = &["s3:bucket"];
