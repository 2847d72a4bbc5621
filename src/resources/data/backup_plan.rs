//! The daily AWS Backup plan of the database and the file system, into the
//! stack's vault (the one `moodlectl backup` and `upgrade` use), kept
//! `logs.backup_plan_retention_days`.
//!
//! RDS's automated backups (`database.backup_retention_days`) give
//! point-in-time restore of the database; this plan adds copies AWS Backup
//! manages and lists with the file system's, so both halves of the site are
//! restorable to the same day (`moodlectl backups`, `restore`).
//!
//! AWS rules encoded here:
//! - A selection cannot be changed: a different resource list (the database
//!   or file system replaced by `restore`) is a new selection, the old one
//!   deleted.
//! - `DeleteBackupPlan` is refused while the plan has selections
//!   (InvalidRequestException): they go first.
//! - The recovery points the plan made stay in the vault after the plan is
//!   deleted; the vault step keeps them unless `down --delete-backups`.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_backup::types::{BackupPlanInput as PlanInput, BackupRuleInput, BackupSelection, Lifecycle};

/// 03:00 UTC, within an hour, done within 8 hours.
const SCHEDULE: &str = "cron(0 3 * * ? *)";
const RULE: &str = "daily";

pub fn backup_plan_name(cx: &StepCx) -> String {
    cx.cfg.name("daily")
}

fn selection_name(cx: &StepCx) -> String {
    cx.cfg.name("db-and-files")
}

fn plan_input(cx: &StepCx) -> PlanInput {
    let days = i64::from(cx.cfg.logs.backup_plan_retention_days);
    let rule = BackupRuleInput::builder()
        .rule_name(RULE)
        .target_backup_vault_name(backup_vault_name(cx))
        .schedule_expression(SCHEDULE)
        .start_window_minutes(60)
        .completion_window_minutes(480)
        .lifecycle(Lifecycle::builder().delete_after_days(days).build())
        .build()
        .expect("rule name and vault");
    PlanInput::builder().backup_plan_name(backup_plan_name(cx)).rules(rule).build().expect("name and rules")
}

/// What the plan backs up: the database (instance, or Aurora cluster) and the file system.
fn resources(cx: &StepCx) -> Option<Vec<String>> {
    let db_key = if is_aurora(cx) { DB_CLUSTER } else { DB_INSTANCE };
    let db = cx.recorded_attr(db_key, "arn")?;
    let fs = cx.state.id(EFS)?;
    let account = db.split(':').nth(4)?.to_string();
    let mut v = vec![db, format!("arn:aws:elasticfilesystem:{}:{account}:file-system/{fs}", cx.aws.region)];
    v.sort();
    Some(v)
}

async fn find_plan(cx: &StepCx) -> Result<Option<String>, StepError> {
    let name = backup_plan_name(cx);
    let pages = cx.aws.backup.list_backup_plans().into_paginator().send();
    let pages: Vec<_> = pages.collect::<Result<Vec<_>, _>>().await.ctx("ListBackupPlans", &name)?;
    let plans = pages.iter().flat_map(|p| p.backup_plans_list());
    Ok(plans
        .filter(|p| p.backup_plan_name() == Some(name.as_str()))
        .find_map(|p| p.backup_plan_id().map(str::to_string)))
}

/// The plan's selections: (ID, name, resources).
async fn selections(cx: &StepCx, plan: &str) -> Result<Vec<(String, String, Vec<String>)>, StepError> {
    let o =
        cx.aws.backup.list_backup_selections().backup_plan_id(plan).send().await.ctx("ListBackupSelections", plan)?;
    let mut out = vec![];
    for s in o.backup_selections_list() {
        let id = s.selection_id().unwrap_or_default().to_string();
        let g = cx.aws.backup.get_backup_selection().backup_plan_id(plan).selection_id(&id).send().await;
        let Some(g) = g.or_absent("GetBackupSelection", &id)? else { continue };
        let mut res = g.backup_selection().map(|b| b.resources().to_vec()).unwrap_or_default();
        res.sort();
        out.push((id, s.selection_name().unwrap_or_default().to_string(), res));
    }
    Ok(out)
}

async fn retention(cx: &StepCx, plan: &str) -> Result<Option<(i64, String)>, StepError> {
    let o = cx.aws.backup.get_backup_plan().backup_plan_id(plan).send().await.or_absent("GetBackupPlan", plan)?;
    let rule = o.and_then(|o| o.backup_plan().and_then(|p| p.rules().first().cloned()));
    Ok(rule.map(|r| {
        (r.lifecycle().and_then(|l| l.delete_after_days()).unwrap_or(0), r.target_backup_vault_name().to_string())
    }))
}

