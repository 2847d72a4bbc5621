//! The EFS file system (and its security group) holding Moodle's moodledata.
//!
//! The file system is regional and needs nothing, so it starts at once.
//! `CreateFileSystem` takes a creation token derived from the stack's state
//! generation: a create retried after a crash returns
//! `FileSystemAlreadyExists` naming the file system, which is then adopted.
//! Teardown: EFS refuses to delete a file system with mount targets, and
//! answers "in use" for a while after they go.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_efs::types::{
    FileSystemDescription, LifecyclePolicy, PerformanceMode, ThroughputMode, TransitionToIaRules,
    TransitionToPrimaryStorageClassRules,
};

pub async fn find_fs(cx: &StepCx) -> Result<Option<FileSystemDescription>, StepError> {
    let live = |f: &FileSystemDescription| !matches!(f.life_cycle_state().as_str(), "deleted" | "deleting");
    if let Some(id) = cx.state.id(EFS) {
        let r =
            absent_ok("DescribeFileSystems", &id, cx.aws.efs.describe_file_systems().file_system_id(&id).send().await)?;
        if let Some(f) = r.and_then(|o| o.file_systems().iter().find(|f| live(f)).cloned()) {
            return Ok(Some(f));
        }
    }
    let mut marker = None;
    loop {
        let o = cx
            .aws
            .efs
            .describe_file_systems()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_err("DescribeFileSystems", "EFS", e))?;
        if let Some(f) = o.file_systems().iter().find(|f| live(f) && is_ours(cx, f.tags(), EFS)) {
            return Ok(Some(f.clone()));
        }
        match o.next_marker() {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
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

pub(crate) const EFS_STEP: Node = Node { id: ids::DATA_EFS, deps: &[], step: &EfsStep };

#[async_trait]
impl Step<StepCx> for EfsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("moodledata");
        let (id, mut out) = match find_fs(cx).await? {
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
                        cx.aws
                            .efs
                            .update_file_system()
                            .file_system_id(&id)
                            .throughput_mode(ThroughputMode::Elastic)
                            .send()
                            .await
                            .map_err(|e| aws_err("UpdateFileSystem", &id, e))?;
                    }
                }
                (id, o)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let token = cx.token(EFS);
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
        if !cx.dry_run {
            wait_for(cx, &format!("EFS {id}"), cx.wait_timeout, || async {
                let f = absent_ok(
                    "DescribeFileSystems",
                    &id,
                    cx.aws.efs.describe_file_systems().file_system_id(&id).send().await,
                )?;
                match f.and_then(|o| o.file_systems().first().map(|f| f.life_cycle_state().clone())) {
                    Some(s) if s.as_str() == "available" => Ok(Poll::Ready(())),
                    Some(s) if s.as_str() == "error" => Err(StepError::BadState {
                        resource: format!("EFS {id}"),
                        state: "error".into(),
                        wanted: "available".into(),
                    }),
                    s => Ok(Poll::Pending(s.map(|s| s.as_str().to_string()).unwrap_or("creating".into()))),
                }
            })
            .await?;
        }
        let lc = if out == Outcome::Created && !cx.dry_run {
            vec![]
        } else {
            cx.aws
                .efs
                .describe_lifecycle_configuration()
                .file_system_id(&id)
                .send()
                .await
                .map_err(|e| aws_err("DescribeLifecycleConfiguration", &id, e))?
                .lifecycle_policies()
                .to_vec()
        };
        if !lifecycle_matches(&lc) {
            if out != Outcome::Created {
                out = out.merge(Outcome::Updated(vec!["lifecycle: IA after 30 days, back after 1 access".into()]));
            }
            if !cx.dry_run {
                cx.aws
                    .efs
                    .put_lifecycle_configuration()
                    .file_system_id(&id)
                    .set_lifecycle_policies(Some(desired_lifecycle()))
                    .send()
                    .await
                    .map_err(|e| aws_err("PutLifecycleConfiguration", &id, e))?;
            }
        }
        if out != Outcome::Created {
            // Backups are switched on at creation (`Backup=true`); repair only on drift.
            let b = absent_ok(
                "DescribeBackupPolicy",
                &id,
                cx.aws.efs.describe_backup_policy().file_system_id(&id).send().await,
            )?;
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
                    cx.aws
                        .efs
                        .put_backup_policy()
                        .file_system_id(&id)
                        .backup_policy(policy)
                        .send()
                        .await
                        .map_err(|e| aws_err("PutBackupPolicy", &id, e))?;
                }
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(f) = find_fs(cx).await? else {
            cx.forget(EFS)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = f.file_system_id().to_string();
        // Mount targets are gone (their step ran first), but EFS counts them
        // down asynchronously: retry while it still reports them in use.
        let out =
            retry_in_use(cx, "DeleteFileSystem", &id, || cx.aws.efs.delete_file_system().file_system_id(&id).send())
                .await?;
        wait_for(cx, &format!("EFS {id} deletion"), cx.wait_timeout, || async {
            let f = absent_ok(
                "DescribeFileSystems",
                &id,
                cx.aws.efs.describe_file_systems().file_system_id(&id).send().await,
            )?;
            match f.and_then(|o| o.file_systems().first().map(|f| f.life_cycle_state().clone())) {
                None => Ok(Poll::Ready(())),
                Some(s) if s.as_str() == "deleted" => Ok(Poll::Ready(())),
                Some(s) => Ok(Poll::Pending(s.as_str().to_string())),
            }
        })
        .await?;
        cx.forget(EFS)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("moodledata");
        Ok(vec![match find_fs(cx).await? {
            Some(f) => {
                let st = f.life_cycle_state().as_str().to_string();
                Inspection::new("efs:file-system", &name, Some(f.file_system_id().to_string()), &st, st == "available")
                    .detail("throughput", f.throughput_mode().map(|t| t.as_str()).unwrap_or_default())
                    .detail("encrypted", f.encrypted().unwrap_or(false).to_string())
                    .detail("mount_targets", f.number_of_mount_targets().to_string())
            }
            None => Inspection::missing("efs:file-system", &name, cx.state.id(EFS)),
        }])
    }
}
