//! `moodlectl backup`, `backups` and `restore`: safety copies taken on
//! demand, listed, and restored into new resources (see `ops::copies` and
//! `ops::restore` for the AWS rules).

use super::{
    confirm, context, inputs, lock_state, open_state, print_table, progress_reporter, will_ask, CmdError, CmdResult,
};
use crate::cli::{Cli, OutputFormat};
use crate::engine::Direction;
use crate::error::{exit, StepError};
use crate::ops::{copies, oneoff, restore};
use crate::resources::context::idempotency_token;
use crate::resources::keys::RESTORE;
use crate::resources::{ids, Ctx, Options, StepCx};
use crate::state::Resource;
use std::sync::Arc;

fn rt(e: StepError) -> CmdError {
    CmdError::runtime(e)
}

/// The command's context: the state (writable and locked when `lock`), the
/// step context ops run in, and whether to ask `question` first.
async fn ops_context(
    cli: &Cli,
    image: Option<&str>,
    command: &str,
    lock: bool,
    question: Option<&str>,
) -> Result<(Arc<Ctx>, StepCx, bool, Option<crate::state::StateLock>), CmdError> {
    let mut inp = inputs(cli)?;
    if let Some(i) = image {
        inp.cfg.image.uri = i.to_string();
    }
    let state = open_state(&inp, lock).await?;
    let ask = match question {
        Some(q) => will_ask(cli, q)?,
        None => false,
    };
    let lock = match lock {
        true => Some(lock_state(&inp, command).await?),
        false => None,
    };
    let id = match command {
        "restore" => ids::OPS_RESTORE,
        _ => ids::OPS_BACKUP,
    };
    let ctx = context(inp, state, progress_reporter(cli), false, Options::default()).await;
    let cx = StepCx::new(ctx.clone(), id);
    Ok((ctx, cx, ask, lock))
}

fn not_deployed(cx: &StepCx) -> CmdError {
    CmdError::usage(anyhow::anyhow!("stack `{}` is not deployed\nhint: `moodlectl up` first", cx.cfg.stack.name))
}

/// `moodlectl backup [--name N]`: a DB snapshot and a file-system recovery point, now.
pub async fn backup(cli: &Cli, name: Option<&str>) -> CmdResult {
    if let Some(n) = name {
        if !copies::valid_snapshot_name(n) {
            return Err(CmdError::usage(anyhow::anyhow!(
                "--name `{n}`: use letters, digits and single hyphens, starting with a letter"
            )));
        }
    }
    let inp = inputs(cli)?;
    let stack = inp.cfg.stack.name.clone();
    let (_ctx, cx, _, lock) = ops_context(cli, None, "backup", true, None).await?;
    if cx.state.id(crate::resources::keys::DB_INSTANCE).is_none()
        && cx.state.id(crate::resources::keys::DB_CLUSTER).is_none()
    {
        return Err(not_deployed(&cx));
    }
    let snap = match name {
        Some(n) => format!("{stack}-{n}"),
        None => copies::snapshot_name(&stack, "backup"),
    };
    let tags = [("moodlectl:stack", stack.as_str()), ("moodlectl:purpose", "backup")];
    let (s, p) = tokio::try_join!(copies::db_snapshot(&cx, &snap, &tags), async {
        let token = idempotency_token(&stack, &cx.state.generation(), &format!("backup|{snap}"), 0);
        copies::efs_backup(&cx, &token, None, |_| Ok(())).await
    })
    .map_err(rt)?;
    drop(lock);
    match cli.output {
        OutputFormat::Json => {
            println!("{}", serde_json::json!({"schema": "moodlectl.backup/v1", "snapshot": s, "recovery_point": p}))
        }
        OutputFormat::Text => {
            println!("snapshot        {}  ({} GiB, {})", s.id, s.size_gib, s.created.as_deref().unwrap_or("-"));
            println!("recovery point  {}  ({} bytes, {})", p.arn, p.size_bytes, p.created.as_deref().unwrap_or("-"));
            if !cli.quiet {
                eprintln!("restore with: moodlectl restore --snapshot {} --files {}", s.id, p.arn);
            }
        }
    }
    Ok(exit::OK)
}

/// `moodlectl backups`: the stack's snapshots and recovery points.
pub async fn list(cli: &Cli) -> CmdResult {
    let (_ctx, cx, _, _) = ops_context(cli, None, "backups", false, None).await?;
    let snaps = copies::list_snapshots(&cx).await.map_err(rt)?;
    let points = match copies::list_recovery_points(&cx).await {
        Ok(p) => p,
        // No vault: nothing backed up yet (or the stack is gone).
        Err(e) if e.code() == Some("ResourceNotFoundException") => vec![],
        Err(e) => return Err(rt(e)),
    };
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema": "moodlectl.backups/v1", "stack": cx.cfg.stack.name,
                "db_snapshots": snaps, "recovery_points": points
            }))
            .expect("serialises")
        ),
        OutputFormat::Text => {
            let mut rows: Vec<Vec<String>> = snaps
                .iter()
                .map(|s| {
                    let created = s.created.clone().unwrap_or_else(|| "-".into());
                    vec!["db-snapshot".into(), s.id.clone(), created, format!("{} GiB", s.size_gib), s.status.clone()]
                })
                .collect();
            rows.extend(points.iter().map(|p| {
                let created = p.created.clone().unwrap_or_else(|| "-".into());
                vec!["files".into(), p.arn.clone(), created, format!("{} B", p.size_bytes), p.status.clone()]
            }));
            let mut out = std::io::stdout().lock();
            print_table(&mut out, &["KIND", "ID", "CREATED", "SIZE", "STATUS"], &rows);
        }
    }
    Ok(exit::OK)
}

