//! The stack's customer-managed KMS keys, one per region it has resources
//! in (KMS keys are regional): they encrypt the alert topics and the log
//! groups (`shared::log_group`). The alias stays `<stack>-alerts`, the name
//! the first use gave it, so stacks built before the log groups used it find
//! their key.
//!
//! Why not the AWS-managed `alias/aws/sns` key: its policy cannot be
//! changed, and it does not let CloudWatch alarms or RDS event notifications
//! use it — a topic encrypted with it silently drops every alarm and event
//! (SNS developer guide, "Configure AWS KMS permissions for AWS services").
//! This key's policy lets `cloudwatch.amazonaws.com` and
//! `events.rds.amazonaws.com` generate data keys and decrypt, for this
//! account only; the account itself administers it. Rotation is on.
//!
//! For the log groups the policy lets `logs.<region>.amazonaws.com` use the
//! key, only for this account's log groups of that region (the
//! `kms:EncryptionContext:aws:logs:arn` condition AWS documents): CloudWatch
//! Logs refuses a key whose policy lacks it (AccessDeniedException).
//!
//! The audit key (`alias/<stack>-audit`) encrypts the CloudTrail trail's log
//! and digest files (CIS AWS Foundations: trail logs encrypted with a
//! customer-managed key — reading them then takes `kms:Decrypt` on it as
//! well as access to the bucket). Its policy lets CloudTrail
//! generate data keys only for this account's trails and only as this
//! stack's trail (`aws:SourceArn`), as CloudTrail's guide ("Configure AWS
//! KMS key policies for CloudTrail") documents; CloudTrail refuses a key
//! whose policy lacks it (InsufficientEncryptionPolicyException). It lives
//! as long as the logs it encrypts: `down` keeps it with the audit bucket,
//! and schedules its deletion only with `--delete-logs` — a key deleted
//! under kept logs would leave them unreadable for good.
//!
//! AWS rules encoded here:
//! - A key cannot be deleted at once: `down` schedules its deletion after the
//!   minimum 7 days and keeps its alias, so an `up` in the meantime finds it
//!   by alias, cancels the deletion and enables it again (a cancelled key
//!   comes back `Disabled`).
//! - The key policy must let the account administer the key, or
//!   `CreateKey` refuses it (MalformedPolicyDocumentException).

use super::*;
use crate::resources::prelude::*;
use crate::resources::shared::iam;
use aws_sdk_kms::types::{KeyMetadata, KeyState};

/// What the state holds for a key asked for but not yet answered: `CreateKey`
/// has no idempotency token, and a run killed before the answer leaves a key
/// only its tags can find.
const CREATING: &str = "creating";

/// Days `down` schedules the key's deletion for (KMS's minimum).
const DELETION_WINDOW_DAYS: i32 = 7;

/// What a key of the stack encrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyPurpose {
    /// The alert topics and log groups of the stack's region, or of
    /// us-east-1 (`global`: the topic of CloudFront's alarm) — only when the
    /// stack is elsewhere.
    Alerts { global: bool },
    /// The CloudTrail trail's log and digest files.
    Audit,
}

pub(crate) struct KeyStep {
    pub purpose: KeyPurpose,
}

