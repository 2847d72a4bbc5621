//! `moodlectl up`: create or update the stack.

use super::{confirm, context, inputs, reporter, CmdError, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::engine::{run as run_graph, Direction, RunReport};
use crate::error::exit;
use crate::report::{Event, Reporter};
use crate::resources::Options;
use std::collections::BTreeMap;

pub async fn run(cli: &Cli, skip_preflight: bool) -> CmdResult {
    let inp = inputs(cli)?;
    let state = super::open_state(&inp, true).await?;
    confirm(cli, &format!("create or update stack `{}` in {}", inp.cfg.stack.name, inp.cfg.stack.region), None)?;
    let lock = super::lock_state(&inp, "up").await?;
    let rep = reporter(cli);
    let (stack, region) = (inp.cfg.stack.name.clone(), inp.cfg.stack.region.clone());
    let conn = inp.conn.clone();
    let ctx = context(inp, state, rep.clone(), false, Options::default()).await;
    if !skip_preflight {
        let findings = crate::preflight::run(&ctx.cfg, &ctx.aws, &conn).await;
        if !findings.is_empty() {
            drop(lock);
            return Err(super::check::refuse(cli, &findings));
        }
    }
    // The file exists from the start so the idempotency-token generation
    // survives a crash before the first resource is recorded.
    ctx.state.save()?;
    let steps = crate::resources::graph();
    rep.emit(&Event::RunStarted { command: "up".into(), stack, region, steps: steps.nodes().len() });
    let report = tokio::select! {
        r = run_graph(&steps, ctx.clone(), Direction::Up, cli.parallelism as usize) => r,
        _ = tokio::signal::ctrl_c() => {
            drop(lock);
            return Err(CmdError { code: 130, error: anyhow::anyhow!("interrupted; state is saved, rerun `moodlectl up` to resume"), already_reported: false });
        }
    };
    finish(&*rep, &report, ctx.aws.stats.summary());
    drop(lock);
    if !report.ok() {
        return Err(failure("up", &report, &ctx.state.path().display().to_string()));
    }
    let outs = super::outputs::collect(&ctx.cfg, &ctx.state.snapshot());
    rep.emit(&Event::Outputs { outputs: outs.clone() });
    if cli.output == OutputFormat::Text {
        super::outputs::print(cli, &outs);
    }
    Ok(exit::OK)
}

pub fn finish(rep: &dyn Reporter, report: &RunReport, api_calls: BTreeMap<String, u64>) {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for r in &report.results {
        let k = match &r.result {
            Ok(o) => o.label().to_string(),
            Err(_) => "failed".into(),
        };
        *outcomes.entry(k).or_default() += 1;
    }
    if !report.skipped.is_empty() {
        outcomes.insert("skipped".into(), report.skipped.len());
    }
    rep.emit(&Event::RunFinished {
        ok: report.ok(),
        elapsed_ms: report.elapsed.as_millis() as u64,
        outcomes,
        api_calls,
    });
}

/// The command-level error for a failed run: names every failed step.
pub fn failure(cmd: &str, report: &RunReport, state_path: &str) -> CmdError {
    let mut msg = String::new();
    for (id, e) in report.failures() {
        msg.push_str(&format!("step `{id}`: {e}\n"));
        if let Some(h) = e.hint() {
            msg.push_str(&format!("hint: {h}\n"));
        }
    }
    msg.push_str(&format!("state saved to {state_path}; rerun `moodlectl {cmd}` to resume"));
    CmdError::runtime(anyhow::anyhow!(msg))
}
