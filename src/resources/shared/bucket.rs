//! S3 buckets that hold logs — CloudTrail's audit trail, the load
//! balancer's and CloudFront's access logs: public access blocked, SSE-S3
//! (the only encryption ALB and CloudFront log delivery accept), a TLS-only
//! policy naming exactly the services that write, versioned (a log file
//! overwritten or deleted is kept) with a lifecycle that ends the logs after
//! the configured days. Logs outlive the stack: `down` keeps these buckets
//! unless asked (`--delete-logs`).
//!
//! A bucket must exist with its policy before whatever writes to it:
//! CloudTrail checks it can write when the trail is created, and the load
//! balancer when access logging is turned on.
//!
//! Eventual consistency: a service may still deliver a log file after it was
//! told to stop, so `DeleteBucket` can answer `BucketNotEmpty`; the bucket is
//! emptied again and retried (`transient::BUCKET_DELETE`).

use crate::resources::prelude::*;
use crate::resources::shared::iam;
use aws_sdk_s3::types as s3;

/// The account of the credentials (one `GetCallerIdentity` per run).
pub async fn account_id(cx: &StepCx) -> Result<String, StepError> {
    let account = cx.aws.account.get_or_try_init(|| async {
        let o = cx.aws.sts.get_caller_identity().send().await.ctx("GetCallerIdentity", "credentials")?;
        Ok::<_, StepError>(o.account().unwrap_or_default().to_string())
    });
    Ok(account.await?.clone())
}

pub(crate) async fn bucket_exists(cx: &StepCx, bucket: &str) -> Result<bool, StepError> {
    match cx.aws.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().map(|s| s.is_not_found()).unwrap_or(false) => Ok(false),
        Err(e) if e.raw_response().map(|r| r.status().as_u16() == 404).unwrap_or(false) => Ok(false),
        Err(e) => Err(aws_err("HeadBucket", bucket, e)),
    }
}

/// The statement every log bucket's policy starts with: plain HTTP denied.
pub fn deny_insecure_transport(bucket: &str) -> serde_json::Value {
    serde_json::json!({
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    })
}

/// A log bucket's retention: log files expire after `days`; their older
/// versions (the bucket is versioned: an overwritten or deleted log file is
/// kept) 30 days after they were replaced; unfinished uploads after 7 days.
const NONCURRENT_DAYS: i32 = 30;

fn lifecycle_rule(days: i32) -> s3::LifecycleRule {
    s3::LifecycleRule::builder()
        .id("moodlectl-retention")
        .status(s3::ExpirationStatus::Enabled)
        .filter(s3::LifecycleRuleFilter::builder().prefix("").build())
        .expiration(s3::LifecycleExpiration::builder().days(days).build())
        .noncurrent_version_expiration(
            s3::NoncurrentVersionExpiration::builder().noncurrent_days(NONCURRENT_DAYS).build(),
        )
        .abort_incomplete_multipart_upload(
            s3::AbortIncompleteMultipartUpload::builder().days_after_initiation(7).build(),
        )
        .build()
        .expect("status")
}

fn lifecycle_matches(r: &s3::LifecycleRule, days: i32) -> bool {
    r.status() == &s3::ExpirationStatus::Enabled
        && r.expiration().and_then(|e| e.days()) == Some(days)
        && r.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()) == Some(NONCURRENT_DAYS)
}

