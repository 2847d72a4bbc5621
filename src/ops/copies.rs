//! Safety copies: an RDS snapshot of the database and an AWS Backup recovery
//! point of the file system (moodledata) — what `backup` takes, what
//! `upgrade` takes before it touches the database, and what `restore` reads.
//!
//! AWS rules encoded here:
//! - Snapshot identifiers are 1–255 letters, digits and hyphens, start with a
//!   letter, and have no two hyphens in a row nor one at the end; a name is
//!   chosen before `CreateDBSnapshot` is sent and recorded first, so a rerun
//!   after a kill finds the snapshot by that name (`DBSnapshotAlreadyExists`
//!   means it was taken) instead of taking a second one.
//! - Aurora takes cluster snapshots (`CreateDBClusterSnapshot`), not instance
//!   snapshots.
//! - `StartBackupJob` with the same `IdempotencyToken` returns the job it
//!   already started; the recovery point exists once the job is COMPLETED.

use crate::error::StepError;
use crate::resources::data::{is_aurora, BACKUP_ROLE, BACKUP_VAULT, DB_CLUSTER, DB_INSTANCE, EFS};
use crate::resources::prelude::*;
use crate::resources::shared::wait::{wait_for, Poll};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// A snapshot name from a label: `<stack>-<label>-<UTC yyyymmdd-hhmmss>`.
pub fn snapshot_name(stack: &str, label: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let f = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    format!("{stack}-{label}-{}", now.format(&f).expect("formats"))
}

/// Is `s` a valid RDS snapshot identifier (see the module docs)?
pub fn valid_snapshot_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.contains("--")
        && !s.ends_with('-')
}

/// The database the stack runs: (is it an Aurora cluster, its identifier).
pub fn database(cx: &StepCx) -> Result<(bool, String), StepError> {
    let aurora = is_aurora(cx);
    let (key, step) = if aurora { (DB_CLUSTER, ids::DATA_DB_INSTANCE) } else { (DB_INSTANCE, ids::DATA_DB_INSTANCE) };
    Ok((aurora, cx.require(key, step)?))
}

/// Take snapshot `name` of the database (or find it taken) and wait until it is available.
pub async fn db_snapshot(cx: &StepCx, name: &str, tags: &[(&str, &str)]) -> Result<SnapshotInfo, StepError> {
    let (aurora, db) = database(cx)?;
    if find_snapshot(cx, aurora, name).await?.is_none() {
        cx.progress(format!("taking snapshot {name} of {db}"));
        if aurora {
            let t = tags.iter().map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(*k).value(*v).build());
            let call = cx.aws.rds.create_db_cluster_snapshot().db_cluster_snapshot_identifier(name);
            let r = call.db_cluster_identifier(&db).set_tags(Some(t.collect())).send().await;
            taken(r, "DBClusterSnapshotAlreadyExistsFault", "CreateDBClusterSnapshot", name)?;
        } else {
            let t = tags.iter().map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(*k).value(*v).build());
            let call = cx.aws.rds.create_db_snapshot().db_snapshot_identifier(name);
            let r = call.db_instance_identifier(&db).set_tags(Some(t.collect())).send().await;
            taken(r, "DBSnapshotAlreadyExists", "CreateDBSnapshot", name)?;
        }
    }
    wait_for(cx, &format!("snapshot {name}"), cx.wait_timeout, || async {
        match find_snapshot(cx, aurora, name).await? {
            Some(s) if s.status == "available" => Ok(Poll::Ready(s)),
            Some(s) if s.status == "failed" => Err(StepError::BadState {
                resource: format!("snapshot {name}"),
                state: s.status,
                wanted: "available".into(),
            }),
            Some(s) => Ok(Poll::Pending(s.status)),
            None => Ok(Poll::Pending("not visible yet".into())),
        }
    })
    .await
}

/// A create whose "already exists" answer means an earlier run (killed
/// before it could record the answer) already sent it.
fn taken<T, E, R>(r: Result<T, SdkError<E, R>>, exists: &str, op: &str, name: &str) -> Result<(), StepError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(exists) => Ok(()),
        Err(e) => Err(aws_err(op, name, e)),
    }
}

/// A DB snapshot as `backups` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotInfo {
    pub id: String,
    pub status: String,
    pub created: Option<String>,
    pub size_gib: i32,
    pub source: String,
}

fn rfc3339(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| time::OffsetDateTime::from_unix_timestamp(d.secs()).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}

pub async fn find_snapshot(cx: &StepCx, aurora: bool, name: &str) -> Result<Option<SnapshotInfo>, StepError> {
    if aurora {
        let call = cx.aws.rds.describe_db_cluster_snapshots().db_cluster_snapshot_identifier(name);
        let o = match call.send().await {
            Ok(o) => o,
            Err(e) if e.code() == Some("DBClusterSnapshotNotFoundFault") => return Ok(None),
            Err(e) => return Err(aws_err("DescribeDBClusterSnapshots", name, e)),
        };
        return Ok(o.db_cluster_snapshots().first().map(|s| SnapshotInfo {
            id: name.into(),
            status: s.status().unwrap_or_default().into(),
            created: rfc3339(s.snapshot_create_time()),
            size_gib: s.allocated_storage().unwrap_or(0),
            source: s.db_cluster_identifier().unwrap_or_default().into(),
        }));
    }
    let o = cx.aws.rds.describe_db_snapshots().db_snapshot_identifier(name).send().await;
    let o = o.or_absent("DescribeDBSnapshots", name)?;
    Ok(o.and_then(|o| o.db_snapshots().first().map(snapshot_info)))
}

