//! `moodlectl up`: create or update the stack.

use super::{confirm, context, inputs, reporter, will_ask, CmdError, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::engine::{run as run_graph, Direction, RunReport};
use crate::error::exit;
use crate::report::{Event, Reporter};
use crate::resources::{Ctx, Options};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub async fn run(cli: &Cli, skip_preflight: bool) -> CmdResult {
    let inp = inputs(cli)?;
    let state = super::open_state(&inp, true).await?;
    let question = format!("create or update stack `{}` in {}", inp.cfg.stack.name, inp.cfg.stack.region);
    let ask = will_ask(cli, &question)?;
    let lock = super::lock_state(&inp, "up").await?;
    let rep = reporter(cli);
    let (stack, region) = (inp.cfg.stack.name.clone(), inp.cfg.stack.region.clone());
    let conn = inp.conn.clone();
    let preview_inputs = ask.then(|| inp.clone());
    let ctx = context(inp, state, rep.clone(), false, Options::default()).await;
    let mut preflight_said = None;
    if !skip_preflight {
        let (findings, unverified) = crate::preflight::split(crate::preflight::run(&ctx.cfg, &ctx.aws, &conn).await);
        if !findings.is_empty() {
            drop(lock);
            return Err(super::check::refuse(cli, &findings));
        }
        preflight_said = Some(super::check::passed(&unverified));
    }
    // A new image: nothing in the service changes before Moodle says no
    // database upgrade is pending (that is `moodlectl upgrade`'s job).
    if let Err(e) = super::upgrade::gate(cli, &ctx).await {
        drop(lock);
        return Err(e);
    }
    // On a terminal: the preflight passed; show what will change, then ask
    // (with --yes, as in CI, the run's own log says what it changed).
    if let Some(inp) = preview_inputs {
        let super::plan::Preview { rows, counts, .. } = super::plan::preview(cli, inp, "up").await?;
        let mut err = std::io::stderr().lock();
        if let Some(said) = &preflight_said {
            let _ = writeln!(err, "{said}");
        }
        super::plan::print_plan(&mut err, &rows, counts, crate::report::color_enabled());
        drop(err);
        if counts.0 + counts.1 > 0 {
            confirm(cli, &question, "yes")?;
        }
    }
    // The file exists from the start so the idempotency-token generation
    // survives a crash before the first resource is recorded.
    ctx.state.save()?;
    let report = walk(cli, &ctx, Direction::Up, (stack, region)).await?;
    if report.ok() {
        // What `plan` compares a changed configuration's cost with.
        let shape = serde_json::to_value(crate::cost::Shape::of(&ctx.cfg)).expect("a shape serialises");
        ctx.state.set_applied(shape)?;
    }
    drop(lock);
    if !report.ok() {
        return Err(failure("up", &report, Some(&ctx.state.path().display().to_string())));
    }
    let outs = super::outputs::collect(&ctx.cfg, &ctx.state.snapshot());
    rep.emit(&Event::Outputs { outputs: outs.clone() });
    if cli.output == OutputFormat::Text {
        super::outputs::print(cli, &outs);
    }
    Ok(exit::OK)
}

/// Walk the stack's graph (`up` or `down`), saying so first and summing up
/// after; Ctrl-C stops it with the state saved (the lock is the caller's and
/// goes when it returns).
pub async fn walk(
    cli: &Cli,
    ctx: &Arc<Ctx>,
    direction: Direction,
    (stack, region): (String, String),
) -> Result<RunReport, CmdError> {
    let command = if direction == Direction::Up { "up" } else { "down" };
    let steps = crate::resources::graph();
    ctx.reporter.emit(&Event::RunStarted { command: command.into(), stack, region, steps: steps.nodes().len() });
    let report = tokio::select! {
        r = run_graph(&steps, ctx.clone(), direction, cli.parallelism()) => r,
        _ = tokio::signal::ctrl_c() => {
            // Every ID is recorded the moment AWS returns it, so the steps cut
            // short here are picked up where they were by the next run.
            ctx.reporter.emit(&Event::Interrupted { command: command.into(), running: ctx.reporter.running() });
            let error = anyhow::anyhow!("interrupted; state is saved, rerun `moodlectl {command}` to resume");
            return Err(CmdError { code: 130, error, already_reported: true });
        }
    };
    finish(ctx.reporter.as_ref(), &report, ctx.aws.stats.summary());
    Ok(report)
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
/// `state_path`: where a mutating run saved its state; `None` for a
/// read-only command (`plan`), which must not claim it saved anything.
pub fn failure(cmd: &str, report: &RunReport, state_path: Option<&str>) -> CmdError {
    let mut msg = String::new();
    for (id, e) in report.failures() {
        msg.push_str(&format!("step `{id}`: {e}\n"));
        if let Some(h) = e.hint() {
            msg.push_str(&format!("hint: {h}\n"));
        }
    }
    msg.push_str(&match state_path {
        Some(p) => format!("state saved to {p}; rerun `moodlectl {cmd}` to resume"),
        None => format!("`moodlectl {cmd}` is read-only: nothing was changed"),
    });
    CmdError::runtime(anyhow::anyhow!(msg))
}
