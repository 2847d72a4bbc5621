//! `moodlectl down`: delete the stack in reverse dependency order.

use super::{confirm, context, inputs, reporter, CmdResult};
use crate::cli::Cli;
use crate::engine::Direction;
use crate::error::exit;
use crate::report::Event;
use crate::resources::Options;

pub async fn run(cli: &Cli, opts: Options) -> CmdResult {
    let inp = inputs(cli)?;
    let state = super::open_state(&inp, true).await?;
    let stack = inp.cfg.stack.name.clone();
    let question = format!("DELETE every resource of stack `{stack}` in {}", inp.cfg.stack.region);
    if super::will_ask(cli, &question)? {
        preview(&state.snapshot(), &opts);
    }
    confirm(cli, &question, &stack)?;
    let lock = super::lock_state(&inp, "down").await?;
    let rep = reporter(cli);
    let region = inp.cfg.stack.region.clone();
    let ctx = context(inp, state, rep.clone(), false, opts).await;
    // What a restore replaced goes first: its mount targets hold the subnets.
    if ctx.state.get(crate::resources::keys::RESTORE).is_some() {
        let cx = crate::resources::StepCx::new(ctx.clone(), crate::resources::ids::OPS_RESTORE);
        let name = crate::ops::copies::snapshot_name(&ctx.cfg.stack.name, "replaced-final");
        let final_snapshot = (!ctx.opts.skip_final_snapshot).then_some(name.as_str());
        let gone = crate::ops::restore::delete_old(&cx, final_snapshot).await;
        let gone =
            gone.map_err(|e| super::CmdError::runtime(anyhow::anyhow!("{e}\nstate saved; rerun `moodlectl down`")))?;
        for g in gone {
            rep.emit(&Event::StepProgress { step: "ops.restore".into(), message: format!("deleted {g}") });
        }
    }
    let report = super::up::walk(cli, &ctx, Direction::Down, (stack, region)).await?;
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
        return Err(super::up::failure("down", &report, Some(&ctx.state.path().display().to_string())));
    }
    // Everything is gone: the state has nothing left to say.
    ctx.state.remove_file()?;
    drop(lock);
    Ok(exit::OK)
}

/// Before asking: what `down` deletes (every resource the state records; a
/// lost state's resources are found by tag during the run) and what it keeps.
fn preview(state: &crate::state::StateData, opts: &Options) {
    let mut by_kind: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for r in state.resources.values() {
        // Records of day-2 operations, not resources.
        if r.kind.starts_with("moodlectl:") {
            continue;
        }
        if (r.kind == "s3:bucket" && !opts.delete_logs) || r.kind == "kms:key" {
            continue; // kept, listed below
        }
        by_kind.entry(r.kind.as_str()).or_default().push(r.id.as_str());
    }
    let count: usize = by_kind.values().map(Vec::len).sum();
    eprintln!("will delete {count} recorded resource(s), and any found by the stack's tags:");
    for (kind, ids) in &by_kind {
        eprintln!("  - {kind}: {}", ids.join(", "));
    }
    eprintln!("will keep:");
    if !opts.skip_final_snapshot {
        eprintln!("  - a final DB snapshot (`--skip-final-snapshot` for none)");
    }
    if !opts.delete_logs {
        eprintln!(
            "  - the log buckets: CloudTrail audit trail, access logs, and the audit trail's KMS key (`--delete-logs` to delete them)"
        );
    }
    if !opts.delete_backups {
        eprintln!("  - the backup vault, if it holds file-system recovery points (`--delete-backups` to delete them)");
    }
    eprintln!("  - the alert topics' KMS keys for 7 days, scheduled for deletion (AWS's minimum wait; an `up` meanwhile reuses them)");
    if opts.delete_logs {
        eprintln!("  - the audit trail's KMS key for 7 days, scheduled for deletion likewise");
    }
    if !opts.force_delete_secrets {
        eprintln!("  - the secrets, for a 7-day recovery window (`--force-delete-secrets` for none)");
    }
}
