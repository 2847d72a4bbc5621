//! `moodlectl upgrade [--image URI]`: move Moodle to a new image with a way
//! back (see `ops::upgrade` for what is recorded and how a rerun resumes):
//! preflight → RDS snapshot + file-system backup → maintenance on → the
//! upgrade, once, in a one-off task of the new image → new task definition
//! revisions and the services rolled (circuit breaker on) → maintenance off.
//! On a failure it stops where it is, keeps maintenance mode on when the
//! database may be half-upgraded, and prints the commands to go on or back.

use super::{confirm, context, inputs, lock_state, open_state, progress_reporter, will_ask, CmdError, CmdResult};
use crate::cli::{Cli, OutputFormat};
use crate::engine::Direction;
use crate::error::exit;
use crate::ops::upgrade::{at, older_images, task_once, Record, MAINTENANCE_OFF, MAINTENANCE_ON, UPGRADE_CMD};
use crate::ops::{copies, oneoff};
use crate::resources::context::idempotency_token;
use crate::resources::{ids, Options, StepCx};
use std::io::Write;

pub async fn run(cli: &Cli, image: Option<&str>) -> CmdResult {
    let mut inp = inputs(cli)?;
    let config_image = inp.cfg.image.uri.clone();
    let target = image.unwrap_or(&config_image).to_string();
    inp.cfg.image.uri = target.clone();
    let (stack, region) = (inp.cfg.stack.name.clone(), inp.cfg.stack.region.clone());
    let state = open_state(&inp, true).await?;
    let question = format!("upgrade Moodle of stack `{stack}` to {target}");
    let ask = will_ask(cli, &question)?;
    let lock = lock_state(&inp, "upgrade").await?;
    let conn = inp.conn.clone();
    let ctx = context(inp, state, progress_reporter(cli), false, Options::default()).await;
    let cx = StepCx::new(ctx.clone(), ids::OPS_UPGRADE);
    let rec = Record::open(&cx);
    let rt = |e: crate::error::StepError| CmdError::runtime(e);
    if let Some(t) = rec.target().filter(|t| t != &target) {
        return Err(CmdError::usage(anyhow::anyhow!(
            "an upgrade to {t} is in progress\nhint: finish it with `moodlectl upgrade --image {t}`, or go back with `moodlectl restore`"
        )));
    }
    let shape = oneoff::service_shape(&ctx.aws, &ctx.cfg).await.map_err(rt)?;
    let shape = shape.ok_or_else(|| {
        CmdError::usage(anyhow::anyhow!("stack `{stack}` is not deployed\nhint: `moodlectl up` first"))
    })?;
    let say = |m: String| {
        if !cli.quiet {
            eprintln!("upgrade: {m}");
        }
    };
    if rec.target().is_none() {
        // 1. Preflight.
        if shape.image() == target {
            say(format!("the service already runs {target}: nothing to upgrade"));
            return Ok(exit::OK);
        }
        if older_images(&cx).contains(&target) {
            return Err(CmdError::usage(anyhow::anyhow!(
                "{target} is older than the database (it was upgraded away from it)\nhint: to go back, restore the snapshot taken before that upgrade: `moodlectl backups`, then `moodlectl restore --snapshot ID --image {target}`"
            )));
        }
        let findings = crate::preflight::image(&ctx.cfg, &ctx.aws, &conn).await;
        if !findings.is_empty() {
            return Err(super::check::refuse(cli, &findings));
        }
        let svc =
            crate::resources::compute::find_service(&cx, crate::resources::compute::Role::Web).await.map_err(rt)?;
        let stable = svc.as_ref().is_some_and(|s| {
            s.deployments().len() == 1 && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
        });
        if !stable {
            return Err(CmdError::runtime(anyhow::anyhow!(
                "the service is not stable (a deployment is in progress)\nhint: wait for it (`moodlectl status`), then rerun"
            )));
        }
        if ask {
            eprintln!("will upgrade stack `{stack}` from {} to {target}:", shape.image());
            for s in [
                "1. snapshot the database (<stack>-preupgrade-<UTC>) and back up the file system, and wait for both",
                "2. maintenance mode on: the site answers 503 until step 5",
                "3. php admin/cli/upgrade.php --non-interactive, once, in a one-off task of the new image",
                "4. new task definition revisions with the new image; the services roll to them",
                "5. maintenance mode off",
            ] {
                eprintln!("  {s}");
            }
            confirm(cli, &question, "yes")?;
        }
        rec.begin(&target, shape.image()).map_err(rt)?;
    } else {
        say(format!("resuming the upgrade to {target}"));
    }
    let from = rec.get(at::FROM).unwrap_or_default();

    // 2. Safety copies.
    let snap = match rec.get(at::SNAPSHOT) {
        Some(s) => s,
        None => {
            let s = copies::snapshot_name(&stack, "preupgrade");
            rec.set(at::SNAPSHOT, &s).map_err(rt)?;
            s
        }
    };
    let back = format!("moodlectl restore --snapshot {snap} --image {from}");
    let tags = [("moodlectl:stack", stack.as_str()), ("moodlectl:purpose", "pre-upgrade")];
    copies::db_snapshot(&cx, &snap, &tags).await.map_err(rt)?;
    say(format!("database snapshot {snap} is available"));
    let point = match rec.get(at::RECOVERY_POINT) {
        Some(p) => p,
        None => {
            let token = idempotency_token(&stack, &cx.state.generation(), &format!("upgrade|{target}|backup"), 0);
            let p = copies::efs_backup(&cx, &token, rec.get(at::BACKUP_JOB), |job| rec.set(at::BACKUP_JOB, job))
                .await
                .map_err(rt)?;
            rec.set(at::RECOVERY_POINT, &p.arn).map_err(rt)?;
            p.arn
        }
    };
    say(format!("file-system recovery point {point} is complete"));

    // The tasks' log lines are progress here (stdout carries the summary).
    let quiet = cli.quiet;
    let mut print = |l: &str| {
        if !quiet {
            let _ = writeln!(std::io::stderr().lock(), "  | {l}");
        }
    };
    if rec.get(at::UPGRADED).is_none() {
        // 3. Maintenance on, with the code the service runs.
        let td = shape.task_definition.task_definition_arn().unwrap_or_default().to_string();
        let on = task_once(&cx, &shape, &td, at::MAINTENANCE_ON, MAINTENANCE_ON, &mut print).await.map_err(rt)?;
        match on {
            Ok(f) if f.succeeded() => say("maintenance mode is on".into()),
            Ok(f) => {
                return Err(stopped(
                    &format!("maintenance mode could not be switched on: {}", f.describe()),
                    false,
                    &snap,
                    &back,
                ))
            }
            Err(why) => return Err(stopped(&why, false, &snap, &back)),
        }
        // 4. The upgrade, once, with the new image.
        let td = oneoff::task_definition_for(&ctx.aws, &ctx.cfg, &shape, &target).await.map_err(rt)?;
        let up = task_once(&cx, &shape, &td, at::UPGRADE_TASK, UPGRADE_CMD, &mut print).await.map_err(rt)?;
        match up {
            Ok(f) if f.succeeded() => rec.set(at::UPGRADED, "true").map_err(rt)?,
            Ok(f) => return Err(stopped(&format!("the upgrade failed: {}", f.describe()), true, &snap, &back)),
            Err(why) => return Err(stopped(&why, true, &snap, &back)),
        }
        say(format!("the database is upgraded to {target}"));
    }
    // 5. New revisions, services rolled (the step graph, with the new image).
    if rec.get(at::ROLLED).is_none() {
        let report = super::up::walk(cli, &ctx, Direction::Up, (stack.clone(), region)).await?;
        if !report.ok() {
            let e = super::up::failure("upgrade", &report, Some(&ctx.state.path().display().to_string()));
            return Err(CmdError::runtime(anyhow::anyhow!(
                "{:#}\nmaintenance mode is ON; the database is already upgraded to {target}\nnext: fix the cause and rerun `moodlectl upgrade --image {target}`",
                e.error
            )));
        }
        rec.set(at::ROLLED, "true").map_err(rt)?;
    }
    // 6. Maintenance off, with the new code.
    let shape = oneoff::service_shape(&ctx.aws, &ctx.cfg).await.map_err(rt)?.expect("the service was just rolled");
    let td = shape.task_definition.task_definition_arn().unwrap_or_default().to_string();
    let off = task_once(&cx, &shape, &td, at::MAINTENANCE_OFF, MAINTENANCE_OFF, &mut print).await.map_err(rt)?;
    if !off.as_ref().is_ok_and(|f| f.succeeded()) {
        let why = off.map(|f| f.describe()).unwrap_or_else(|w| w);
        return Err(CmdError::runtime(anyhow::anyhow!(
            "maintenance mode could not be switched off: {why}\nthe site runs {target} but answers 503\nnext: rerun `moodlectl upgrade --image {target}`, or `moodlectl run -- php admin/cli/maintenance.php --disable`"
        )));
    }
    rec.finish().map_err(rt)?;
    drop(lock);
    let config_line = (target != config_image).then(|| format!("uri = \"{target}\""));
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"schema": "moodlectl.upgrade/v1", "image": target, "from": from,
                "snapshot": snap, "recovery_point": point, "config_line": config_line})
        ),
        OutputFormat::Text => {
            println!("upgraded: {from} -> {target}");
            println!("safety copies: snapshot {snap}, recovery point {point}");
            if let Some(l) = &config_line {
                println!(
                    "put the new image in moodle.toml ([image]), or the next `up` will refuse the older one:\n  {l}"
                );
            }
        }
    }
    Ok(exit::OK)
}