/// Delete every object version and delete marker. A key S3 refuses to
/// delete (`DeleteObjects` answers per key) is an error naming it, not a
/// loop that lists the same key forever.
async fn empty_bucket(s3c: &aws_sdk_s3::Client, bucket: &str) -> Result<(), StepError> {
    loop {
        let o = s3c.list_object_versions().bucket(bucket).send().await.ctx("ListObjectVersions", bucket)?;
        let versions = o.versions().iter().map(|v| (v.key(), v.version_id()));
        let ids: Vec<s3::ObjectIdentifier> = versions
            .chain(o.delete_markers().iter().map(|m| (m.key(), m.version_id())))
            .filter_map(|(k, v)| {
                let id = s3::ObjectIdentifier::builder().set_key(k.map(str::to_string));
                id.set_version_id(v.map(str::to_string)).build().ok()
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let delete = s3::Delete::builder().set_objects(Some(ids)).quiet(true).build().expect("objects");
        let r = s3c.delete_objects().bucket(bucket).delete(delete).send().await.ctx("DeleteObjects", bucket)?;
        if let Some(e) = r.errors().first() {
            return Err(StepError::Aws {
                op: "DeleteObjects".into(),
                resource: format!("{bucket}/{}", e.key().unwrap_or("?")),
                code: e.code().unwrap_or("Unknown").into(),
                message: format!(
                    "{} ({} of the keys could not be deleted)",
                    e.message().unwrap_or_default(),
                    r.errors().len()
                ),
                source: None,
            });
        }
    }
}

/// One log bucket of the stack, as its step sees it.
pub struct LogBucket {
    /// State key.
    pub key: &'static str,
    pub name: String,
    /// `BucketOwnerEnforced` (ACLs off) unless a writer needs ACLs:
    /// CloudFront's standard logs grant themselves write by ACL.
    pub ownership: s3::ObjectOwnership,
    pub policy: serde_json::Value,
    /// Days a log file is kept.
    pub days: i32,
    /// What `down` says it kept: the bucket's kind, then what it holds.
    pub what: (&'static str, &'static str),
    /// Where S3 server access logs of this bucket go: (target bucket,
    /// prefix). The target's policy must let `logging.s3.amazonaws.com`
    /// write under the prefix first, or S3 refuses
    /// (InvalidTargetBucketForLogging).
    pub access_logs: Option<(String, String)>,
}

impl LogBucket {
    async fn create(&self, cx: &StepCx) -> Result<(), StepError> {
        let bucket = &self.name;
        let mut req = cx.aws.s3.create_bucket().bucket(bucket).object_ownership(self.ownership.clone());
        if cx.aws.region != "us-east-1" {
            req = req.create_bucket_configuration(
                s3::CreateBucketConfiguration::builder()
                    .location_constraint(s3::BucketLocationConstraint::from(cx.aws.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().map(|s| s.is_bucket_already_owned_by_you()).unwrap_or(false) => Ok(()),
            Err(e) => Err(aws_err("CreateBucket", bucket, e)),
        }
    }

    pub async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let bucket = &self.name;
        let exists = bucket_exists(cx, bucket).await?;
        let mut changes = vec![];
        if !exists {
            if cx.dry_run {
                return Ok(Outcome::Created);
            }
            self.create(cx).await?;
        }
        cx.record(self.key, Resource::new("s3:bucket", bucket))?;
        let fresh = !exists;

        // Each setting is read and written only when it differs (a new
        // bucket has none of them: nothing to read).
        let s3c = &cx.aws.s3;
        let pab_ok = !fresh && {
            let r =
                s3c.get_public_access_block().bucket(bucket).send().await.or_absent("GetPublicAccessBlock", bucket)?;
            r.and_then(|o| o.public_access_block_configuration().cloned()).is_some_and(|c| {
                [c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()]
                    .iter()
                    .all(|b| *b == Some(true))
            })
        };
        if !pab_ok {
            changes.push("public access block".to_string());
            if !cx.dry_run {
                let c = s3::PublicAccessBlockConfiguration::builder().block_public_acls(true).ignore_public_acls(true);
                let c = c.block_public_policy(true).restrict_public_buckets(true).build();
                let call = s3c.put_public_access_block().bucket(bucket).public_access_block_configuration(c);
                call.send().await.ctx("PutPublicAccessBlock", bucket)?;
            }
        }
        let enc_ok = !fresh && {
            let r = s3c.get_bucket_encryption().bucket(bucket).send().await.or_absent("GetBucketEncryption", bucket)?;
            let rules = r.and_then(|o| o.server_side_encryption_configuration().cloned());
            rules.is_some_and(|c| {
                let sse = |r: &s3::ServerSideEncryptionRule| r.apply_server_side_encryption_by_default().cloned();
                c.rules().iter().filter_map(sse).any(|d| d.sse_algorithm() == &s3::ServerSideEncryption::Aes256)
            })
        };
        if !enc_ok {
            changes.push("SSE-S3 encryption".to_string());
            if !cx.dry_run {
                let aes = s3::ServerSideEncryptionByDefault::builder().sse_algorithm(s3::ServerSideEncryption::Aes256);
                let rule = s3::ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(aes.build().expect("algorithm"));
                let sse = s3::ServerSideEncryptionConfiguration::builder().rules(rule.build()).build().expect("rules");
                let call = s3c.put_bucket_encryption().bucket(bucket).server_side_encryption_configuration(sse);
                call.send().await.ctx("PutBucketEncryption", bucket)?;
            }
        }
        let own_ok = !fresh && {
            let r = s3c.get_bucket_ownership_controls().bucket(bucket).send().await;
            let r = r.or_absent("GetBucketOwnershipControls", bucket)?.and_then(|o| o.ownership_controls().cloned());
            r.is_some_and(|c| c.rules().iter().any(|r| r.object_ownership() == &self.ownership))
        };
        if !own_ok {
            changes.push(format!("object ownership {}", self.ownership.as_str()));
            if !cx.dry_run {
                let rule = s3::OwnershipControlsRule::builder().object_ownership(self.ownership.clone());
                let c = s3::OwnershipControls::builder().rules(rule.build().expect("ownership"));
                let call =
                    s3c.put_bucket_ownership_controls().bucket(bucket).ownership_controls(c.build().expect("rules"));
                call.send().await.ctx("PutBucketOwnershipControls", bucket)?;
            }
        }
        let pol_ok = !fresh && {
            let r = s3c.get_bucket_policy().bucket(bucket).send().await.or_absent("GetBucketPolicy", bucket)?;
            r.and_then(|o| o.policy().map(str::to_string)).is_some_and(|p| iam::same_policy(&p, &self.policy))
        };
        if !pol_ok {
            changes.push("bucket policy".to_string());
            if !cx.dry_run {
                let call = s3c.put_bucket_policy().bucket(bucket).policy(self.policy.to_string());
                call.send().await.ctx("PutBucketPolicy", bucket)?;
            }
        }
        if let Some((target, prefix)) = &self.access_logs {
            let logging_ok = !fresh && {
                let r = s3c.get_bucket_logging().bucket(bucket).send().await.ctx("GetBucketLogging", bucket)?;
                r.logging_enabled().is_some_and(|l| l.target_bucket() == target && l.target_prefix() == prefix)
            };
            if !logging_ok {
                changes.push(format!("server access logs to s3://{target}/{prefix}"));
                if !cx.dry_run {
                    let on = s3::LoggingEnabled::builder().target_bucket(target).target_prefix(prefix).build();
                    let status = s3::BucketLoggingStatus::builder().logging_enabled(on.expect("target")).build();
                    let call = s3c.put_bucket_logging().bucket(bucket).bucket_logging_status(status);
                    call.send().await.ctx("PutBucketLogging", bucket)?;
                }
            }
        }
        let versioned = !fresh && {
            let r = s3c.get_bucket_versioning().bucket(bucket).send().await.ctx("GetBucketVersioning", bucket)?;
            r.status() == Some(&s3::BucketVersioningStatus::Enabled)
        };
        if !versioned {
            changes.push("versioning".to_string());
            if !cx.dry_run {
                let v = s3::VersioningConfiguration::builder().status(s3::BucketVersioningStatus::Enabled).build();
                let call = s3c.put_bucket_versioning().bucket(bucket).versioning_configuration(v);
                call.send().await.ctx("PutBucketVersioning", bucket)?;
            }
        }
        let days = self.days;
        let life_ok = !fresh && {
            let r = s3c.get_bucket_lifecycle_configuration().bucket(bucket).send().await;
            let rules = r.or_absent("GetBucketLifecycleConfiguration", bucket)?.map(|o| o.rules().to_vec());
            rules.unwrap_or_default().iter().any(|r| lifecycle_matches(r, days))
        };
        if !life_ok {
            changes.push(format!("lifecycle: logs kept {days} days"));
            if !cx.dry_run {
                let c = s3::BucketLifecycleConfiguration::builder().rules(lifecycle_rule(days)).build().expect("rules");
                let call = s3c.put_bucket_lifecycle_configuration().bucket(bucket).lifecycle_configuration(c);
                call.send().await.ctx("PutBucketLifecycleConfiguration", bucket)?;
            }
        }
        let tag_ok = !fresh && {
            let r = s3c.get_bucket_tagging().bucket(bucket).send().await.or_absent("GetBucketTagging", bucket)?;
            r.is_some_and(|o| tag_value(o.tag_set(), TAG_STACK) == Some(cx.cfg.stack.name.as_str()))
        };
        if !tag_ok {
            if !fresh {
                changes.push("tags".to_string());
            }
            if !cx.dry_run {
                let tags: Vec<s3::Tag> = Tags::named(cx, self.key, bucket).render();
                let call = s3c.put_bucket_tagging().bucket(bucket);
                let call = call.tagging(s3::Tagging::builder().set_tag_set(Some(tags)).build().expect("tags"));
                call.send().await.ctx("PutBucketTagging", bucket)?;
            }
        }
        Ok(if fresh { Outcome::Created } else { Outcome::of_changes(changes) })
    }

    pub async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let bucket = &self.name;
        if !bucket_exists(cx, bucket).await? {
            cx.forget(self.key)?;
            return Ok(Outcome::AlreadyAbsent);
        }
        if !cx.opts.delete_logs {
            let (kind, holds) = self.what;
            cx.note(format!("kept: {kind} `{bucket}` with {holds} (--delete-logs removes it)"));
            cx.forget(self.key)?;
            return Ok(Outcome::Unchanged);
        }
        // Empty it (every version), then delete it. A last log file may
        // still arrive after its writer went (`BucketNotEmpty`): empty it
        // again and retry, within the rule's bound.
        let rule = &transient::BUCKET_DELETE;
        let out = retry::attempts(cx, "DeleteBucket", bucket, rule, || async {
            empty_bucket(&cx.aws.s3, bucket).await?;
            rule.judge_delete("DeleteBucket", bucket, cx.aws.s3.delete_bucket().bucket(bucket).send().await)
        })
        .await?;
        cx.forget(self.key)?;
        Ok(out)
    }

    pub async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let bucket = &self.name;
        Ok(vec![if bucket_exists(cx, bucket).await? {
            Inspection::new("s3:bucket", bucket, Some(bucket.clone()), "exists", true)
        } else {
            Inspection::missing("s3:bucket", bucket, cx.state.id(self.key))
        }])
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    /// S3 answers DeleteObjects with per-key errors (a key under legal hold,
    /// a denied delete); moto never does. Emptying stops and names the key
    /// instead of listing the same objects forever.
    #[tokio::test]
    async fn a_key_s3_will_not_delete_is_an_error_not_a_loop() {
        let list = mock!(aws_sdk_s3::Client::list_object_versions).then_output(|| {
            ListObjectVersionsOutput::builder()
                .versions(s3::ObjectVersion::builder().key("AWSLogs/1/x.json.gz").version_id("v1").build())
                .build()
        });
        let delete = mock!(aws_sdk_s3::Client::delete_objects).then_output(|| {
            DeleteObjectsOutput::builder()
                .errors(
                    s3::Error::builder()
                        .key("AWSLogs/1/x.json.gz")
                        .code("AccessDenied")
                        .message("Access Denied because object protected by object lock.")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &delete]);
        let e = empty_bucket(&client, "trail-bucket").await.unwrap_err();
        match e {
            StepError::Aws { op, resource, code, .. } => {
                assert_eq!((op.as_str(), code.as_str()), ("DeleteObjects", "AccessDenied"));
                assert_eq!(resource, "trail-bucket/AWSLogs/1/x.json.gz");
            }
            e => panic!("{e}"),
        }
        assert_eq!(delete.num_calls(), 1, "one attempt, no loop");
    }

    #[tokio::test]
    async fn an_empty_listing_ends_the_emptying() {
        let list = mock!(aws_sdk_s3::Client::list_object_versions)
            .sequence()
            .output(|| {
                ListObjectVersionsOutput::builder()
                    .delete_markers(s3::DeleteMarkerEntry::builder().key("k").version_id("m1").build())
                    .build()
            })
            .output(|| ListObjectVersionsOutput::builder().build())
            .build();
        let delete = mock!(aws_sdk_s3::Client::delete_objects).then_output(|| DeleteObjectsOutput::builder().build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &delete]);
        empty_bucket(&client, "b").await.unwrap();
        assert_eq!((list.num_calls(), delete.num_calls()), (2, 1));
    }
}
