//! Restoring a snapshot (and a file-system recovery point) into new
//! resources, and deleting what they replaced once the operator says so.
//!
//! The database is swapped by name: the running instance `<stack>-db` is
//! renamed `<stack>-db-replaced-<UTC>` and the snapshot restored as
//! `<stack>-db`. RDS endpoints follow the identifier, so the restored
//! instance answers at the same host name: the config, the DB secret and the
//! event subscription keep naming it, and `up` keeps converging it (the step
//! finds it by name). The file system is restored by AWS Backup into a new
//! file system, which takes the stack's tags; the old one is re-tagged
//! `efs/file-system-replaced`, and the stack's state forgets its mount
//! targets and access point so `up` builds them for the new one.
//!
//! Aurora stacks swap the cluster and its writer the same way
//! (`restore_aurora`).
//!
//! AWS rules encoded here:
//! - A rename (`ModifyDBInstance NewDBInstanceIdentifier`, applied at once)
//!   takes a while; the new name is only free once the old one is gone from
//!   `DescribeDBInstances`.
//! - `RestoreDBInstanceFromDBSnapshot` takes the network and class again (a
//!   restore gets the default security group otherwise).
//! - An instance with deletion protection cannot be deleted: it is switched
//!   off first, explicitly, by `restore --delete-old` only.
//! - A file system with mount targets cannot be deleted: they go first, and
//!   the file system once they are gone.

use crate::error::StepError;
use crate::resources::data::{mount_target_key, wait_instance_available, ACCESS_POINT, DB_SUBNET_GROUP, EFS, SG_DB};
use crate::resources::keys::RESTORE;
use crate::resources::network::AZS;
use crate::resources::prelude::*;
use crate::resources::shared::tags::TAG_RESOURCE;
use crate::resources::shared::wait::{wait_for, wait_gone, Poll};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Attributes of the `ops/restore` record.
pub mod at {
    pub const OLD_DB: &str = "old_db";
    pub const RENAMED: &str = "renamed";
    pub const RESTORED: &str = "db_restored";
    pub const FILES: &str = "files";
    pub const RESTORE_JOB: &str = "restore_job";
    pub const OLD_FS: &str = "old_fs";
    pub const NEW_FS: &str = "new_fs";
    pub const DONE: &str = "done";
    /// Set when the restore replaced an Aurora cluster (its writer with it).
    pub const CLUSTER: &str = "cluster";
}

pub const REPLACED_FS: &str = "efs/file-system-replaced";

pub fn get(cx: &StepCx, attr: &str) -> Option<String> {
    cx.state.get(RESTORE).and_then(|r| r.attrs.get(attr).cloned())
}

pub fn set(cx: &StepCx, attr: &str, value: &str) -> Result<(), StepError> {
    let mut r = cx.state.get(RESTORE).expect("a restore record exists once begun");
    r.attrs.insert(attr.into(), value.into());
    Ok(cx.state.record(RESTORE, r)?)
}

/// The DB instance named `id`, if any (also the Aurora restore's).
pub(crate) async fn describe(cx: &StepCx, id: &str) -> Result<Option<aws_sdk_rds::types::DbInstance>, StepError> {
    let r = cx.aws.rds.describe_db_instances().db_instance_identifier(id).send().await;
    Ok(r.or_absent("DescribeDBInstances", id)?.and_then(|o| o.db_instances().first().cloned()))
}

/// Rename the running instance out of the way (once), and wait until its
/// name is free.
pub async fn rename_current(cx: &StepCx, old_name: &str) -> Result<(), StepError> {
    let name = crate::resources::names::instance_id(cx);
    if describe(cx, old_name).await?.is_none() {
        cx.progress(format!("renaming {name} to {old_name}"));
        let call = cx.aws.rds.modify_db_instance().db_instance_identifier(&name);
        let call = call.new_db_instance_identifier(old_name).apply_immediately(true);
        call.send().await.ctx("ModifyDBInstance", &name)?;
    }
    wait_for(cx, &format!("rename of {name} to {old_name}"), cx.wait_timeout, || async {
        let old = describe(cx, old_name).await?;
        let busy = describe(cx, &name).await?;
        Ok(match (old, busy) {
            (Some(o), None) if o.db_instance_status() == Some("available") => Poll::Ready(()),
            (o, b) => Poll::Pending(format!(
                "{old_name}: {}; {name}: {}",
                o.and_then(|i| i.db_instance_status().map(str::to_string)).unwrap_or_else(|| "not yet".into()),
                if b.is_some() { "still there" } else { "free" }
            )),
        })
    })
    .await
}

