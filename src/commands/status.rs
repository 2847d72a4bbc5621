//! `moodlectl status`: live state of every resource and drift against the
//! state file and the config.
//!
//! Two read-only passes run concurrently: every step's `inspect` (live state
//! per resource) and a dry-run `ensure` over the graph (settings changed
//! outside moodlectl show up as the update `up` would make; resources found
//! only by tag show up as untracked).

use super::{context, inputs, print_table_within, CmdResult};
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

pub async fn run(cli: &Cli, wide: bool) -> CmdResult {
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
        run_graph(&steps, ctx.clone(), Direction::Up, cli.parallelism()),
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
    // Step-level drift from the dry run goes on the step's first row. A step
    // with no rows of its own (it configures other steps' resources: the
    // VPC's DNS attributes, the security-group rules) reports each change on
    // the row of the resource it names (`<name>: …`), else on its first
    // dependency's row.
    for res in &plan.results {
        let mut drift = vec![];
        if let Ok(Outcome::Updated(c)) = &res.result {
            drift.extend(c.iter().cloned());
        }
        drift.extend(res.notes.iter().cloned());
        let rows_of = |id: StepId| by_step.iter().position(|(s, _)| *s == id);
        // A step whose inspect failed is reported in `errors` instead.
        let Some(own) = rows_of(res.id) else {
            continue;
        };
        let deps: Vec<usize> =
            steps.get(res.id).map_or(&[][..], |n| n.deps).iter().filter_map(|&d| rows_of(d)).collect();
        for line in drift {
            let target = if !by_step[own].1.is_empty() {
                Some((own, 0))
            } else {
                let named = line.split_once(": ").map(|(name, _)| name);
                let by_name = deps
                    .iter()
                    .find_map(|&i| by_step[i].1.iter().position(|r| Some(r.name.as_str()) == named).map(|j| (i, j)));
                by_name.or_else(|| deps.iter().find(|&&i| !by_step[i].1.is_empty()).map(|&i| (i, 0)))
            };
            if let Some(row) = target.map(|(i, j)| &mut by_step[i].1[j]) {
                row.drift = Some(match row.drift.take() {
                    Some(d) if d.contains(&line) => d,
                    Some(d) => format!("{d}; {line}"),
                    None => line,
                });
            }
        }
    }
    let mut rows: Vec<Inspection> = by_step.into_iter().flat_map(|(_, v)| v).collect();
    // What a restore replaced and keeps until `restore --delete-old`.
    rows.extend(crate::ops::restore::kept_rows(&ctx.state.snapshot()));
    // Nothing recorded and nothing found but what `down` keeps on purpose
    // (the log buckets and the audit key that encrypts them; secrets in their
    // recovery window): the stack is not deployed, which is not a fault. Only
    // the kept things are listed.
    let audit_key = crate::resources::observe::audit_key_alias(&ctx.cfg);
    let kept = |r: &Inspection| {
        KEPT_BY_DOWN.contains(&r.kind.as_str())
            || r.state == "pending deletion"
            || (r.kind == "kms:key" && r.name == audit_key)
    };
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
            // Grouped by tier, bottom up, each under its own heading line;
            // the kind without its service prefix (`security-group`; JSON
            // keeps `ec2:security-group`) and IDs/ARNs only with --wide, so
            // the table fits 120 columns.
            let mut rows: Vec<&Inspection> = doc.resources.iter().collect();
            rows.sort_by_key(|r| TIERS.iter().position(|t| *t == r.tier).unwrap_or(TIERS.len()));
            let mut table: Vec<Vec<String>> = vec![];
            for (k, r) in rows.iter().enumerate() {
                if k == 0 || rows[k - 1].tier != r.tier {
                    table.push(vec![r.tier.clone()]);
                }
                let kind =
                    if wide { r.kind.as_str() } else { r.kind.split_once(':').map_or(r.kind.as_str(), |(_, k)| k) };
                let mut row = vec![format!("  {kind}"), r.name.clone()];
                if wide {
                    row.push(r.id.clone().unwrap_or_else(|| "-".into()));
                }
                row.extend([r.state.clone(), r.drift.clone().unwrap_or_else(|| "-".into())]);
                table.push(row);
            }
            let headers: &[&str] =
                if wide { &["KIND", "NAME", "ID", "STATE", "DRIFT"] } else { &["KIND", "NAME", "STATE", "DRIFT"] };
            let width = (!wide).then_some(120);
            print_table_within(&mut std::io::stdout().lock(), headers, &table, width);
            let h = &doc.summary.health;
            println!(
                "\n{}: {} resources, {} unhealthy, {} drifted",
                if healthy { "healthy" } else { "DEGRADED" },
                doc.summary.resources,
                unhealthy,
                drifted
            );
            println!("moodle reachable: {}", h.moodle_reachable);
            println!(
                "ecs: {}/{} running | targets: {}/{} healthy | db: {} | cache: {}",
                h.ecs_running, h.ecs_desired, h.targets_healthy, h.targets_total, h.database, h.cache
            );
            println!(
                "efs: {} | cloudfront: {} | waf attached: {} | trail logging: {}",
                h.file_system, h.cloudfront, h.waf_attached, h.trail_logging
            );
            for e in &errors {
                eprintln!("error: {e}");
            }
        }
    }
    Ok(if healthy || !deployed { exit::OK } else { exit::DEGRADED })
}

/// The tiers, bottom up: the order `status` lists them in.
const TIERS: &[&str] = &["network", "data", "compute", "edge", "observe", "audit"];

/// Kinds `down` leaves in place by default (see `down --delete-logs`);
/// secrets stay in their recovery window unless `--force-delete-secrets`.
const KEPT_BY_DOWN: &[&str] = &["s3:bucket"];