pub(crate) struct BackupPlanStep;

#[async_trait]
impl Step<StepCx> for BackupPlanStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = backup_plan_name(cx);
        let days = i64::from(cx.cfg.logs.backup_plan_retention_days);
        let mut changes = vec![];
        let (plan, created) = match find_plan(cx).await? {
            Some(id) => {
                cx.record(BACKUP_PLAN, Resource::new("backup:plan", &id).with("name", &name))?;
                let live = retention(cx, &id).await?;
                if live != Some((days, backup_vault_name(cx))) {
                    changes.push(change(
                        "backup_plan_retention_days",
                        live.map(|(d, _)| d.to_string()).unwrap_or("?".into()),
                        days,
                    ));
                    if !cx.dry_run {
                        let call = cx.aws.backup.update_backup_plan().backup_plan_id(&id).backup_plan(plan_input(cx));
                        call.send().await.ctx("UpdateBackupPlan", &id)?;
                    }
                }
                (id, false)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = Tags::named(cx, BACKUP_PLAN, &name).map();
                let call =
                    cx.aws.backup.create_backup_plan().backup_plan(plan_input(cx)).set_backup_plan_tags(Some(tags));
                let o = call.creator_request_id(&name).send().await.ctx("CreateBackupPlan", &name)?;
                let id = o.backup_plan_id().unwrap_or_default().to_string();
                cx.record_new(BACKUP_PLAN, Resource::new("backup:plan", &id).with("name", &name))?;
                (id, true)
            }
        };
        let Some(want) = resources(cx) else {
            return Err(StepError::MissingDependency {
                step: ids::DATA_DB_INSTANCE,
                what: "database and file system ARNs".into(),
            });
        };
        let sel_name = selection_name(cx);
        let live = if created { vec![] } else { selections(cx, &plan).await? };
        if live.len() == 1 && live[0].2 == want && live[0].1 == sel_name {
            return Ok(Outcome::of_changes(changes));
        }
        if !created {
            changes.push(change(
                "backup selection",
                live.iter().map(|l| l.2.join(",")).collect::<Vec<_>>().join(";"),
                want.join(","),
            ));
        }
        if !cx.dry_run {
            for (id, ..) in &live {
                let r = cx.aws.backup.delete_backup_selection().backup_plan_id(&plan).selection_id(id).send().await;
                deleted("DeleteBackupSelection", id, r)?;
            }
            let role = cx.require_attr(BACKUP_ROLE, "arn", ids::DATA_BACKUP_ROLE)?;
            let sel = BackupSelection::builder().selection_name(&sel_name).iam_role_arn(role).set_resources(Some(want));
            let call = cx.aws.backup.create_backup_selection().backup_plan_id(&plan);
            let call = call.backup_selection(sel.build().expect("name and role")).creator_request_id(&sel_name);
            call.send().await.ctx("CreateBackupSelection", &sel_name)?;
        }
        Ok(if created { Outcome::Created } else { Outcome::of_changes(changes) })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        cx.remove(BACKUP_PLAN, find_plan(cx).await?, |id| async move {
            for (sel, ..) in selections(cx, &id).await? {
                let r = cx.aws.backup.delete_backup_selection().backup_plan_id(&id).selection_id(&sel).send().await;
                deleted("DeleteBackupSelection", &sel, r)?;
            }
            deleted("DeleteBackupPlan", &id, cx.aws.backup.delete_backup_plan().backup_plan_id(&id).send().await)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let found = match find_plan(cx).await? {
            Some(id) => Some((retention(cx, &id).await?, selections(cx, &id).await?, id)),
            None => None,
        };
        let days = i64::from(cx.cfg.logs.backup_plan_retention_days);
        let want = resources(cx);
        cx.inspect_one(BACKUP_PLAN, "backup:plan", &backup_plan_name(cx), found, |i, (ret, sels, id)| {
            let covered: Vec<String> = sels.iter().flat_map(|s| s.2.clone()).collect();
            let mut i = i
                .status(Some(&id), format!("daily, kept {} days", ret.as_ref().map(|r| r.0).unwrap_or(0)), true)
                .detail("resources", covered.join(","));
            if ret.map(|r| r.0) != Some(days) {
                i.drift = Some(format!("retention differs from config ({days} days)"));
            } else if want.is_some_and(|w| sels.len() != 1 || sels[0].2 != w) {
                i.drift = Some("does not cover the stack's database and file system".into());
            }
            i
        })
    }
}
