//! The file system's resource policy: TLS required, and only the stack's
//! task role, only through the stack's access point, may mount and write.
//!
//! Why both halves: without a file-system policy any NFS client that reaches
//! a mount target has full access (EFS's default); with this one an
//! anonymous or non-TLS mount is refused, and a mount with IAM authorization
//! needs `elasticfilesystem:ClientMount`/`ClientWrite` granted here — the
//! task definitions mount with `iam: ENABLED` and transit encryption, so
//! they pass, and nothing else does (not root access: no `ClientRootAccess`).
//! AWS Backup is not an NFS client: its backups and restores are unaffected.
//!
//! AWS rules encoded here:
//! - EFS validates the principals a policy names: the task role created a
//!   moment ago may be refused as an invalid principal until IAM propagates
//!   (`propagation::EFS_POLICY_PRINCIPAL`).
//! - The services mount the file system after this step: once a policy
//!   exists, a task role it does not grant fails to start its tasks.
//! - The policy goes with the file system: teardown has nothing to do.

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::iam;

fn fs_arn(cx: &StepCx, account: &str, fs: &str) -> String {
    format!("arn:aws:elasticfilesystem:{}:{account}:file-system/{fs}", cx.aws.region)
}

pub fn file_system_policy(fs_arn: &str, task_role_arn: &str, access_point_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "*",
                "Resource": fs_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "TasksMountThroughTheAccessPoint",
                "Effect": "Allow",
                "Principal": {"AWS": task_role_arn},
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": fs_arn,
                "Condition": {"StringEquals": {"elasticfilesystem:AccessPointArn": access_point_arn}}
            }
        ]
    })
}

async fn live_policy(cx: &StepCx, fs: &str) -> Result<Option<String>, StepError> {
    let o = cx.aws.efs.describe_file_system_policy().file_system_id(fs).send().await;
    Ok(o.or_absent("DescribeFileSystemPolicy", fs)?.and_then(|o| o.policy().map(str::to_string)))
}

async fn wanted(cx: &StepCx) -> Result<Option<(String, serde_json::Value)>, StepError> {
    let fs = cx.dependency(EFS, ids::DATA_EFS)?;
    let role = cx.state.get(TASK_ROLE).and_then(|r| r.attrs.get("arn").cloned());
    let ap = cx.state.get(ACCESS_POINT).and_then(|r| r.attrs.get("arn").cloned());
    let (Some(fs), Some(role), Some(ap)) = (fs, role, ap) else {
        if cx.dry_run {
            return Ok(None);
        }
        return Err(StepError::MissingDependency {
            step: ids::DATA_EFS_ACCESS_POINT,
            what: "file system, access point and task role ARNs".into(),
        });
    };
    let account = crate::resources::audit::account_id(cx).await?;
    let policy = file_system_policy(&fs_arn(cx, &account, &fs), &role, &ap);
    Ok(Some((fs, policy)))
}

pub(crate) struct EfsPolicyStep;

#[async_trait]
impl Step<StepCx> for EfsPolicyStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some((fs, want)) = wanted(cx).await? else { return Ok(Outcome::Created) };
        let out = match live_policy(cx, &fs).await? {
            Some(p) if iam::same_policy(&p, &want) => return Ok(Outcome::Unchanged),
            Some(_) => Outcome::Updated(vec!["file-system policy".into()]),
            None => Outcome::Created,
        };
        if !cx.dry_run {
            let doc = want.to_string();
            retry(cx, "PutFileSystemPolicy", &fs, &transient::EFS_POLICY_PRINCIPAL, || {
                cx.aws.efs.put_file_system_policy().file_system_id(&fs).policy(&doc).send()
            })
            .await?;
        }
        Ok(out)
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // deleted with the file system
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let Some(fs) = cx.state.id(EFS) else { return Ok(vec![]) };
        let want = if cx.state.get(ACCESS_POINT).is_some() { wanted(cx).await? } else { None };
        let live = live_policy(cx, &fs).await?;
        let name = format!("{} policy", cx.cfg.name("moodledata"));
        Ok(vec![match live {
            Some(p) => {
                let mut i =
                    Inspection::new("efs:file-system-policy", &name, Some(fs), "TLS and access point required", true);
                if want.is_some_and(|(_, w)| !iam::same_policy(&p, &w)) {
                    i.drift = Some("differs from the stack's policy".into());
                }
                i
            }
            None => Inspection::missing("efs:file-system-policy", &name, Some(fs)),
        }])
    }
}
