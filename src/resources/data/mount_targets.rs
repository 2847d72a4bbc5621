//! One EFS mount target per private subnet, in the EFS security group.
//!
//! Mount targets need the file system to be available; both are created at
//! once and read with one call per poll, and teardown waits until every one is
//! gone before the file system is deleted.

use super::*;
use crate::resources::network::subnet_key;
use crate::resources::network::AZS;
use crate::resources::prelude::*;
use aws_sdk_efs::types::MountTargetDescription;
use futures::future::try_join_all;

pub(crate) struct MountTargetsStep;

/// The file system's mount targets (none when it is gone).
pub(crate) async fn mount_targets(cx: &StepCx, fs: &str) -> Result<Vec<MountTargetDescription>, StepError> {
    let found = cx.aws.efs.describe_mount_targets().file_system_id(fs).send().await;
    Ok(found.or_absent("DescribeMountTargets", fs)?.map(|o| o.mount_targets().to_vec()).unwrap_or_default())
}

#[async_trait]
impl Step<StepCx> for MountTargetsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(fs) = cx.dependency(EFS, ids::DATA_EFS)? else { return Ok(Outcome::Created) };
        let existing = mount_targets(cx, &fs).await?;
        let futs = AZS.iter().map(|az| {
            let existing = &existing;
            let fs = &fs;
            async move {
                let key = mount_target_key(az);
                let subnet = cx.state.id(&subnet_key(false, az));
                let (id, out) = match existing.iter().find(|m| Some(m.subnet_id()) == subnet.as_deref()) {
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
                        let subnet = cx.require(&subnet_key(false, az), ids::NETWORK_SUBNETS)?;
                        let sg = cx.require(SG_EFS, ids::DATA_EFS_SG)?;
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
                            Ok(o) => (o.mount_target_id().to_string(), o.ip_address().unwrap_or_default().to_string()),
                            Err(e) => {
                                // Created by a killed run: look it up again.
                                let code = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e)
                                    .unwrap_or_default()
                                    .to_string();
                                if code != "MountTargetConflict" {
                                    return Err(aws_err("CreateMountTarget", &key, e));
                                }
                                let m = mount_targets(cx, fs).await?.into_iter().find(|m| m.subnet_id() == subnet);
                                (
                                    m.as_ref().map(|m| m.mount_target_id().to_string()).unwrap_or_default(),
                                    m.and_then(|m| m.ip_address().map(str::to_string)).unwrap_or_default(),
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
        ready_all(cx, "EFS mount target", found, "available", &failed, |_| async {
            Ok(Some(
                mount_targets(cx, &fs)
                    .await?
                    .iter()
                    .map(|m| (m.mount_target_id().to_string(), m.life_cycle_state().as_str().to_string()))
                    .collect(),
            ))
        })
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
                out = out.merge(deleted(
                    "DeleteMountTarget",
                    m.mount_target_id(),
                    cx.aws.efs.delete_mount_target().mount_target_id(m.mount_target_id()).send().await,
                )?);
            } else {
                out = out.merge(Outcome::Deleted);
            }
        }
        // The file system can only be deleted once every mount target is gone.
        wait_for(cx, &format!("EFS {fs} mount targets deletion"), cx.wait_timeout, || async {
            let left = mount_targets(cx, &fs).await?.len();
            Ok(if left == 0 { Poll::Ready(()) } else { Poll::Pending(format!("{left} left")) })
        })
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
                match live.iter().find(|m| Some(m.subnet_id()) == subnet.as_deref()) {
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
