//! Shared file storage: the EFS file system holding Moodle's `moodledata`.
//!
//! Ordering constraints encoded here:
//! - the file system needs nothing (it is regional), so it starts at once;
//!   mount targets need it, the private subnets and the EFS security group;
//!   the access point needs only the file system;
//! - teardown: EFS refuses to delete a file system with mount targets, so the
//!   mount-target step (which depends on the file system) is destroyed first
//!   and waits until every mount target is gone; the access point likewise.
//!
//! Idempotency: `CreateFileSystem` takes a creation token derived from the
//! stack's state generation, so a create retried after a crash returns
//! `FileSystemAlreadyExists` naming the file system, which is then adopted.

use super::network::{destroy_sg, ensure_sg, inspect_sg, subnet_key, AZS};
use super::{TAG_RESOURCE, TAG_STACK};
use crate::aws::{ready_all, wait_for, Poll};
use crate::engine::{change, Inspection, Outcome, Step, StepCx};
use crate::error::{absent_ok, aws_err, StepError};
use crate::state::Resource;
use async_trait::async_trait;
use aws_sdk_efs::types::{
    CreationInfo, FileSystemDescription, LifecyclePolicy, PerformanceMode, PosixUser,
    RootDirectory, ThroughputMode, TransitionToIaRules, TransitionToPrimaryStorageClassRules,
};
use futures::future::try_join_all;
use std::sync::Arc;

pub const SG_EFS: &str = "sg/efs";
pub const EFS: &str = "efs/file-system";
pub const ACCESS_POINT: &str = "efs/access-point";

/// uid/gid of `www-data` in the Debian-based moodlehq/moodle-php-apache image.
pub const WEB_UID: i64 = 33;

pub fn steps() -> Vec<Arc<dyn Step>> {
    vec![
        Arc::new(EfsStep),
        Arc::new(EfsSgStep),
        Arc::new(MountTargetsStep),
        Arc::new(AccessPointStep),
        Arc::new(OldAccessPointsStep),
    ]
}

pub fn mount_target_key(az: &str) -> String {
    format!("efs/mount-target-{az}")
}

fn efs_tags(cx: &StepCx, key: &str, name: &str) -> Vec<aws_sdk_efs::types::Tag> {
    [
        (TAG_STACK, cx.cfg.stack.name.as_str()),
        (TAG_RESOURCE, key),
        ("Name", name),
    ]
    .iter()
    .map(|(k, v)| {
        aws_sdk_efs::types::Tag::builder()
            .key(*k)
            .value(*v)
            .build()
            .expect("key and value set")
    })
    .collect()
}

fn tagged(cx: &StepCx, tags: &[aws_sdk_efs::types::Tag], key: &str) -> bool {
    let get = |k: &str| tags.iter().find(|t| t.key() == k).map(|t| t.value());
    get(TAG_STACK) == Some(cx.cfg.stack.name.as_str()) && get(TAG_RESOURCE) == Some(key)
}

struct EfsSgStep;

#[async_trait]
impl Step for EfsSgStep {
    fn id(&self) -> &'static str {
        "data.efs-sg"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        ensure_sg(cx, SG_EFS, "efs-sg", "moodlectl: EFS mount targets", None).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_sg(cx, SG_EFS).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            inspect_sg(
                cx,
                SG_EFS,
                "efs-sg",
                &super::network::expected_ingress(cx, SG_EFS),
            )
            .await?,
        ])
    }
}