impl KeyStep {
    fn global(&self) -> bool {
        self.purpose == KeyPurpose::Alerts { global: true }
    }
    fn client<'a>(&self, cx: &'a StepCx) -> &'a aws_sdk_kms::Client {
        if self.global() {
            &cx.aws.kms_global
        } else {
            &cx.aws.kms
        }
    }
    fn key(&self) -> &'static str {
        match self.purpose {
            KeyPurpose::Alerts { global: true } => ALERTS_KEY_GLOBAL,
            KeyPurpose::Alerts { global: false } => ALERTS_KEY,
            KeyPurpose::Audit => AUDIT_KEY,
        }
    }
    /// The global key is needed only when the stack is not in us-east-1.
    fn needed(&self, cx: &StepCx) -> bool {
        !self.global() || needs_us_east_1_twin(cx)
    }
    fn region<'a>(&self, cx: &'a StepCx) -> &'a str {
        if self.global() {
            "us-east-1"
        } else {
            &cx.aws.region
        }
    }
    fn alias(&self, cx: &StepCx) -> String {
        match self.purpose {
            KeyPurpose::Audit => audit_key_alias(&cx.cfg),
            KeyPurpose::Alerts { .. } => alerts_key_alias(cx),
        }
    }
    fn description(&self, cx: &StepCx) -> String {
        match self.purpose {
            KeyPurpose::Audit => format!("moodlectl {}: CloudTrail log files", cx.cfg.stack.name),
            KeyPurpose::Alerts { .. } => format!("moodlectl {}: alert topics and log groups", cx.cfg.stack.name),
        }
    }
    fn policy(&self, cx: &StepCx, account: &str) -> serde_json::Value {
        match self.purpose {
            KeyPurpose::Audit => audit_key_policy(account, &crate::resources::audit::trail_arn(cx, account)),
            KeyPurpose::Alerts { .. } => key_policy(account, self.region(cx)),
        }
    }
    async fn describe(&self, cx: &StepCx, id: &str) -> Result<Option<KeyMetadata>, StepError> {
        let o = self.client(cx).describe_key().key_id(id).send().await.or_absent("DescribeKey", id)?;
        Ok(o.and_then(|o| o.key_metadata().cloned()))
    }
    /// The key by its alias.
    async fn find(&self, cx: &StepCx) -> Result<Option<KeyMetadata>, StepError> {
        self.describe(cx, &self.alias(cx)).await
    }
    /// The key by alias, else by the ID the state recorded, else — when a run
    /// was killed after asking for a key (the state says `creating`) — by our
    /// tags among the account's keys; whether it still needs its alias.
    async fn find_any(&self, cx: &StepCx) -> Result<Option<(KeyMetadata, bool)>, StepError> {
        if let Some(k) = self.find(cx).await? {
            return Ok(Some((k, false)));
        }
        match cx.state.id(self.key()) {
            None => Ok(None),
            Some(id) if id == CREATING => Ok(self.find_by_tag(cx).await?.map(|k| (k, true))),
            Some(id) => Ok(self.describe(cx, &id).await?.map(|k| (k, true))),
        }
    }
    /// KMS has no tag filter: every key of the account, read until ours.
    /// Only after a run was killed mid-create, so the cost is paid once.
    async fn find_by_tag(&self, cx: &StepCx) -> Result<Option<KeyMetadata>, StepError> {
        let kms = self.client(cx);
        let pages = kms.list_keys().into_paginator().send();
        let pages: Vec<_> = pages.collect::<Result<Vec<_>, _>>().await.ctx("ListKeys", "KMS keys")?;
        for id in pages.iter().flat_map(|p| p.keys()).filter_map(|k| k.key_id()) {
            let tags = kms.list_resource_tags().key_id(id).send().await.or_absent("ListResourceTags", id)?;
            if tags.is_some_and(|t| is_ours(cx, t.tags(), self.key())) {
                let k = self.describe(cx, id).await?;
                if k.as_ref().is_some_and(|k| k.key_state() != Some(&KeyState::PendingDeletion)) {
                    return Ok(k);
                }
            }
        }
        Ok(None)
    }
}

/// `alias/<stack>-alerts`: the same name in each region.
pub fn alerts_key_alias(cx: &StepCx) -> String {
    format!("alias/{}", cx.cfg.name("alerts"))
}

/// `alias/<stack>-audit`: the trail's key (from the config alone: `status`
/// reports the key `down` kept).
pub fn audit_key_alias(cfg: &crate::config::Config) -> String {
    format!("alias/{}", cfg.name("audit"))
}

/// The ARN of the audit key for a step that encrypts with it; `None` only
/// in a dry run before the key exists.
pub fn audit_key_arn(cx: &StepCx) -> Result<Option<String>, StepError> {
    cx.dependency_attr(AUDIT_KEY, "arn", ids::AUDIT_KEY)
}