/// Restore `snapshot` as the stack's instance, in the stack's network, and
/// wait until it is available.
pub async fn restore_instance(cx: &StepCx, snapshot: &str) -> Result<(), StepError> {
    let name = crate::resources::names::instance_id(cx);
    if describe(cx, &name).await?.is_none() {
        cx.progress(format!("restoring snapshot {snapshot} as {name}"));
        let d = &cx.cfg.database;
        let tags = Tags::named(cx, crate::resources::data::DB_INSTANCE, &name).render();
        let call = cx
            .aws
            .rds
            .restore_db_instance_from_db_snapshot()
            .db_instance_identifier(&name)
            .db_snapshot_identifier(snapshot)
            .db_instance_class(&d.instance_class)
            .db_subnet_group_name(cx.require(DB_SUBNET_GROUP, ids::DATA_DB_SUBNET_GROUP)?)
            .vpc_security_group_ids(cx.require(SG_DB, ids::DATA_DB_SG)?)
            .multi_az(d.multi_az)
            .publicly_accessible(false)
            .deletion_protection(d.deletion_protection)
            .copy_tags_to_snapshot(true)
            .set_tags(Some(tags));
        match call.send().await {
            Ok(_) => {}
            // Sent before a kill: it is being restored.
            Err(e) if e.code() == Some("DBInstanceAlreadyExists") => {}
            Err(e) => return Err(aws_err("RestoreDBInstanceFromDBSnapshot", &name, e)),
        }
    }
    wait_instance_available(cx).await.map(|_| ())
}

/// Restore the file system from `recovery_point` into a new one (once), make
/// it the stack's, and return (old, new) file-system IDs.
pub async fn restore_files(cx: &StepCx, recovery_point: &str, token: &str) -> Result<(String, String), StepError> {
    let old = cx.require(EFS, ids::DATA_EFS)?;
    let job = match get(cx, at::RESTORE_JOB) {
        Some(j) => j,
        None => {
            let role = cx.require_attr(crate::resources::data::BACKUP_ROLE, "arn", ids::DATA_BACKUP_ROLE)?;
            cx.progress(format!("restoring recovery point {recovery_point} into a new file system"));
            let call = cx.aws.backup.start_restore_job().recovery_point_arn(recovery_point).iam_role_arn(role);
            let call = call
                .resource_type("EFS")
                .metadata("newFileSystem", "true")
                .metadata("Encrypted", "true")
                .metadata("PerformanceMode", "generalPurpose")
                .metadata("CreationToken", token)
                .idempotency_token(token);
            let o = call.send().await.map_err(|e| aws_err("StartRestoreJob", recovery_point, e))?;
            let j = o.restore_job_id().unwrap_or_default().to_string();
            set(cx, at::RESTORE_JOB, &j)?;
            j
        }
    };
    let created = wait_for(cx, &format!("restore job {job}"), cx.wait_timeout, || async {
        let o = cx.aws.backup.describe_restore_job().restore_job_id(&job).send().await;
        let o = o.map_err(|e| aws_err("DescribeRestoreJob", &job, e))?;
        let status = o.status().map(|s| s.as_str()).unwrap_or_default();
        let (what, made) = (format!("restore job {job}"), o.created_resource_arn());
        crate::ops::copies::job_poll(&what, status, o.status_message(), made, &["ABORTED", "FAILED"], status.into())
    })
    .await?;
    let new = created.rsplit('/').next().unwrap_or_default().to_string();
    if new != old {
        // The stack's tags move to the new file system; the old one keeps
        // its data, findable as the replaced one.
        let efs = &cx.aws.efs;
        let tag = |k: &str, v: &str| aws_sdk_efs::types::Tag::builder().key(k).value(v).build().expect("key and value");
        efs.tag_resource()
            .resource_id(&old)
            .tags(tag(TAG_RESOURCE, REPLACED_FS))
            .send()
            .await
            .ctx("TagResource", &old)?;
        let tags = Tags::named(cx, EFS, &cx.cfg.name("moodledata")).render();
        efs.tag_resource().resource_id(&new).set_tags(Some(tags)).send().await.ctx("TagResource", &new)?;
        cx.state.record(EFS, Resource::new("efs:file-system", &new))?;
        for az in AZS {
            cx.state.forget(&mount_target_key(az))?;
        }
        cx.state.forget(ACCESS_POINT)?;
    }
    Ok((old, new))
}

