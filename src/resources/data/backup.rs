//! The AWS Backup vault that holds the file system's recovery points
//! (`moodlectl backup`, the safety copy of `upgrade`) and the IAM role AWS
//! Backup assumes to read (back up) and write (restore) the file system.
//! Database copies are RDS snapshots, which need neither.
//!
//! AWS rules encoded here:
//! - A vault holding recovery points cannot be deleted
//!   (`InvalidRequestException`): `down` keeps a vault with recovery points
//!   and says so, unless `--delete-backups`, which deletes every recovery
//!   point first. An empty vault goes with the stack.
//! - `StartBackupJob` passes the role to AWS Backup: its trust policy names
//!   `backup.amazonaws.com`, and it needs the EFS backup/restore actions
//!   (and KMS through EFS: the file system is encrypted).

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::iam;

pub(crate) const BACKUP_ROLE_DEF: iam::RoleStep = iam::RoleStep {
    key: BACKUP_ROLE,
    name: backup_role_name,
    trust: |_| iam::trust("backup.amazonaws.com"),
    policy_name: "efs-backup-restore",
    policy: |cx| backup_permissions(&cx.aws.region),
};

/// What AWS Backup does with our file system and database, and nothing else
/// (the managed AWSBackupServiceRolePolicyForBackup/ForRestores cover every
/// service). The database part serves the daily plan (`BackupPlanStep`):
/// snapshots taken, tagged, and deleted when their retention ends.
fn backup_permissions(region: &str) -> serde_json::Value {
    let fs = format!("arn:aws:elasticfilesystem:{region}:*:file-system/*");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "BackupFileSystem", "Effect": "Allow",
             "Action": ["elasticfilesystem:Backup", "elasticfilesystem:DescribeTags"], "Resource": fs},
            {"Sid": "RestoreFileSystem", "Effect": "Allow",
             "Action": ["elasticfilesystem:Restore", "elasticfilesystem:CreateFilesystem",
                        "elasticfilesystem:DescribeFilesystems", "elasticfilesystem:DeleteFilesystem",
                        "elasticfilesystem:TagResource"],
             "Resource": fs},
            {"Sid": "BackupDatabase", "Effect": "Allow",
             "Action": ["rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:CreateDBSnapshot",
                        "rds:CreateDBClusterSnapshot", "rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots",
                        "rds:CopyDBSnapshot", "rds:CopyDBClusterSnapshot", "rds:DeleteDBSnapshot",
                        "rds:DeleteDBClusterSnapshot", "rds:AddTagsToResource", "rds:ListTagsForResource"],
             "Resource": format!("arn:aws:rds:{region}:*:*")},
            {"Sid": "TagRecoveryPoints", "Effect": "Allow", "Action": ["tag:GetResources", "backup:TagResource"],
             "Resource": "*"},
            {"Sid": "EncryptedFileSystem", "Effect": "Allow",
             "Action": ["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt",
                        "kms:ReEncrypt*"],
             "Resource": "*",
             "Condition": {"StringLike": {"kms:ViaService": format!("elasticfilesystem.{region}.amazonaws.com")}}}
        ]
    })
}

async fn find_vault(cx: &StepCx) -> Result<Option<(String, i64)>, StepError> {
    let name = backup_vault_name(cx);
    let r = cx.aws.backup.describe_backup_vault().backup_vault_name(&name).send().await;
    let r = r.or_absent("DescribeBackupVault", &name)?;
    Ok(r.map(|o| (o.backup_vault_arn().unwrap_or_default().to_string(), o.number_of_recovery_points())))
}

/// Every recovery point in the vault: (ARN, resource ARN, status, created, size).
pub async fn recovery_points(
    aws: &crate::aws::Aws,
    vault: &str,
) -> Result<Vec<aws_sdk_backup::types::RecoveryPointByBackupVault>, StepError> {
    let call = aws.backup.list_recovery_points_by_backup_vault().backup_vault_name(vault);
    let pages = call.into_paginator().send().collect::<Result<Vec<_>, _>>().await;
    let pages = pages.map_err(|e| aws_err("ListRecoveryPointsByBackupVault", vault, e))?;
    Ok(pages.iter().flat_map(|p| p.recovery_points().iter().cloned()).collect())
}

pub(crate) struct BackupVaultStep;

#[async_trait]
impl Step<StepCx> for BackupVaultStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = backup_vault_name(cx);
        if let Some((arn, _)) = find_vault(cx).await? {
            cx.record(BACKUP_VAULT, Resource::new("backup:vault", &name).with("arn", arn))?;
            return Ok(Outcome::Unchanged);
        }
        dry_run!(cx, Outcome::Created);
        let tags = Tags::new(cx, BACKUP_VAULT).map();
        let call = cx.aws.backup.create_backup_vault().backup_vault_name(&name).set_backup_vault_tags(Some(tags));
        let o = call.creator_request_id(cx.token(BACKUP_VAULT)?).send().await.ctx("CreateBackupVault", &name)?;
        cx.record_new(
            BACKUP_VAULT,
            Resource::new("backup:vault", &name).with("arn", o.backup_vault_arn().unwrap_or_default()),
        )?;
        Ok(Outcome::Created)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = backup_vault_name(cx);
        cx.remove(BACKUP_VAULT, find_vault(cx).await?, |(_, _)| async {
            let points = recovery_points(&cx.aws, &name).await?;
            if !points.is_empty() && !cx.opts.delete_backups {
                cx.note(format!(
                    "kept: backup vault `{name}` with {} file-system recovery point(s) (--delete-backups removes them)",
                    points.len()
                ));
                return Ok(Outcome::Unchanged);
            }
            for p in &points {
                let arn = p.recovery_point_arn().unwrap_or_default();
                let call = cx.aws.backup.delete_recovery_point().backup_vault_name(&name).recovery_point_arn(arn);
                deleted("DeleteRecoveryPoint", arn, call.send().await)?;
            }
            deleted(
                "DeleteBackupVault",
                &name,
                cx.aws.backup.delete_backup_vault().backup_vault_name(&name).send().await,
            )
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = backup_vault_name(cx);
        cx.inspect_one(BACKUP_VAULT, "backup:vault", &name, find_vault(cx).await?, |i, (arn, n)| {
            i.status(Some(&arn), "available", true).detail("recovery_points", n.to_string())
        })
    }
}
