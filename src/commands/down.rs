//! `moodlectl down`: delete the stack in reverse dependency order.

use super::{confirm, context, inputs, reporter, CmdError, CmdResult};
use crate::cli::Cli;
use crate::engine::{run as run_graph, Direction};
use crate::error::exit;
use crate::report::Event;
use crate::resources::Options;

pub async fn run(cli: &Cli, opts: Options) -> CmdResult {
    let inp = inputs(cli)?;
    let state = super::open_state(&inp, true).await?;
    let stack = inp.cfg.stack.name.clone();
    confirm(cli, &format!("DELETE every resource of stack `{stack}` in {}", inp.cfg.stack.region), Some(&stack))?;
    let lock = super::lock_state(&inp, "down").await?;
    let rep = reporter(cli);
    let region = inp.cfg.stack.region.clone();
    let ctx = context(inp, state, rep.clone(), false, opts).await;
    let steps = crate::resources::graph();
    rep.emit(&Event::RunStarted { command: "down".into(), stack, region, steps: steps.nodes().len() });
    let report = tokio::select! {
        r = run_graph(&steps, ctx.clone(), Direction::Down, cli.parallelism as usize) => r,
        _ = tokio::signal::ctrl_c() => {
            drop(lock);
            return Err(CmdError { code: 130, error: anyhow::anyhow!("interrupted; state is saved, rerun `moodlectl down` to resume"), already_reported: false });
        }
    };
    super::up::finish(&*rep, &report, ctx.aws.stats.summary());
    let kept: Vec<String> = report
        .results
        .iter()
        .flat_map(|r| r.notes.iter())
        .filter_map(|n| n.strip_prefix("kept: ").map(str::to_string))
        .collect();
    if !kept.is_empty() {
        rep.emit(&Event::Kept { items: kept.clone() });
        if cli.output == crate::cli::OutputFormat::Text {
            for k in &kept {
                println!("kept: {k}");
            }
        }
    }
    // Said even when the run failed: a snapshot taken before the failure is kept.
    if !report.ok() {
        drop(lock);
        return Err(super::up::failure("down", &report, &ctx.state.path().display().to_string()));
    }
    // Everything is gone: the state has nothing left to say.
    ctx.state.remove_file()?;
    drop(lock);
    Ok(exit::OK)
}
