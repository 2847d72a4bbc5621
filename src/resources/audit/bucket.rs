//! The trail's S3 bucket: public access blocked, SSE-S3, bucket-owner
//! enforced, a TLS-only policy allowing only this trail's ACL check and writes.
//!
//! It must exist with its policy before the trail: CloudTrail checks it can
//! write when the trail is created.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_s3::types as s3;

pub(crate) struct BucketStep;

pub(crate) const BUCKET_STEP: Node = Node { id: ids::AUDIT_BUCKET, deps: &[], step: &BucketStep };

#[async_trait]
impl Step<StepCx> for BucketStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let account = account_id(cx).await?;
        let bucket = bucket_name(cx, &account);
        let exists = bucket_exists(cx, &bucket).await?;
        let mut changes = vec![];
        if !exists {
            if cx.dry_run {
                return Ok(Outcome::Created);
            }
            let mut req =
                cx.aws.s3.create_bucket().bucket(&bucket).object_ownership(s3::ObjectOwnership::BucketOwnerEnforced);
            if cx.aws.region != "us-east-1" {
                req = req.create_bucket_configuration(
                    s3::CreateBucketConfiguration::builder()
                        .location_constraint(s3::BucketLocationConstraint::from(cx.aws.region.as_str()))
                        .build(),
                );
            }
            match req.send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().map(|s| s.is_bucket_already_owned_by_you()).unwrap_or(false) => {}
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
                cx.aws.s3.get_public_access_block().bucket(&bucket).send().await,
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
                cx.aws.s3.get_bucket_encryption().bucket(&bucket).send().await,
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
                        s3::ServerSideEncryptionConfiguration::builder().rules(rule).build().expect("rules"),
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
                cx.aws.s3.get_bucket_ownership_controls().bucket(&bucket).send().await,
            )?
            .and_then(|o| o.ownership_controls().cloned())
            .map(|c| c.rules().iter().any(|r| r.object_ownership() == &s3::ObjectOwnership::BucketOwnerEnforced))
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
            && absent_ok("GetBucketPolicy", &bucket, cx.aws.s3.get_bucket_policy().bucket(&bucket).send().await)?
                .and_then(|o| o.policy().map(str::to_string))
                .map(|p| iam::same_policy(&p, &want))
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
            && absent_ok("GetBucketTagging", &bucket, cx.aws.s3.get_bucket_tagging().bucket(&bucket).send().await)?
                .map(|o| tag_value(o.tag_set(), TAG_STACK) == Some(cx.cfg.stack.name.as_str()))
                .unwrap_or(false);
        if !tag_ok {
            if !fresh {
                changes.push("tags".to_string());
            }
            if !cx.dry_run {
                let tags: Vec<s3::Tag> = Tags::named(cx, BUCKET, &bucket).render();
                cx.aws
                    .s3
                    .put_bucket_tagging()
                    .bucket(&bucket)
                    .tagging(s3::Tagging::builder().set_tag_set(Some(tags)).build().expect("tags"))
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
                .delete(s3::Delete::builder().set_objects(Some(ids)).quiet(true).build().expect("objects"))
                .send()
                .await
                .map_err(|e| aws_err("DeleteObjects", &bucket, e))?;
        }
        let out = deleted("DeleteBucket", &bucket, cx.aws.s3.delete_bucket().bucket(&bucket).send().await)?;
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
