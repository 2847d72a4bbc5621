//! Audit tier: the CloudTrail trail and the S3 bucket it writes to.
//!
//! Ordering: the bucket and its policy must exist before the trail (CloudTrail
//! checks it can write when the trail is created), and logging is started
//! after the trail exists. Teardown deletes the trail; the bucket — audit logs
//! outlive the stack — is kept and reported unless `--delete-audit-logs`.

use super::{TAG_RESOURCE, TAG_STACK};
use crate::engine::{Inspection, Outcome, Step, StepCx};
use crate::error::{absent_ok, aws_err, StepError};
use crate::state::Resource;
use async_trait::async_trait;
use aws_sdk_s3::types as s3;
use std::sync::Arc;

pub const BUCKET: &str = "s3/cloudtrail-bucket";
pub const TRAIL: &str = "cloudtrail/trail";

pub fn steps() -> Vec<Arc<dyn Step>> {
    vec![Arc::new(BucketStep), Arc::new(TrailStep)]
}

pub async fn account_id(cx: &StepCx) -> Result<String, StepError> {
    let o = cx
        .aws
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_err("GetCallerIdentity", "credentials", e))?;
    Ok(o.account().unwrap_or_default().to_string())
}

/// Bucket names are global: account and region make ours unique.
pub fn bucket_name(cx: &StepCx, account: &str) -> String {
    format!(
        "{}-cloudtrail-{account}-{}",
        cx.cfg.stack.name, cx.aws.region
    )
}

pub fn trail_name(cx: &StepCx) -> String {
    cx.cfg.name("trail")
}

fn trail_arn(cx: &StepCx, account: &str) -> String {
    format!(
        "arn:aws:cloudtrail:{}:{account}:trail/{}",
        cx.aws.region,
        trail_name(cx)
    )
}