/// The upgrade stopped: say where, whether maintenance mode is still on, and
/// exactly what to run next.
fn stopped(why: &str, maintenance_on: bool, snapshot: &str, back: &str) -> CmdError {
    let state = if maintenance_on {
        "maintenance mode is ON (the database may be half-upgraded); the service still runs the old image"
    } else {
        "nothing was changed in the database; the site is serving as before"
    };
    CmdError::runtime(anyhow::anyhow!(
        "{why}\n{state}\nsafety copy: snapshot {snapshot}\nnext: fix the cause and rerun `moodlectl upgrade` (it retries from here),\n  or go back: `{back}`"
    ))
}

/// `up`'s check before it changes the image the service runs: refused
/// while an upgrade is unfinished or for code older than the database;
/// otherwise `upgrade.php --is-pending` in a one-off task of the new image
/// decides — nothing pending is a plain rolling deploy, a pending upgrade
/// is `moodlectl upgrade`'s job (snapshot, maintenance mode, upgrade once).
pub async fn gate(cli: &Cli, ctx: &std::sync::Arc<crate::resources::Ctx>) -> Result<(), CmdError> {
    use crate::ops::upgrade::IS_PENDING;
    let cx = StepCx::new(ctx.clone(), ids::OPS_UPGRADE);
    let target = ctx.cfg.image.uri.clone();
    if let Some(t) = Record::open(&cx).target() {
        return Err(CmdError::runtime(anyhow::anyhow!(
            "an upgrade to {t} is unfinished; `up` changed nothing\nhint: finish it with `moodlectl upgrade --image {t}`"
        )));
    }
    let Some(shape) = oneoff::service_shape(&ctx.aws, &ctx.cfg).await.map_err(CmdError::runtime)? else {
        return Ok(()); // a first deploy: the image installs Moodle
    };
    if shape.image() == target {
        return Ok(());
    }
    if older_images(&cx).contains(&target) {
        return Err(CmdError::usage(anyhow::anyhow!(
            "image.uri {target} is older than the database, which was upgraded away from it; `up` changed nothing\nhint: put the running image back in moodle.toml ({}), or restore a snapshot taken before that upgrade (`moodlectl backups`, `moodlectl restore`)",
            shape.image()
        )));
    }
    if !cli.quiet {
        eprintln!("up: the image changes to {target}: asking it whether Moodle needs a database upgrade");
    }
    let td = oneoff::task_definition_for(&ctx.aws, &ctx.cfg, &shape, &target).await.map_err(CmdError::runtime)?;
    let command: Vec<String> = IS_PENDING.iter().map(|s| s.to_string()).collect();
    let started = oneoff::start(&ctx.aws, &ctx.cfg, &shape, &td, &command, None).await.map_err(CmdError::runtime)?;
    let started = started.map_err(|e| CmdError::runtime(anyhow::anyhow!(e)))?;
    let done = oneoff::wait(&ctx.aws, &ctx.cfg, &started.arn, |_| {}).await.map_err(CmdError::runtime)?;
    match done.exit_code {
        Some(0) => Ok(()),
        Some(2) => Err(CmdError::runtime(anyhow::anyhow!(
            "{target} needs a database upgrade (upgrade.php --is-pending exited 2); `up` changed nothing\nhint: run `moodlectl upgrade`: it snapshots the database, backs up the files, switches maintenance mode on, upgrades once and rolls the services"
        ))),
        _ => Err(CmdError::runtime(anyhow::anyhow!(
            "cannot tell whether {target} needs a database upgrade: {}; `up` changed nothing\nlog: {}\nhint: an older Moodle than the database's, or a broken image? `moodlectl run --image {target} -- php admin/cli/upgrade.php --is-pending`",
            done.describe(),
            done.log.join(" | ")
        ))),
    }
}