/// `moodlectl restore`: see `ops::restore`.
pub async fn restore(
    cli: &Cli,
    snapshot: Option<&str>,
    files: Option<&str>,
    image: Option<&str>,
    delete_old: bool,
) -> CmdResult {
    let stack = inputs(cli)?.cfg.stack.name.clone();
    let question = if delete_old {
        format!("DELETE the database instance and file system a restore of stack `{stack}` replaced")
    } else {
        format!("restore snapshot {} into stack `{stack}`", snapshot.unwrap_or_default())
    };
    let (ctx, cx, ask, lock) = ops_context(cli, image, "restore", true, Some(&question)).await?;
    let say = |m: String| {
        if !cli.quiet {
            eprintln!("restore: {m}");
        }
    };
    let record = cx.state.get(RESTORE);
    if delete_old {
        let done = record.as_ref().is_some_and(|r| r.attrs.contains_key(restore::at::DONE));
        if !done {
            return Err(CmdError::usage(anyhow::anyhow!("no finished restore kept anything to delete")));
        }
        confirm(cli, &question, &stack)?;
        let gone = restore::delete_old(&cx, None).await.map_err(rt)?;
        drop(lock);
        for g in gone {
            println!("deleted: {g}");
        }
        return Ok(exit::OK);
    }
    let snapshot = snapshot.expect("clap requires --snapshot without --delete-old");
    let aurora = crate::resources::data::is_aurora(&cx);
    // What is swapped: the instance, or (Aurora) the cluster with its writer.
    let db_name =
        if aurora { crate::resources::names::cluster_id(&cx) } else { crate::resources::names::instance_id(&cx) };
    match &record {
        Some(r) if r.attrs.contains_key(restore::at::DONE) => {
            let old = r.attrs.get(restore::at::OLD_DB).cloned().unwrap_or_default();
            return Err(CmdError::usage(anyhow::anyhow!(
                "an earlier restore kept {old}\nhint: `moodlectl restore --delete-old` first (check the site works on the restored data)"
            )));
        }
        Some(r) if r.id != snapshot => {
            return Err(CmdError::usage(anyhow::anyhow!(
                "a restore of {} is in progress\nhint: finish it: `moodlectl restore --snapshot {}`",
                r.id,
                r.id
            )));
        }
        Some(_) => say(format!("resuming the restore of {snapshot}")),
        None => {
            let shape = oneoff::service_shape(&ctx.aws, &ctx.cfg).await.map_err(rt)?;
            if shape.is_none() {
                return Err(not_deployed(&cx));
            }
            let found = copies::find_snapshot(&cx, aurora, snapshot).await.map_err(rt)?;
            if found.as_ref().map(|s| s.status.as_str()) != Some("available") {
                return Err(CmdError::usage(anyhow::anyhow!(
                    "snapshot `{snapshot}` is not available ({})\nhint: `moodlectl backups` lists them",
                    found.map(|s| s.status).unwrap_or_else(|| "not found".into())
                )));
            }
            if let Some(rp) = files {
                let points = copies::list_recovery_points(&cx).await.map_err(rt)?;
                if !points.iter().any(|p| p.arn == rp && p.status == "COMPLETED") {
                    return Err(CmdError::usage(anyhow::anyhow!(
                        "--files {rp}: no completed recovery point of that ARN in the stack's vault\nhint: `moodlectl backups` lists them"
                    )));
                }
            }
            if ask {
                let name = &db_name;
                let what = if aurora { "cluster (and its writer)" } else { "instance" };
                eprintln!("will restore into stack `{stack}`:");
                eprintln!("  1. rename the database {what} {name} to {name}-replaced-<UTC> (kept)");
                eprintln!("  2. restore snapshot {snapshot} as {name} (same endpoint)");
                if let Some(rp) = files {
                    eprintln!("  3. restore {rp} into a new file system (the old one is kept)");
                }
                eprintln!("  then roll the services onto them and wait until Moodle answers");
                confirm(cli, &question, "yes")?;
            }
            let old = copies::snapshot_name(&db_name, "replaced");
            let mut r = Resource::new("moodlectl:restore", snapshot).with(restore::at::OLD_DB, old);
            if aurora {
                r = r.with(restore::at::CLUSTER, "true");
            }
            if let Some(rp) = files {
                r = r.with(restore::at::FILES, rp);
            }
            cx.state.record(RESTORE, r).map_err(|e| rt(e.into()))?;
        }
    }
    let old_db = restore::get(&cx, restore::at::OLD_DB).expect("recorded");
    if restore::get(&cx, restore::at::RESTORED).is_none() && aurora {
        crate::ops::restore_aurora::rename_current(&cx, &old_db).await.map_err(rt)?;
        restore::set(&cx, restore::at::RENAMED, "true").map_err(rt)?;
        crate::ops::restore_aurora::restore(&cx, snapshot).await.map_err(rt)?;
        restore::set(&cx, restore::at::RESTORED, "true").map_err(rt)?;
        say(format!("snapshot {snapshot} restored; the replaced cluster is {old_db}"));
    }
    if restore::get(&cx, restore::at::RESTORED).is_none() {
        restore::rename_current(&cx, &old_db).await.map_err(rt)?;
        restore::set(&cx, restore::at::RENAMED, "true").map_err(rt)?;
        restore::restore_instance(&cx, snapshot).await.map_err(rt)?;
        restore::set(&cx, restore::at::RESTORED, "true").map_err(rt)?;
        say(format!("snapshot {snapshot} restored; the replaced instance is {old_db}"));
    }
    if let Some(rp) = restore::get(&cx, restore::at::FILES) {
        if restore::get(&cx, restore::at::NEW_FS).is_none() {
            let token = idempotency_token(&stack, &cx.state.generation(), &format!("restore|{rp}"), 0);
            let (old, new) = restore::restore_files(&cx, &rp, &token).await.map_err(rt)?;
            restore::set(&cx, restore::at::OLD_FS, &old).map_err(rt)?;
            restore::set(&cx, restore::at::NEW_FS, &new).map_err(rt)?;
            say(format!("files restored into {new}; the replaced file system is {old}"));
        }
    }
    // The stack converges on the restored resources: new mount targets and
    // access point for a new file system, new revisions (the file system,
    // the image), the services rolled onto them.
    let region = ctx.cfg.stack.region.clone();
    let before = oneoff::service_shape(&ctx.aws, &ctx.cfg).await.map_err(rt)?.map(|s| s.task_definition.revision());
    let report = super::up::walk(cli, &ctx, Direction::Up, (stack.clone(), region)).await?;
    if !report.ok() {
        return Err(super::up::failure("restore", &report, Some(&ctx.state.path().display().to_string())));
    }
    let after = oneoff::service_shape(&ctx.aws, &ctx.cfg).await.map_err(rt)?.map(|s| s.task_definition.revision());
    if before == after {
        // Same revision (same endpoint, same image): the tasks still hold
        // connections to the replaced instance; new tasks connect afresh.
        restart_services(&cx).await.map_err(rt)?;
    }
    wait_moodle_answers(&cx).await.map_err(rt)?;
    restore::set(&cx, restore::at::DONE, &crate::state::now_rfc3339()).map_err(rt)?;
    drop(lock);
    let old_fs = restore::get(&cx, restore::at::OLD_FS);
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"schema": "moodlectl.restore/v1", "snapshot": snapshot,
                "db_instance": db_name, "kept_db_instance": old_db,
                "file_system": restore::get(&cx, restore::at::NEW_FS), "kept_file_system": old_fs})
        ),
        OutputFormat::Text => {
            println!("restored: snapshot {snapshot} → {db_name}");
            println!("kept: DB {} {old_db}", if aurora { "cluster" } else { "instance" });
            if let Some(fs) = &old_fs {
                println!("kept: file system {fs}");
            }
            println!("when the site is right: moodlectl restore --delete-old");
        }
    }
    Ok(exit::OK)
}