fn snapshot_info(s: &aws_sdk_rds::types::DbSnapshot) -> SnapshotInfo {
    SnapshotInfo {
        id: s.db_snapshot_identifier().unwrap_or_default().into(),
        status: s.status().unwrap_or_default().into(),
        created: rfc3339(s.snapshot_create_time()),
        size_gib: s.allocated_storage().unwrap_or(0),
        source: s.db_instance_identifier().unwrap_or_default().into(),
    }
}

/// The stack's manual snapshots (`backup`, `upgrade`; not the final one of
/// `down`, which has no stack left to list it), newest first.
pub async fn list_snapshots(cx: &StepCx) -> Result<Vec<SnapshotInfo>, StepError> {
    let prefix = format!("{}-", cx.cfg.stack.name);
    let call = cx.aws.rds.describe_db_snapshots().snapshot_type("manual");
    let pages = call.into_paginator().send().collect::<Result<Vec<_>, _>>().await;
    let pages = pages.map_err(|e| aws_err("DescribeDBSnapshots", "manual snapshots", e))?;
    let mut v: Vec<SnapshotInfo> = pages
        .iter()
        .flat_map(|p| p.db_snapshots())
        .filter(|s| s.db_snapshot_identifier().is_some_and(|i| i.starts_with(&prefix)))
        .map(snapshot_info)
        .collect();
    v.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(v)
}

/// A recovery point of the file system.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecoveryPointInfo {
    pub arn: String,
    pub status: String,
    pub created: Option<String>,
    pub size_bytes: i64,
    pub file_system: String,
}

/// Back up the file system into the stack's vault (idempotent on `token`)
/// and wait for the job; returns the recovery point.
pub async fn efs_backup(
    cx: &StepCx,
    token: &str,
    recorded_job: Option<String>,
    on_job: impl FnOnce(&str) -> Result<(), StepError>,
) -> Result<RecoveryPointInfo, StepError> {
    let vault = cx.require(BACKUP_VAULT, ids::DATA_BACKUP_VAULT)?;
    let job = match recorded_job {
        Some(j) => j,
        None => {
            let role = cx.require_attr(BACKUP_ROLE, "arn", ids::DATA_BACKUP_ROLE)?;
            let fs = cx.require(EFS, ids::DATA_EFS)?;
            let account = crate::resources::audit::account_id(cx).await?;
            let arn = format!("arn:aws:elasticfilesystem:{}:{account}:file-system/{fs}", cx.aws.region);
            cx.progress(format!("backing up file system {fs} into vault {vault}"));
            let call = cx.aws.backup.start_backup_job().backup_vault_name(&vault).resource_arn(&arn).iam_role_arn(role);
            let o = call.idempotency_token(token).send().await.map_err(|e| aws_err("StartBackupJob", &arn, e))?;
            let id = o.backup_job_id().unwrap_or_default().to_string();
            on_job(&id)?;
            id
        }
    };
    let point = wait_for(cx, &format!("backup job {job}"), cx.wait_timeout, || async {
        let o = cx.aws.backup.describe_backup_job().backup_job_id(&job).send().await;
        let o = o.map_err(|e| aws_err("DescribeBackupJob", &job, e))?;
        let state = o.state().map(|s| s.as_str()).unwrap_or_default();
        let pending = format!("{state} {}%", o.percent_done().unwrap_or("0"));
        let failed = ["ABORTED", "FAILED", "EXPIRED", "PARTIAL"];
        job_poll(&format!("backup job {job}"), state, o.status_message(), o.recovery_point_arn(), &failed, pending)
    })
    .await?;
    let points = list_recovery_points(cx).await?;
    points.into_iter().find(|p| p.arn == point).ok_or_else(|| StepError::BadState {
        resource: format!("recovery point {point}"),
        state: "not listed".into(),
        wanted: "COMPLETED".into(),
    })
}

/// One poll of an AWS Backup job (backup or restore): COMPLETED is ready
/// with `done` (what the job made), a `failed` status an error naming it.
pub fn job_poll(
    what: &str,
    status: &str,
    message: Option<&str>,
    done: Option<&str>,
    failed: &[&str],
    pending: String,
) -> Result<Poll<String>, StepError> {
    match status {
        "COMPLETED" => Ok(Poll::Ready(done.unwrap_or_default().to_string())),
        s if failed.contains(&s) => Err(StepError::BadState {
            resource: format!("{what} ({})", message.unwrap_or_default()),
            state: s.to_string(),
            wanted: "COMPLETED".into(),
        }),
        _ => Ok(Poll::Pending(pending)),
    }
}

/// The vault's recovery points, newest first.
pub async fn list_recovery_points(cx: &StepCx) -> Result<Vec<RecoveryPointInfo>, StepError> {
    let vault = crate::resources::names::backup_vault_name(cx);
    let mut v: Vec<RecoveryPointInfo> = crate::resources::data::recovery_points(&cx.aws, &vault)
        .await?
        .iter()
        .map(|p| RecoveryPointInfo {
            arn: p.recovery_point_arn().unwrap_or_default().into(),
            status: p.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            created: rfc3339(p.creation_date()),
            size_bytes: p.backup_size_in_bytes().unwrap_or(0),
            file_system: p.resource_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default().into(),
        })
        .collect();
    v.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(v)
}
