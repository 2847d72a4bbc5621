//! The EFS access point every task mounts moodledata through.
//!
//! Access points cannot be modified: one of an outdated shape is replaced
//! (new access point now, the old one deleted by a later step once the
//! service has rolled onto the task definition revision that mounts the new
//! one — deleting it earlier would cut off running tasks).

use super::*;
use crate::resources::prelude::*;
use aws_sdk_efs::types::{AccessPointDescription, CreationInfo, PosixUser, RootDirectory};

pub(crate) struct AccessPointStep;

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
pub(crate) async fn find_access_points(cx: &StepCx, fs: &str) -> Result<Vec<AccessPointDescription>, StepError> {
    let all = cx.aws.efs.describe_access_points().file_system_id(fs).send().await;
    let all = all.or_absent("DescribeAccessPoints", fs)?.map(|o| o.access_points().to_vec()).unwrap_or_default();
    Ok(all.into_iter().filter(|a| is_ours(cx, a.tags(), ACCESS_POINT)).collect())
}

/// Access points cannot be modified: one that differs from the wanted
/// shape is replaced, never updated.
pub(crate) fn access_point_is_current(a: &AccessPointDescription) -> bool {
    let root = a.root_directory();
    let ci = root.and_then(|r| r.creation_info());
    a.posix_user().map(|p| (p.uid(), p.gid())) == Some((WEB_UID, WEB_UID))
        && root.and_then(|r| r.path()) == Some(AP_PATH)
        && ci.map(|c| (c.owner_uid(), c.owner_gid(), c.permissions())) == Some((WEB_UID, WEB_UID, AP_PERMISSIONS))
}

pub(crate) fn describe_access_point(a: &AccessPointDescription) -> String {
    let root = a.root_directory();
    let owner = root
        .and_then(|r| r.creation_info())
        .map(|c| format!("created {}:{} {}", c.owner_uid(), c.owner_gid(), c.permissions()))
        .unwrap_or_else(|| "no creation info".into());
    format!("{} at {} ({owner})", a.access_point_id().unwrap_or_default(), root.and_then(|r| r.path()).unwrap_or("/"))
}

pub(crate) fn access_point_resource(id: &str, arn: &str) -> Resource {
    Resource::new("efs:access-point", id).with("arn", arn).with("path", AP_PATH)
}

#[async_trait]
impl Step<StepCx> for AccessPointStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("moodledata-ap");
        let Some(fs) = cx.dependency(EFS, ids::DATA_EFS)? else { return Ok(Outcome::Created) };
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
        let outcome = if replaced.is_empty() { Outcome::Created } else { Outcome::Updated(replaced) };
        if cx.dry_run {
            return Ok(outcome);
        }
        let o = cx
            .aws
            .efs
            .create_access_point()
            // The path is part of the token: the outdated access point's
            // token must not be answered with the outdated access point.
            .client_token(cx.token(&format!("{ACCESS_POINT}{AP_PATH}"))?)
            .file_system_id(&fs)
            .posix_user(PosixUser::builder().uid(WEB_UID).gid(WEB_UID).build().expect("uid and gid set"))
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
            .set_tags(Some(Tags::named(cx, ACCESS_POINT, &name).render()))
            .send()
            .await
            .ctx("CreateAccessPoint", &name)?;
        cx.record_new(
            ACCESS_POINT,
            access_point_resource(o.access_point_id().unwrap_or_default(), o.access_point_arn().unwrap_or_default()),
        )?;
        Ok(outcome)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(f) = find_fs(cx).await? else {
            cx.forget(ACCESS_POINT)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let out = delete_access_points(cx, find_access_points(cx, f.file_system_id()).await?).await?;
        cx.forget(ACCESS_POINT)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("moodledata-ap");
        let found = match cx.state.id(EFS) {
            Some(fs) => find_access_points(cx, &fs).await?.into_iter().find(access_point_is_current),
            None => None,
        };
        Ok(vec![match found {
            Some(a) => Inspection::new(
                "efs:access-point",
                &name,
                a.access_point_id().map(str::to_string),
                a.life_cycle_state().map(|s| s.as_str()).unwrap_or("unknown"),
                true,
            )
            .detail("uid", a.posix_user().map(|p| p.uid().to_string()).unwrap_or_default())
            .detail("path", a.root_directory().and_then(|r| r.path()).unwrap_or("/")),
            None => Inspection::missing("efs:access-point", &name, cx.state.id(ACCESS_POINT)),
        }])
    }
}

pub(crate) async fn delete_access_points(cx: &StepCx, aps: Vec<AccessPointDescription>) -> Result<Outcome, StepError> {
    let mut out = Outcome::AlreadyAbsent;
    for a in aps {
        let id = a.access_point_id().unwrap_or_default().to_string();
        out = out.merge(deleted(
            "DeleteAccessPoint",
            &id,
            cx.aws.efs.delete_access_point().access_point_id(&id).send().await,
        )?);
    }
    Ok(out)
}

/// Deletes this stack's outdated access points once the service runs on
/// the task definition revision that mounts the current one (deleting an
/// access point cuts off the tasks still mounting it).
pub(crate) struct OldAccessPointsStep;

#[async_trait]
impl Step<StepCx> for OldAccessPointsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(fs) = cx.state.id(EFS) else {
            return Ok(Outcome::Unchanged);
        };
        let old: Vec<_> =
            find_access_points(cx, &fs).await?.into_iter().filter(|a| !access_point_is_current(a)).collect();
        if old.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let changes = old.iter().map(|a| change("old_access_point", describe_access_point(a), "deleted")).collect();
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