/// The state key and step of the stack's key that encrypts resources in the
/// stack's region, or in us-east-1 (`global`; the same key when the stack is
/// there).
fn key_of(cx: &StepCx, global: bool) -> (&'static str, StepId) {
    if global && needs_us_east_1_twin(cx) {
        (ALERTS_KEY_GLOBAL, ids::OBSERVE_ALERTS_KEY_GLOBAL)
    } else {
        (ALERTS_KEY, ids::OBSERVE_ALERTS_KEY)
    }
}

/// The ARN of that key as the state recorded it.
pub fn recorded_key_arn(cx: &StepCx, global: bool) -> Option<String> {
    let (key, _) = key_of(cx, global);
    cx.recorded_attr(key, "arn")
}

/// The ARN of that key for a step that encrypts with it; `None` only in a
/// dry run before the key exists.
pub fn stack_key_arn(cx: &StepCx, global: bool) -> Result<Option<String>, StepError> {
    let (key, step) = key_of(cx, global);
    cx.dependency_attr(key, "arn", step)
}

/// A key policy: the account administers the key (KMS refuses a policy
/// that would lock it out), then what the services may do.
fn administered(account: &str, services: serde_json::Value) -> serde_json::Value {
    let admin = serde_json::json!({
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*",
        "Resource": "*"
    });
    let mut statements = vec![admin];
    statements.extend(services.as_array().cloned().unwrap_or_default());
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

fn key_policy(account: &str, region: &str) -> serde_json::Value {
    administered(
        account,
        serde_json::json!([
            {
                "Sid": "AlarmsAndRdsEventsPublish",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.rds.amazonaws.com"]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}}
            },
            {
                "Sid": "LogGroupsEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": format!("logs.{region}.amazonaws.com")},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": format!("arn:aws:logs:{region}:{account}:log-group:*")}}
            }
        ]),
    )
}

