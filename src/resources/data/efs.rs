//! The EFS file system (and its security group) holding Moodle's moodledata.
//!
//! The file system is regional and needs nothing, so it starts at once.
//! `CreateFileSystem` takes a creation token derived from the stack's state
//! generation: a create retried after a crash returns
//! `FileSystemAlreadyExists` naming the file system, which is then adopted.
//! Teardown: EFS refuses to delete a file system with mount targets, and
//! answers "in use" for a while after they go.
//!
//! Eventual consistency: `DeleteFileSystem` answers `FileSystemInUse` for a
//! while after the mount targets are gone (`transient::FILE_SYSTEM_DELETE`).

use super::*;
use crate::resources::prelude::*;
use aws_sdk_efs::types::{
    FileSystemDescription, LifecyclePolicy, PerformanceMode, ThroughputMode, TransitionToIaRules,
    TransitionToPrimaryStorageClassRules,
};
use std::collections::BTreeMap;

pub async fn find_fs(cx: &StepCx) -> Result<Option<FileSystemDescription>, StepError> {
    let live = |f: &FileSystemDescription| !matches!(f.life_cycle_state().as_str(), "deleted" | "deleting");
    if let Some(id) = cx.state.id(EFS) {
        let call = cx.aws.efs.describe_file_systems().file_system_id(&id);
        let r = call.send().await.or_absent("DescribeFileSystems", &id)?;
        if let Some(f) = r.and_then(|o| o.file_systems().iter().find(|f| live(f)).cloned()) {
            return Ok(Some(f));
        }
    }
    let mut marker = None;
    loop {
        let o = cx.aws.efs.describe_file_systems().set_marker(marker).send().await.ctx("DescribeFileSystems", "EFS")?;
        if let Some(f) = o.file_systems().iter().find(|f| live(f) && is_ours(cx, f.tags(), EFS)) {
            return Ok(Some(f.clone()));
        }
        match o.next_marker() {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
}

/// The life-cycle states of file systems `ids`, by ID (DescribeFileSystems
/// takes one ID per call); one AWS no longer knows is left out.
async fn fs_states(cx: &StepCx, ids: Vec<String>) -> Result<Option<BTreeMap<String, String>>, StepError> {
    let mut states = BTreeMap::new();
    for id in ids {
        let call = cx.aws.efs.describe_file_systems().file_system_id(&id);
        if let Some(o) = call.send().await.or_absent("DescribeFileSystems", &id)? {
            let state = |f: &FileSystemDescription| f.life_cycle_state().as_str().to_string();
            states.extend(o.file_systems().iter().map(|f| (f.file_system_id().to_string(), state(f))));
        }
    }
    Ok(Some(states))
}

pub(crate) fn desired_lifecycle() -> Vec<LifecyclePolicy> {
    vec![
        LifecyclePolicy::builder().transition_to_ia(TransitionToIaRules::After30Days).build(),
        LifecyclePolicy::builder()
            .transition_to_primary_storage_class(TransitionToPrimaryStorageClassRules::After1Access)
            .build(),
    ]
}

pub(crate) fn lifecycle_matches(live: &[LifecyclePolicy]) -> bool {
    live.iter().any(|p| p.transition_to_ia() == Some(&TransitionToIaRules::After30Days))
        && live.iter().any(|p| {
            p.transition_to_primary_storage_class() == Some(&TransitionToPrimaryStorageClassRules::After1Access)
        })
}

pub(crate) struct EfsStep;

#[async_trait]
impl Step<StepCx> for EfsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("moodledata");
        let (id, out) = match find_fs(cx).await? {
            Some(f) => {
                let id = f.file_system_id().to_string();
                cx.record(
                    EFS,
                    Resource::new("efs:file-system", &id).with("arn", f.file_system_arn().unwrap_or_default()),
                )?;
                if f.encrypted() != Some(true) || f.performance_mode() != &PerformanceMode::GeneralPurpose {
                    return Err(StepError::Refused(format!(
                        "EFS {id} is not encrypted/general-purpose; encryption and performance mode cannot change in place (it holds moodledata: migrate it by hand)"
                    )));
                }
                let mut o = Outcome::Unchanged;
                if f.throughput_mode() != Some(&ThroughputMode::Elastic) {
                    o = Outcome::Updated(vec![change(
                        "throughput_mode",
                        f.throughput_mode().map(|t| t.as_str()).unwrap_or("?"),
                        "elastic",
                    )]);
                    if !cx.dry_run {
                        let call = cx.aws.efs.update_file_system().file_system_id(&id);
                        let call = call.throughput_mode(ThroughputMode::Elastic);
                        call.send().await.ctx("UpdateFileSystem", &id)?;
                    }
                }
                (id, o)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let token = cx.token(EFS)?;
                let r = cx
                    .aws
                    .efs
                    .create_file_system()
                    .creation_token(&token)
                    .performance_mode(PerformanceMode::GeneralPurpose)
                    .throughput_mode(ThroughputMode::Elastic)
                    .encrypted(true)
                    .backup(true)
                    .set_tags(Some(Tags::named(cx, EFS, &name).render()))
                    .send()
                    .await;
                let (id, arn) = match r {
                    Ok(o) => (o.file_system_id().to_string(), o.file_system_arn().unwrap_or_default().to_string()),
                    Err(e) => match e.as_service_error() {
                        // A run killed after this call already created it.
                        Some(
                            aws_sdk_efs::operation::create_file_system::CreateFileSystemError::FileSystemAlreadyExists(
                                x,
                            ),
                        ) => (x.file_system_id().to_string(), String::new()),
                        _ => return Err(aws_err("CreateFileSystem", &name, e)),
                    },
                };
                cx.record_new(EFS, Resource::new("efs:file-system", &id).with("arn", arn))?;
                (id, Outcome::Created)
            }
        };
        let mut out =
            ready_all(cx, "EFS", vec![(id.clone(), out)], "available", &["error"], |ids| fs_states(cx, ids)).await?;
        let lc = if out == Outcome::Created && !cx.dry_run {
            vec![]
        } else {
            let call = cx.aws.efs.describe_lifecycle_configuration().file_system_id(&id);
            call.send().await.ctx("DescribeLifecycleConfiguration", &id)?.lifecycle_policies().to_vec()
        };
        if !lifecycle_matches(&lc) {
            if out != Outcome::Created {
                out = out.merge(Outcome::Updated(vec!["lifecycle: IA after 30 days, back after 1 access".into()]));
            }
            if !cx.dry_run {
                let call = cx.aws.efs.put_lifecycle_configuration().file_system_id(&id);
                let call = call.set_lifecycle_policies(Some(desired_lifecycle()));
                call.send().await.ctx("PutLifecycleConfiguration", &id)?;
            }
        }
        if out != Outcome::Created {
            // Backups are switched on at creation (`Backup=true`); repair only on drift.
            let call = cx.aws.efs.describe_backup_policy().file_system_id(&id);
            let b = call.send().await.or_absent("DescribeBackupPolicy", &id)?;
            let on = b
                .and_then(|b| {
                    b.backup_policy().map(|p| p.status().as_str() == "ENABLED" || p.status().as_str() == "ENABLING")
                })
                .unwrap_or(false);
            if !on {
                out = out.merge(Outcome::Updated(vec![change("automatic_backups", "off", "on")]));
                if !cx.dry_run {
                    let policy = aws_sdk_efs::types::BackupPolicy::builder()
                        .status(aws_sdk_efs::types::Status::Enabled)
                        .build()
                        .expect("status set");
                    let call = cx.aws.efs.put_backup_policy().file_system_id(&id).backup_policy(policy);
                    call.send().await.ctx("PutBackupPolicy", &id)?;
                }
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        cx.remove(EFS, find_fs(cx).await?, |f| async move {
            let id = f.file_system_id();
            // Mount targets are gone (their step ran first), but EFS counts them
            // down asynchronously: `FileSystemInUse` is waited out.
            let rule = &transient::FILE_SYSTEM_DELETE;
            let out =
                delete(cx, "DeleteFileSystem", id, rule, || cx.aws.efs.delete_file_system().file_system_id(id).send())
                    .await?;
            gone_all(cx, "EFS", vec![(Some(id.to_string()), out)], &["deleted"], |ids| fs_states(cx, ids)).await
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(EFS, "efs:file-system", &cx.cfg.name("moodledata"), find_fs(cx).await?, |i, f| {
            let st = f.life_cycle_state().as_str().to_string();
            i.status(Some(f.file_system_id()), &st, st == "available")
                .detail("throughput", f.throughput_mode().map(|t| t.as_str()).unwrap_or_default())
                .detail("encrypted", f.encrypted().unwrap_or(false).to_string())
                .detail("mount_targets", f.number_of_mount_targets().to_string())
        })
    }
}