/// A new deployment of both services (same revision), waited on.
async fn restart_services(cx: &StepCx) -> Result<(), StepError> {
    use crate::resources::compute::{cluster_name, wait_stable, Role};
    for role in [Role::Web, Role::Cron] {
        let name = role.service(cx);
        let call = cx.aws.ecs.update_service().cluster(cluster_name(cx)).service(&name).force_new_deployment(true);
        call.send().await.map_err(|e| crate::aws::errors::aws_err("UpdateService", &name, e))?;
    }
    for role in [Role::Web, Role::Cron] {
        wait_stable(cx, role).await?;
    }
    Ok(())
}

/// Moodle answers when every target of the service is healthy on the load
/// balancer (its health check is Moodle's own health endpoint).
async fn wait_moodle_answers(cx: &StepCx) -> Result<(), StepError> {
    use crate::resources::shared::wait::{wait_for, Poll};
    let tg = cx.require(crate::resources::keys::TARGET_GROUP, ids::EDGE_TARGET_GROUP)?;
    wait_for(cx, "Moodle behind the load balancer", cx.wait_timeout, || async {
        let o = cx.aws.elbv2.describe_target_health().target_group_arn(&tg).send().await;
        let o = o.map_err(|e| crate::aws::errors::aws_err("DescribeTargetHealth", &tg, e))?;
        let states: Vec<String> = o
            .target_health_descriptions()
            .iter()
            .map(|d| d.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default())
            .collect();
        Ok(if !states.is_empty() && states.iter().all(|s| s == "healthy") {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("targets: {}", if states.is_empty() { "none".into() } else { states.join(", ") }))
        })
    })
    .await
}