/// The account administers the key; CloudTrail may generate data keys for
/// this account's trails, as this stack's trail, and describe the key
/// (CloudTrail user guide, "Configure AWS KMS key policies for CloudTrail").
/// Reading the logs is left to IAM: a principal of the account needs
/// `kms:Decrypt` on this key in its own policy.
fn audit_key_policy(account: &str, trail_arn: &str) -> serde_json::Value {
    administered(
        account,
        serde_json::json!([
            {
                "Sid": "CloudTrailEncryptsLogs",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": format!("arn:aws:cloudtrail:*:{account}:trail/*")}
                }
            },
            {
                "Sid": "CloudTrailDescribesKey",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}
            }
        ]),
    )
}

fn recorded(k: &KeyMetadata) -> Resource {
    Resource::new("kms:key", k.key_id()).with("arn", k.arn().unwrap_or_default())
}

#[async_trait]
impl Step<StepCx> for KeyStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        if !self.needed(cx) {
            return Ok(Outcome::Unchanged);
        }
        let kms = self.client(cx);
        let account = crate::resources::audit::account_id(cx).await?;
        let want = self.policy(cx, &account);
        let alias = self.alias(cx);
        let mut changes = vec![];
        let id = match self.find_any(cx).await? {
            Some((k, needs_alias)) => {
                let id = k.key_id().to_string();
                cx.record(self.key(), recorded(&k))?;
                if needs_alias {
                    changes.push(format!("alias {alias}"));
                    if !cx.dry_run {
                        let call = kms.create_alias().alias_name(&alias).target_key_id(&id);
                        call.send().await.ctx("CreateAlias", &alias)?;
                    }
                }
                if k.key_state() == Some(&KeyState::PendingDeletion) {
                    changes.push("deletion scheduled by `down`: cancelled".to_string());
                    if !cx.dry_run {
                        kms.cancel_key_deletion().key_id(&id).send().await.ctx("CancelKeyDeletion", &id)?;
                        kms.enable_key().key_id(&id).send().await.ctx("EnableKey", &id)?;
                    }
                } else if k.key_state() == Some(&KeyState::Disabled) {
                    changes.push(change("state", "Disabled", "Enabled"));
                    if !cx.dry_run {
                        kms.enable_key().key_id(&id).send().await.ctx("EnableKey", &id)?;
                    }
                }
                let live = kms.get_key_policy().key_id(&id).policy_name("default").send().await;
                let live = live.ctx("GetKeyPolicy", &id)?;
                if !live.policy().is_some_and(|p| iam::same_policy(p, &want)) {
                    changes.push("key policy".to_string());
                    if !cx.dry_run {
                        let call = kms.put_key_policy().key_id(&id).policy_name("default").policy(want.to_string());
                        call.send().await.ctx("PutKeyPolicy", &id)?;
                    }
                }
                let rot = kms.get_key_rotation_status().key_id(&id).send().await.ctx("GetKeyRotationStatus", &id)?;
                if !rot.key_rotation_enabled() {
                    changes.push(change("rotation", "off", "on"));
                    if !cx.dry_run {
                        kms.enable_key_rotation().key_id(&id).send().await.ctx("EnableKeyRotation", &id)?;
                    }
                }
                return Ok(Outcome::of_changes(changes));
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                cx.record(self.key(), Resource::new("kms:key", CREATING))?;
                let tags = Tags::named(cx, self.key(), &alias).render();
                let call = kms.create_key().description(self.description(cx));
                let call = call.policy(want.to_string()).set_tags(Some(tags));
                let o = call.send().await.ctx("CreateKey", &alias)?;
                let k = o.key_metadata().cloned().unwrap_or_else(|| KeyMetadata::builder().build().expect("id"));
                cx.record_new(self.key(), recorded(&k))?;
                k.key_id().to_string()
            }
        };
        // A run killed before CreateAlias leaves a key no alias finds: the
        // state recorded its ID (above), and `find_any` finds it there.
        kms.create_alias().alias_name(&alias).target_key_id(&id).send().await.ctx("CreateAlias", &alias)?;
        kms.enable_key_rotation().key_id(&id).send().await.ctx("EnableKeyRotation", &id)?;
        Ok(Outcome::Created)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let found = if self.needed(cx) { self.find_any(cx).await?.map(|(k, _)| k) } else { None };
        let found = found.filter(|k| k.key_state() != Some(&KeyState::PendingDeletion));
        let key = self.key();
        if let (KeyPurpose::Audit, false, Some(k)) = (self.purpose, cx.opts.delete_logs, &found) {
            cx.note(format!(
                "kept: KMS key `{}` ({}) that encrypts the kept audit logs (--delete-logs schedules its deletion)",
                k.key_id(),
                self.alias(cx)
            ));
            cx.forget(key)?;
            return Ok(Outcome::Unchanged);
        }
        cx.remove(key, found, |k| async move {
            let id = k.key_id();
            let call = self.client(cx).schedule_key_deletion().key_id(id).pending_window_in_days(DELETION_WINDOW_DAYS);
            let o = call.send().await.ctx("ScheduleKeyDeletion", id)?;
            let when = o.deletion_date().map(|d| d.to_string()).unwrap_or_else(|| "in 7 days".into());
            cx.note(format!(
                "kept: KMS key `{id}` ({}) until its deletion on {when} (AWS keeps a key at least {DELETION_WINDOW_DAYS} days; an `up` before then reuses it)",
                self.alias(cx)
            ));
            Ok(Outcome::Deleted)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        if !self.needed(cx) {
            return Ok(vec![]);
        }
        let found = self.find(cx).await?.filter(|k| k.key_state() != Some(&KeyState::PendingDeletion));
        let rotation = match &found {
            Some(k) => {
                let o = self.client(cx).get_key_rotation_status().key_id(k.key_id()).send().await;
                o.ctx("GetKeyRotationStatus", k.key_id())?.key_rotation_enabled()
            }
            None => false,
        };
        let name = format!("{}{}", self.alias(cx), if self.global() { " (us-east-1)" } else { "" });
        cx.inspect_one(self.key(), "kms:key", &name, found, |i, k| {
            let st = k.key_state().map(|s| s.as_str().to_string()).unwrap_or_default();
            let mut i = i.status(Some(k.key_id()), &st, st == "Enabled").detail("rotation", rotation.to_string());
            if !rotation {
                i.drift = Some("key rotation off".into());
            }
            i
        })
    }
}