pub async fn find_fs(cx: &StepCx) -> Result<Option<FileSystemDescription>, StepError> {
    let live = |f: &FileSystemDescription| {
        !matches!(f.life_cycle_state().as_str(), "deleted" | "deleting")
    };
    if let Some(id) = cx.state.id(EFS) {
        let r = absent_ok(
            "DescribeFileSystems",
            &id,
            cx.aws
                .efs
                .describe_file_systems()
                .file_system_id(&id)
                .send()
                .await,
        )?;
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
        if let Some(f) = o
            .file_systems()
            .iter()
            .find(|f| live(f) && tagged(cx, f.tags(), EFS))
        {
            return Ok(Some(f.clone()));
        }
        match o.next_marker() {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
}

fn desired_lifecycle() -> Vec<LifecyclePolicy> {
    vec![
        LifecyclePolicy::builder()
            .transition_to_ia(TransitionToIaRules::After30Days)
            .build(),
        LifecyclePolicy::builder()
            .transition_to_primary_storage_class(TransitionToPrimaryStorageClassRules::After1Access)
            .build(),
    ]
}

fn lifecycle_matches(live: &[LifecyclePolicy]) -> bool {
    live.iter()
        .any(|p| p.transition_to_ia() == Some(&TransitionToIaRules::After30Days))
        && live.iter().any(|p| {
            p.transition_to_primary_storage_class()
                == Some(&TransitionToPrimaryStorageClassRules::After1Access)
        })
}

struct EfsStep;

#[async_trait]
impl Step for EfsStep {
    fn id(&self) -> &'static str {
        "data.efs"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("moodledata");
        let (id, mut out) = match find_fs(cx).await? {
            Some(f) => {
                let id = f.file_system_id().to_string();
                cx.record(
                    EFS,
                    Resource::new("efs:file-system", &id)
                        .with("arn", f.file_system_arn().unwrap_or_default()),
                )?;
                if f.encrypted() != Some(true)
                    || f.performance_mode() != &PerformanceMode::GeneralPurpose
                {
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
                    .set_tags(Some(efs_tags(cx, EFS, &name)))
                    .send()
                    .await;
                let (id, arn) = match r {
                    Ok(o) => (o.file_system_id().to_string(), o.file_system_arn().unwrap_or_default().to_string()),
                    Err(e) => match e.as_service_error() {
                        // A run killed after this call already created it.
                        Some(aws_sdk_efs::operation::create_file_system::CreateFileSystemError::FileSystemAlreadyExists(x)) => (x.file_system_id().to_string(), String::new()),
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
                    cx.aws
                        .efs
                        .describe_file_systems()
                        .file_system_id(&id)
                        .send()
                        .await,
                )?;
                match f.and_then(|o| {
                    o.file_systems()
                        .first()
                        .map(|f| f.life_cycle_state().clone())
                }) {
                    Some(s) if s.as_str() == "available" => Ok(Poll::Ready(())),
                    Some(s) if s.as_str() == "error" => Err(StepError::BadState {
                        resource: format!("EFS {id}"),
                        state: "error".into(),
                        wanted: "available".into(),
                    }),
                    s => Ok(Poll::Pending(
                        s.map(|s| s.as_str().to_string())
                            .unwrap_or("creating".into()),
                    )),
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
                out = out.merge(Outcome::Updated(vec![
                    "lifecycle: IA after 30 days, back after 1 access".into(),
                ]));
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
                cx.aws
                    .efs
                    .describe_backup_policy()
                    .file_system_id(&id)
                    .send()
                    .await,
            )?;
            let on = b
                .and_then(|b| {
                    b.backup_policy().map(|p| {
                        p.status().as_str() == "ENABLED" || p.status().as_str() == "ENABLING"
                    })
                })
                .unwrap_or(false);
            if !on {
                out = out.merge(Outcome::Updated(vec![change(
                    "automatic_backups",
                    "off",
                    "on",
                )]));
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
        let out = super::retry_while_in_use(cx, "DeleteFileSystem", &id, || {
            cx.aws.efs.delete_file_system().file_system_id(&id).send()
        })
        .await?;
        wait_for(
            cx,
            &format!("EFS {id} deletion"),
            cx.wait_timeout,
            || async {
                let f = absent_ok(
                    "DescribeFileSystems",
                    &id,
                    cx.aws
                        .efs
                        .describe_file_systems()
                        .file_system_id(&id)
                        .send()
                        .await,
                )?;
                match f.and_then(|o| {
                    o.file_systems()
                        .first()
                        .map(|f| f.life_cycle_state().clone())
                }) {
                    None => Ok(Poll::Ready(())),
                    Some(s) if s.as_str() == "deleted" => Ok(Poll::Ready(())),
                    Some(s) => Ok(Poll::Pending(s.as_str().to_string())),
                }
            },
        )
        .await?;
        cx.forget(EFS)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("moodledata");
        Ok(vec![match find_fs(cx).await? {
            Some(f) => {
                let st = f.life_cycle_state().as_str().to_string();
                Inspection::new(
                    "efs:file-system",
                    &name,
                    Some(f.file_system_id().to_string()),
                    &st,
                    st == "available",
                )
                .detail(
                    "throughput",
                    f.throughput_mode().map(|t| t.as_str()).unwrap_or_default(),
                )
                .detail("encrypted", f.encrypted().unwrap_or(false).to_string())
                .detail("mount_targets", f.number_of_mount_targets().to_string())
            }
            None => Inspection::missing("efs:file-system", &name, cx.state.id(EFS)),
        }])
    }
}

struct MountTargetsStep;

async fn mount_targets(
    cx: &StepCx,
    fs: &str,
) -> Result<Vec<aws_sdk_efs::types::MountTargetDescription>, StepError> {
    let r = absent_ok(
        "DescribeMountTargets",
        fs,
        cx.aws
            .efs
            .describe_mount_targets()
            .file_system_id(fs)
            .send()
            .await,
    )?;
    Ok(r.map(|o| o.mount_targets().to_vec()).unwrap_or_default())
}

#[async_trait]
impl Step for MountTargetsStep {
    fn id(&self) -> &'static str {
        "data.efs-mount-targets"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["data.efs", "data.efs-sg", "network.subnets"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(fs) = cx.state.id(EFS) else {
            return if cx.dry_run {
                Ok(Outcome::Created)
            } else {
                Err(StepError::MissingDependency {
                    step: "data.efs",
                    what: EFS.into(),
                })
            };
        };
        let existing = mount_targets(cx, &fs).await?;
        let futs = AZS.iter().map(|az| {
            let existing = &existing;
            let fs = &fs;
            async move {
                let key = mount_target_key(az);
                let subnet = cx.state.id(&subnet_key(false, az));
                let (id, out) = match existing
                    .iter()
                    .find(|m| Some(m.subnet_id()) == subnet.as_deref())
                {
                    Some(m) => {
                        cx.record(
                            &key,
                            Resource::new("efs:mount-target", m.mount_target_id())
                                .with("ip", m.ip_address().unwrap_or_default()),
                        )?;
                        (m.mount_target_id().to_string(), Outcome::Unchanged)
                    }
                    None if cx.dry_run => (String::new(), Outcome::Created),
                    None => {
                        let subnet = cx.require(&subnet_key(false, az), "network.subnets")?;
                        let sg = cx.require(SG_EFS, "data.efs-sg")?;
                        let r = cx
                            .aws
                            .efs
                            .create_mount_target()
                            .file_system_id(fs)
                            .subnet_id(&subnet)
                            .security_groups(sg)
                            .send()
                            .await;
                        let (id, ip) = match r {
                            Ok(o) => (
                                o.mount_target_id().to_string(),
                                o.ip_address().unwrap_or_default().to_string(),
                            ),
                            Err(e) => {
                                // Created by a killed run: look it up again.
                                let code =
                                    aws_smithy_types::error::metadata::ProvideErrorMetadata::code(
                                        &e,
                                    )
                                    .unwrap_or_default()
                                    .to_string();
                                if code != "MountTargetConflict" {
                                    return Err(aws_err("CreateMountTarget", &key, e));
                                }
                                let m = mount_targets(cx, fs)
                                    .await?
                                    .into_iter()
                                    .find(|m| m.subnet_id() == subnet);
                                (
                                    m.as_ref()
                                        .map(|m| m.mount_target_id().to_string())
                                        .unwrap_or_default(),
                                    m.and_then(|m| m.ip_address().map(str::to_string))
                                        .unwrap_or_default(),
                                )
                            }
                        };
                        cx.record_new(&key, Resource::new("efs:mount-target", &id).with("ip", ip))?;
                        (id, Outcome::Created)
                    }
                };
                Ok::<_, StepError>((id, out))
            }
        });
        let found = try_join_all(futs).await?;
        let failed = ["error", "deleting", "deleted"];
        // One DescribeMountTargets lists them all.
        ready_all(
            cx,
            "EFS mount target",
            found,
            "available",
            &failed,
            |_| async {
                Ok(Some(
                    mount_targets(cx, &fs)
                        .await?
                        .iter()
                        .map(|m| {
                            (
                                m.mount_target_id().to_string(),
                                m.life_cycle_state().as_str().to_string(),
                            )
                        })
                        .collect(),
                ))
            },
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(f) = find_fs(cx).await? else {
            for az in AZS {
                cx.forget(&mount_target_key(az))?;
            }
            return Ok(Outcome::AlreadyAbsent);
        };
        let fs = f.file_system_id().to_string();
        let mut out = Outcome::AlreadyAbsent;
        for m in mount_targets(cx, &fs).await? {
            if m.life_cycle_state().as_str() != "deleting" {
                out = out.merge(super::deleted(
                    "DeleteMountTarget",
                    m.mount_target_id(),
                    cx.aws
                        .efs
                        .delete_mount_target()
                        .mount_target_id(m.mount_target_id())
                        .send()
                        .await,
                )?);
            } else {
                out = out.merge(Outcome::Deleted);
            }
        }
        // The file system can only be deleted once every mount target is gone.
        wait_for(
            cx,
            &format!("EFS {fs} mount targets deletion"),
            cx.wait_timeout,
            || async {
                let left = mount_targets(cx, &fs).await?.len();
                Ok(if left == 0 {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("{left} left"))
                })
            },
        )
        .await?;
        for az in AZS {
            cx.forget(&mount_target_key(az))?;
        }
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let live = match cx.state.id(EFS) {
            Some(fs) => mount_targets(cx, &fs).await?,
            None => vec![],
        };
        Ok(AZS
            .iter()
            .map(|az| {
                let key = mount_target_key(az);
                let subnet = cx.state.id(&subnet_key(false, az));
                let name = cx.cfg.name(&format!("efs-mount-{az}"));
                match live
                    .iter()
                    .find(|m| Some(m.subnet_id()) == subnet.as_deref())
                {
                    Some(m) => {
                        let st = m.life_cycle_state().as_str().to_string();
                        Inspection::new(
                            "efs:mount-target",
                            &name,
                            Some(m.mount_target_id().to_string()),
                            &st,
                            st == "available",
                        )
                        .detail("subnet", m.subnet_id())
                    }
                    None => Inspection::missing("efs:mount-target", &name, cx.state.id(&key)),
                }
            })
            .collect())
    }
}

struct AccessPointStep;

/// Where moodledata lives inside the file system. Not `/`: a new file
/// system's root is owned by root with mode 755, so uid 33 could read it but
/// never write (no install lock, no file). An access point can only hand its
/// user a writable directory it creates itself: a non-root path plus
/// `CreationInfo`, applied by EFS on the first mount.
pub const AP_PATH: &str = "/moodledata";
/// Mode of the directory EFS creates: the PHP user's alone.
pub const AP_PERMISSIONS: &str = "0750";

/// This stack's access points on the file system (normally one; two while
/// an outdated one waits for the service to roll off it).
async fn find_access_points(
    cx: &StepCx,
    fs: &str,
) -> Result<Vec<aws_sdk_efs::types::AccessPointDescription>, StepError> {
    let r = absent_ok(
        "DescribeAccessPoints",
        fs,
        cx.aws
            .efs
            .describe_access_points()
            .file_system_id(fs)
            .send()
            .await,
    )?;
    Ok(r.map(|o| {
        o.access_points()
            .iter()
            .filter(|a| tagged(cx, a.tags(), ACCESS_POINT))
            .cloned()
            .collect()
    })
    .unwrap_or_default())
}

/// Access points cannot be modified: one that differs from the wanted
/// shape is replaced, never updated.
fn access_point_is_current(a: &aws_sdk_efs::types::AccessPointDescription) -> bool {
    let root = a.root_directory();
    let ci = root.and_then(|r| r.creation_info());
    a.posix_user().map(|p| (p.uid(), p.gid())) == Some((WEB_UID, WEB_UID))
        && root.and_then(|r| r.path()) == Some(AP_PATH)
        && ci.map(|c| (c.owner_uid(), c.owner_gid(), c.permissions()))
            == Some((WEB_UID, WEB_UID, AP_PERMISSIONS))
}

fn describe_access_point(a: &aws_sdk_efs::types::AccessPointDescription) -> String {
    let root = a.root_directory();
    let owner = root
        .and_then(|r| r.creation_info())
        .map(|c| {
            format!(
                "created {}:{} {}",
                c.owner_uid(),
                c.owner_gid(),
                c.permissions()
            )
        })
        .unwrap_or_else(|| "no creation info".into());
    format!(
        "{} at {} ({owner})",
        a.access_point_id().unwrap_or_default(),
        root.and_then(|r| r.path()).unwrap_or("/")
    )
}

fn access_point_resource(id: &str, arn: &str) -> Resource {
    Resource::new("efs:access-point", id)
        .with("arn", arn)
        .with("path", AP_PATH)
}

#[async_trait]
impl Step for AccessPointStep {
    fn id(&self) -> &'static str {
        "data.efs-access-point"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["data.efs"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("moodledata-ap");
        let Some(fs) = cx.state.id(EFS) else {
            return if cx.dry_run {
                Ok(Outcome::Created)
            } else {
                Err(StepError::MissingDependency {
                    step: "data.efs",
                    what: EFS.into(),
                })
            };
        };
        let all = find_access_points(cx, &fs).await?;
        if let Some(a) = all.iter().find(|a| access_point_is_current(a)) {
            cx.record(
                ACCESS_POINT,
                access_point_resource(
                    a.access_point_id().unwrap_or_default(),
                    a.access_point_arn().unwrap_or_default(),
                ),
            )?;
            return Ok(Outcome::Unchanged);
        }
        // An outdated access point (an earlier moodlectl rooted it at `/`) is
        // replaced: the new one now, a new task definition revision points at
        // it, and data.efs-old-access-points deletes the old one once the
        // service has rolled off it.
        let replaced: Vec<String> = all
            .iter()
            .map(|a| {
                change(
                    "access_point",
                    describe_access_point(a),
                    format!("{AP_PATH} (created {WEB_UID}:{WEB_UID} {AP_PERMISSIONS}): replace"),
                )
            })
            .collect();
        let outcome = if replaced.is_empty() {
            Outcome::Created
        } else {
            Outcome::Updated(replaced)
        };
        if cx.dry_run {
            return Ok(outcome);
        }
        let o = cx
            .aws
            .efs
            .create_access_point()
            // The path is part of the token: the outdated access point's
            // token must not be answered with the outdated access point.
            .client_token(cx.token(&format!("{ACCESS_POINT}{AP_PATH}")))
            .file_system_id(&fs)
            .posix_user(
                PosixUser::builder()
                    .uid(WEB_UID)
                    .gid(WEB_UID)
                    .build()
                    .expect("uid and gid set"),
            )
            .root_directory(
                RootDirectory::builder()
                    .path(AP_PATH)
                    .creation_info(
                        CreationInfo::builder()
                            .owner_uid(WEB_UID)
                            .owner_gid(WEB_UID)
                            .permissions(AP_PERMISSIONS)
                            .build()
                            .expect("owner and permissions set"),
                    )
                    .build(),
            )
            .set_tags(Some(efs_tags(cx, ACCESS_POINT, &name)))
            .send()
            .await
            .map_err(|e| aws_err("CreateAccessPoint", &name, e))?;
        cx.record_new(
            ACCESS_POINT,
            access_point_resource(
                o.access_point_id().unwrap_or_default(),
                o.access_point_arn().unwrap_or_default(),
            ),
        )?;
        Ok(outcome)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(f) = find_fs(cx).await? else {
            cx.forget(ACCESS_POINT)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let out =
            delete_access_points(cx, find_access_points(cx, f.file_system_id()).await?).await?;
        cx.forget(ACCESS_POINT)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("moodledata-ap");
        let found = match cx.state.id(EFS) {
            Some(fs) => find_access_points(cx, &fs)
                .await?
                .into_iter()
                .find(access_point_is_current),
            None => None,
        };
        Ok(vec![match found {
            Some(a) => Inspection::new(
                "efs:access-point",
                &name,
                a.access_point_id().map(str::to_string),
                a.life_cycle_state()
                    .map(|s| s.as_str())
                    .unwrap_or("unknown"),
                true,
            )
            .detail(
                "uid",
                a.posix_user()
                    .map(|p| p.uid().to_string())
                    .unwrap_or_default(),
            )
            .detail(
                "path",
                a.root_directory().and_then(|r| r.path()).unwrap_or("/"),
            ),
            None => Inspection::missing("efs:access-point", &name, cx.state.id(ACCESS_POINT)),
        }])
    }
}

async fn delete_access_points(
    cx: &StepCx,
    aps: Vec<aws_sdk_efs::types::AccessPointDescription>,
) -> Result<Outcome, StepError> {
    let mut out = Outcome::AlreadyAbsent;
    for a in aps {
        let id = a.access_point_id().unwrap_or_default().to_string();
        out = out.merge(super::deleted(
            "DeleteAccessPoint",
            &id,
            cx.aws
                .efs
                .delete_access_point()
                .access_point_id(&id)
                .send()
                .await,
        )?);
    }
    Ok(out)
}

/// Deletes this stack's outdated access points once the service runs on
/// the task definition revision that mounts the current one (deleting an
/// access point cuts off the tasks still mounting it).
struct OldAccessPointsStep;

#[async_trait]
impl Step for OldAccessPointsStep {
    fn id(&self) -> &'static str {
        "data.efs-old-access-points"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["compute.service"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(fs) = cx.state.id(EFS) else {
            return Ok(Outcome::Unchanged);
        };
        let old: Vec<_> = find_access_points(cx, &fs)
            .await?
            .into_iter()
            .filter(|a| !access_point_is_current(a))
            .collect();
        if old.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let changes = old
            .iter()
            .map(|a| change("old_access_point", describe_access_point(a), "deleted"))
            .collect();
        if !cx.dry_run {
            delete_access_points(cx, old).await?;
        }
        Ok(Outcome::Updated(changes))
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        // The access point step deletes every access point of the stack.
        Ok(Outcome::AlreadyAbsent)
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![])
    }
}