/// Delete the instance and file system a restore replaced (with a final
/// snapshot of the instance when `final_snapshot` names one).
pub async fn delete_old(cx: &StepCx, final_snapshot: Option<&str>) -> Result<Vec<String>, StepError> {
    let mut gone = vec![];
    let aurora = crate::resources::data::is_aurora(cx);
    if let Some(db) = get(cx, at::OLD_DB).filter(|_| get(cx, at::RENAMED).is_some() && aurora) {
        crate::ops::restore_aurora::delete_old(cx, &db).await?;
        gone.push(format!("DB cluster {db} and its writer {}", crate::ops::restore_aurora::old_writer_name(cx, &db)));
    }
    if let Some(db) = get(cx, at::OLD_DB).filter(|_| get(cx, at::RENAMED).is_some() && !aurora) {
        if let Some(i) = describe(cx, &db).await? {
            if i.deletion_protection() == Some(true) {
                let call = cx.aws.rds.modify_db_instance().db_instance_identifier(&db);
                call.deletion_protection(false).apply_immediately(true).send().await.ctx("ModifyDBInstance", &db)?;
            }
            if i.db_instance_status() != Some("deleting") {
                // Its data is the state the restore replaced; the snapshot
                // restored is what the site runs on now (`down` keeps a final
                // snapshot of it unless told not to).
                let call = cx.aws.rds.delete_db_instance().db_instance_identifier(&db);
                let call = match final_snapshot {
                    Some(f) => call.skip_final_snapshot(false).final_db_snapshot_identifier(f),
                    None => call.skip_final_snapshot(true),
                };
                deleted("DeleteDBInstance", &db, call.send().await)?;
            }
            let st = |i: &aws_sdk_rds::types::DbInstance| i.db_instance_status().unwrap_or("?").to_string();
            wait_gone(cx, &format!("DB instance {db}"), || describe(cx, &db), st).await?;
        }
        gone.push(format!("DB instance {db}"));
    }
    if let Some(fs) = get(cx, at::OLD_FS) {
        let efs = &cx.aws.efs;
        let mts =
            efs.describe_mount_targets().file_system_id(&fs).send().await.or_absent("DescribeMountTargets", &fs)?;
        for mt in mts.as_ref().map(|o| o.mount_targets()).unwrap_or_default() {
            let id = mt.mount_target_id();
            deleted("DeleteMountTarget", id, efs.delete_mount_target().mount_target_id(id).send().await)?;
        }
        wait_for(cx, &format!("mount targets of {fs}"), cx.wait_timeout, || async {
            let o =
                efs.describe_mount_targets().file_system_id(&fs).send().await.or_absent("DescribeMountTargets", &fs)?;
            let n = o.map(|o| o.mount_targets().len()).unwrap_or(0);
            Ok(if n == 0 { Poll::Ready(()) } else { Poll::Pending(format!("{n} left")) })
        })
        .await?;
        let aps =
            efs.describe_access_points().file_system_id(&fs).send().await.or_absent("DescribeAccessPoints", &fs)?;
        for ap in aps.as_ref().map(|o| o.access_points()).unwrap_or_default() {
            let id = ap.access_point_id().unwrap_or_default();
            deleted("DeleteAccessPoint", id, efs.delete_access_point().access_point_id(id).send().await)?;
        }
        deleted("DeleteFileSystem", &fs, efs.delete_file_system().file_system_id(&fs).send().await)?;
        gone.push(format!("file system {fs}"));
    }
    cx.state.forget(RESTORE)?;
    Ok(gone)
}

/// What a finished restore keeps until `--delete-old`, as `status` rows.
pub fn kept_rows(cx_state: &crate::state::StateData) -> Vec<Inspection> {
    let Some(r) = cx_state.resources.get(RESTORE) else { return vec![] };
    let mut rows = vec![];
    if let Some(db) = r.attrs.get(at::OLD_DB).filter(|_| r.attrs.contains_key(at::RENAMED)) {
        let state = "replaced by a restore; kept until `moodlectl restore --delete-old`";
        // An Aurora restore replaced a cluster (`<stack>-aurora-replaced-…`).
        let kind = if r.attrs.contains_key(at::CLUSTER) { "rds:db-cluster" } else { "rds:db-instance" };
        rows.push(Inspection::new(kind, db, Some(db.clone()), state, true));
    }
    if let Some(fs) = r.attrs.get(at::OLD_FS) {
        let state = "replaced by a restore; kept until `moodlectl restore --delete-old`";
        rows.push(Inspection::new("efs:file-system", fs, Some(fs.clone()), state, true));
    }
    for row in &mut rows {
        row.tier = "data".into();
    }
    rows
}