/// Deny plain HTTP; let exactly this account's trail check the ACL and write.
pub fn bucket_policy(bucket: &str, account: &str, trail_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": format!("arn:aws:s3:::{bucket}"),
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/{account}/*"),
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}}
            }
        ]
    })
}

async fn bucket_exists(cx: &StepCx, bucket: &str) -> Result<bool, StepError> {
    match cx.aws.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .map(|s| s.is_not_found())
                .unwrap_or(false) =>
        {
            Ok(false)
        }
        Err(e)
            if e.raw_response()
                .map(|r| r.status().as_u16() == 404)
                .unwrap_or(false) =>
        {
            Ok(false)
        }
        Err(e) => Err(aws_err("HeadBucket", bucket, e)),
    }
}

struct BucketStep;

#[async_trait]
impl Step for BucketStep {
    fn id(&self) -> &'static str {
        "audit.bucket"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let account = account_id(cx).await?;
        let bucket = bucket_name(cx, &account);
        let exists = bucket_exists(cx, &bucket).await?;
        let mut changes = vec![];
        if !exists {
            if cx.dry_run {
                return Ok(Outcome::Created);
            }
            let mut req = cx
                .aws
                .s3
                .create_bucket()
                .bucket(&bucket)
                .object_ownership(s3::ObjectOwnership::BucketOwnerEnforced);
            if cx.aws.region != "us-east-1" {
                req = req.create_bucket_configuration(
                    s3::CreateBucketConfiguration::builder()
                        .location_constraint(s3::BucketLocationConstraint::from(
                            cx.aws.region.as_str(),
                        ))
                        .build(),
                );
            }
            match req.send().await {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .map(|s| s.is_bucket_already_owned_by_you())
                        .unwrap_or(false) => {}
                Err(e) => return Err(aws_err("CreateBucket", &bucket, e)),
            }
        }
        cx.record(BUCKET, Resource::new("s3:bucket", &bucket))?;
        let fresh = !exists;

        // Each setting is read and written only when it differs.
        let pab_ok = !fresh
            && absent_ok(
                "GetPublicAccessBlock",
                &bucket,
                cx.aws
                    .s3
                    .get_public_access_block()
                    .bucket(&bucket)
                    .send()
                    .await,
            )?
            .and_then(|o| o.public_access_block_configuration().cloned())
            .map(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            })
            .unwrap_or(false);
        if !pab_ok {
            changes.push("public access block".to_string());
            if !cx.dry_run {
                let c = s3::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build();
                cx.aws
                    .s3
                    .put_public_access_block()
                    .bucket(&bucket)
                    .public_access_block_configuration(c)
                    .send()
                    .await
                    .map_err(|e| aws_err("PutPublicAccessBlock", &bucket, e))?;
            }
        }
        let enc_ok = !fresh
            && absent_ok(
                "GetBucketEncryption",
                &bucket,
                cx.aws
                    .s3
                    .get_bucket_encryption()
                    .bucket(&bucket)
                    .send()
                    .await,
            )?
            .and_then(|o| o.server_side_encryption_configuration().cloned())
            .map(|c| {
                c.rules().iter().any(|r| {
                    r.apply_server_side_encryption_by_default()
                        .map(|d| d.sse_algorithm().as_str() == "AES256")
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false);
        if !enc_ok {
            changes.push("SSE-S3 encryption".to_string());
            if !cx.dry_run {
                let rule = s3::ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        s3::ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(s3::ServerSideEncryption::Aes256)
                            .build()
                            .expect("algorithm"),
                    )
                    .build();
                cx.aws
                    .s3
                    .put_bucket_encryption()
                    .bucket(&bucket)
                    .server_side_encryption_configuration(
                        s3::ServerSideEncryptionConfiguration::builder()
                            .rules(rule)
                            .build()
                            .expect("rules"),
                    )
                    .send()
                    .await
                    .map_err(|e| aws_err("PutBucketEncryption", &bucket, e))?;
            }
        }
        let own_ok = !fresh
            && absent_ok(
                "GetBucketOwnershipControls",
                &bucket,
                cx.aws
                    .s3
                    .get_bucket_ownership_controls()
                    .bucket(&bucket)
                    .send()
                    .await,
            )?
            .and_then(|o| o.ownership_controls().cloned())
            .map(|c| {
                c.rules()
                    .iter()
                    .any(|r| r.object_ownership() == &s3::ObjectOwnership::BucketOwnerEnforced)
            })
            .unwrap_or(false);
        if !own_ok {
            changes.push("bucket-owner-enforced ownership".to_string());
            if !cx.dry_run {
                let c = s3::OwnershipControls::builder()
                    .rules(
                        s3::OwnershipControlsRule::builder()
                            .object_ownership(s3::ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .expect("ownership"),
                    )
                    .build()
                    .expect("rules");
                cx.aws
                    .s3
                    .put_bucket_ownership_controls()
                    .bucket(&bucket)
                    .ownership_controls(c)
                    .send()
                    .await
                    .map_err(|e| aws_err("PutBucketOwnershipControls", &bucket, e))?;
            }
        }
        let want = bucket_policy(&bucket, &account, &trail_arn(cx, &account));
        let pol_ok = !fresh
            && absent_ok(
                "GetBucketPolicy",
                &bucket,
                cx.aws.s3.get_bucket_policy().bucket(&bucket).send().await,
            )?
            .and_then(|o| o.policy().map(str::to_string))
            .map(|p| super::same_policy(&p, &want))
            .unwrap_or(false);
        if !pol_ok {
            changes.push("bucket policy".to_string());
            if !cx.dry_run {
                cx.aws
                    .s3
                    .put_bucket_policy()
                    .bucket(&bucket)
                    .policy(want.to_string())
                    .send()
                    .await
                    .map_err(|e| aws_err("PutBucketPolicy", &bucket, e))?;
            }
        }
        let tag_ok = !fresh
            && absent_ok(
                "GetBucketTagging",
                &bucket,
                cx.aws.s3.get_bucket_tagging().bucket(&bucket).send().await,
            )?
            .map(|o| {
                o.tag_set()
                    .iter()
                    .any(|t| t.key() == TAG_STACK && t.value() == cx.cfg.stack.name)
            })
            .unwrap_or(false);
        if !tag_ok {
            if !fresh {
                changes.push("tags".to_string());
            }
            if !cx.dry_run {
                let tags: Vec<s3::Tag> = [
                    (TAG_STACK, cx.cfg.stack.name.as_str()),
                    (TAG_RESOURCE, BUCKET),
                    ("Name", bucket.as_str()),
                ]
                .iter()
                .map(|(k, v)| s3::Tag::builder().key(*k).value(*v).build().expect("key"))
                .collect();
                cx.aws
                    .s3
                    .put_bucket_tagging()
                    .bucket(&bucket)
                    .tagging(
                        s3::Tagging::builder()
                            .set_tag_set(Some(tags))
                            .build()
                            .expect("tags"),
                    )
                    .send()
                    .await
                    .map_err(|e| aws_err("PutBucketTagging", &bucket, e))?;
            }
        }
        Ok(if fresh {
            Outcome::Created
        } else if changes.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Updated(changes)
        })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let account = account_id(cx).await?;
        let bucket = bucket_name(cx, &account);
        if !bucket_exists(cx, &bucket).await? {
            cx.forget(BUCKET)?;
            return Ok(Outcome::AlreadyAbsent);
        }
        if !cx.opts.delete_audit_logs {
            cx.note(format!("kept: CloudTrail bucket `{bucket}` with the audit logs (--delete-audit-logs removes it)"));
            cx.forget(BUCKET)?;
            return Ok(Outcome::Unchanged);
        }
        // Empty it (every version), then delete it.
        loop {
            let o = cx
                .aws
                .s3
                .list_object_versions()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| aws_err("ListObjectVersions", &bucket, e))?;
            let ids: Vec<s3::ObjectIdentifier> = o
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(o.delete_markers().iter().map(|m| (m.key(), m.version_id())))
                .filter_map(|(k, v)| {
                    s3::ObjectIdentifier::builder()
                        .set_key(k.map(str::to_string))
                        .set_version_id(v.map(str::to_string))
                        .build()
                        .ok()
                })
                .collect();
            if ids.is_empty() {
                break;
            }
            cx.aws
                .s3
                .delete_objects()
                .bucket(&bucket)
                .delete(
                    s3::Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()
                        .expect("objects"),
                )
                .send()
                .await
                .map_err(|e| aws_err("DeleteObjects", &bucket, e))?;
        }
        let out = super::deleted(
            "DeleteBucket",
            &bucket,
            cx.aws.s3.delete_bucket().bucket(&bucket).send().await,
        )?;
        cx.forget(BUCKET)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let account = account_id(cx).await?;
        let bucket = bucket_name(cx, &account);
        Ok(vec![if bucket_exists(cx, &bucket).await? {
            Inspection::new("s3:bucket", &bucket, Some(bucket.clone()), "exists", true)
        } else {
            Inspection::missing("s3:bucket", &bucket, cx.state.id(BUCKET))
        }])
    }
}

struct TrailStep;

async fn find_trail(cx: &StepCx) -> Result<Option<aws_sdk_cloudtrail::types::Trail>, StepError> {
    let name = trail_name(cx);
    let o = cx
        .aws
        .cloudtrail
        .describe_trails()
        .trail_name_list(&name)
        .send()
        .await
        .map_err(|e| aws_err("DescribeTrails", &name, e))?;
    Ok(o.trail_list()
        .iter()
        .find(|t| t.name() == Some(name.as_str()))
        .cloned())
}

async fn is_logging(cx: &StepCx) -> Result<bool, StepError> {
    let name = trail_name(cx);
    Ok(absent_ok(
        "GetTrailStatus",
        &name,
        cx.aws
            .cloudtrail
            .get_trail_status()
            .name(&name)
            .send()
            .await,
    )?
    .and_then(|s| s.is_logging())
    .unwrap_or(false))
}

#[async_trait]
impl Step for TrailStep {
    fn id(&self) -> &'static str {
        "audit.trail"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["audit.bucket"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = trail_name(cx);
        let out = match find_trail(cx).await? {
            Some(t) => {
                cx.record(
                    TRAIL,
                    Resource::new("cloudtrail:trail", t.trail_arn().unwrap_or_default()),
                )?;
                let bucket = cx.state.id(BUCKET).unwrap_or_default();
                let ok = t.is_multi_region_trail() == Some(true)
                    && t.include_global_service_events() == Some(true)
                    && t.log_file_validation_enabled() == Some(true)
                    && t.s3_bucket_name() == Some(bucket.as_str());
                if ok {
                    Outcome::Unchanged
                } else {
                    if !cx.dry_run {
                        cx.aws
                            .cloudtrail
                            .update_trail()
                            .name(&name)
                            .s3_bucket_name(&bucket)
                            .is_multi_region_trail(true)
                            .include_global_service_events(true)
                            .enable_log_file_validation(true)
                            .send()
                            .await
                            .map_err(|e| aws_err("UpdateTrail", &name, e))?;
                    }
                    Outcome::Updated(vec![
                        "trail settings (multi-region, global events, log validation, bucket)"
                            .into(),
                    ])
                }
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = [
                    (TAG_STACK, cx.cfg.stack.name.as_str()),
                    (TAG_RESOURCE, TRAIL),
                ]
                .iter()
                .map(|(k, v)| {
                    aws_sdk_cloudtrail::types::Tag::builder()
                        .key(*k)
                        .value(*v)
                        .build()
                        .expect("key")
                })
                .collect();
                let o = cx
                    .aws
                    .cloudtrail
                    .create_trail()
                    .name(&name)
                    .s3_bucket_name(cx.require(BUCKET, "audit.bucket")?)
                    .is_multi_region_trail(true)
                    .include_global_service_events(true)
                    .enable_log_file_validation(true)
                    .set_tags_list(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateTrail", &name, e))?;
                cx.record_new(
                    TRAIL,
                    Resource::new("cloudtrail:trail", o.trail_arn().unwrap_or_default()),
                )?;
                Outcome::Created
            }
        };
        if !is_logging(cx).await? {
            if !cx.dry_run {
                cx.aws
                    .cloudtrail
                    .start_logging()
                    .name(&name)
                    .send()
                    .await
                    .map_err(|e| aws_err("StartLogging", &name, e))?;
            }
            if out == Outcome::Unchanged {
                return Ok(Outcome::Updated(vec!["logging: off → on".into()]));
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = trail_name(cx);
        let out = match find_trail(cx).await? {
            Some(_) => super::deleted(
                "DeleteTrail",
                &name,
                cx.aws.cloudtrail.delete_trail().name(&name).send().await,
            )?,
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(TRAIL)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = trail_name(cx);
        Ok(vec![match find_trail(cx).await? {
            Some(t) => {
                let logging = is_logging(cx).await?;
                let mut i = Inspection::new(
                    "cloudtrail:trail",
                    &name,
                    t.trail_arn().map(str::to_string),
                    if logging { "logging" } else { "not logging" },
                    logging,
                )
                .detail(
                    "multi_region",
                    t.is_multi_region_trail().unwrap_or(false).to_string(),
                );
                if !logging {
                    i.drift = Some("logging stopped".into());
                }
                i
            }
            None => Inspection::missing("cloudtrail:trail", &name, cx.state.id(TRAIL)),
        }])
    }
}
