//! Hardening and logs (issue 17) against the emulator, checked with
//! independent SDK reads: the WAF's request logs (us-east-1, cookies
//! redacted), the database's exported logs and their log groups, the file
//! system's policy (TLS, the task role through the access point), the daily
//! AWS Backup plan of the database and files, the load balancer's deletion
//! protection (and `down` turning it off), the log groups' encryption with
//! the stack's KMS keys, RDS enhanced monitoring and its role, a no-op `up`, and `down` leaving only what it
//! reports keeping.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_hardening_settings_are_in_place_and_down_cleans_up() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let global = sdk(&moto.url, "us-east-1").await;
    let ids = state_ids(&p.state_path());
    let state = read_state(&p.state_path());
    let attr = |k: &str, a: &str| state["resources"][k]["attrs"][a].as_str().unwrap().to_string();

    // WAF: request logs to aws-waf-logs-<stack> in us-east-1, cookie and
    // authorization headers redacted; the group keeps logs.waf_retention_days.
    let waf = aws_sdk_wafv2::Client::new(&global);
    let acl = ids["wafv2/web-acl"].clone();
    let lc = waf.get_logging_configuration().resource_arn(&acl).send().await.unwrap();
    let lc = lc.logging_configuration().unwrap();
    assert_eq!(lc.log_destination_configs(), ["arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-moodle"]);
    let mut redacted: Vec<&str> =
        lc.redacted_fields().iter().filter_map(|f| f.single_header()).map(|h| h.name()).collect();
    redacted.sort();
    assert_eq!(redacted, ["authorization", "cookie"]);
    let logs_global = aws_sdk_cloudwatchlogs::Client::new(&global);
    let g = logs_global.describe_log_groups().log_group_name_prefix("aws-waf-logs-moodle").send().await.unwrap();
    assert_eq!(g.log_groups()[0].retention_in_days(), Some(30));

    // RDS: error and slow-query logs exported, into groups created first with a retention.
    let rds = aws_sdk_rds::Client::new(&conf);
    let db = rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap();
    let mut exports = db.db_instances()[0].enabled_cloudwatch_logs_exports().to_vec();
    exports.sort();
    assert_eq!(exports, ["error", "slowquery"]);
    // ... and they say something: our parameter group turns the slow-query
    // log on and writes logs to files (RDS's default writes to a table the
    // export cannot read); it also refuses connections without TLS.
    let pg = db.db_instances()[0].db_parameter_groups()[0].db_parameter_group_name().unwrap().to_string();
    assert_eq!(pg, "moodle-db-params");
    let params = rds.describe_db_parameters().db_parameter_group_name(&pg).source("user").send().await.unwrap();
    let mut set: Vec<(&str, &str)> =
        params.parameters().iter().map(|p| (p.parameter_name().unwrap(), p.parameter_value().unwrap())).collect();
    set.sort();
    assert_eq!(
        set,
        [("log_output", "FILE"), ("long_query_time", "2"), ("require_secure_transport", "1"), ("slow_query_log", "1")]
    );
    let fam = rds.describe_db_parameter_groups().db_parameter_group_name(&pg).send().await.unwrap();
    assert_eq!(fam.db_parameter_groups()[0].db_parameter_group_family(), Some("mysql8.4"));
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let g = logs.describe_log_groups().log_group_name_prefix("/aws/rds/instance/moodle-db/").send().await.unwrap();
    let groups: Vec<(&str, Option<i32>)> =
        g.log_groups().iter().map(|g| (g.log_group_name().unwrap(), g.retention_in_days())).collect();
    assert_eq!(
        groups,
        [("/aws/rds/instance/moodle-db/error", Some(30)), ("/aws/rds/instance/moodle-db/slowquery", Some(30))]
    );

    // EFS: plain NFS refused, and only the task role, through the access point, mounts and writes.
    let efs = aws_sdk_efs::Client::new(&conf);
    let fs = ids["efs/file-system"].clone();
    let pol = efs.describe_file_system_policy().file_system_id(&fs).send().await.unwrap();
    let pol: serde_json::Value = serde_json::from_str(pol.policy().unwrap()).unwrap();
    let st = pol["Statement"].as_array().unwrap();
    assert!(st.iter().any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"));
    let allow = st.iter().find(|s| s["Effect"] == "Allow").unwrap();
    assert_eq!(allow["Principal"]["AWS"], attr("iam-role/task", "arn"));
    assert_eq!(allow["Action"], serde_json::json!(["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]));
    assert_eq!(allow["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"], attr("efs/access-point", "arn"));
    // The tasks mount with IAM authorization and TLS, which the policy requires.
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let td = ecs.describe_task_definition().task_definition(&ids["ecs/task-definition"]).send().await.unwrap();
    let vol = td.task_definition().unwrap().volumes()[0].efs_volume_configuration().unwrap().clone();
    assert_eq!(vol.transit_encryption().map(|t| t.as_str()), Some("ENABLED"));
    assert_eq!(vol.authorization_config().unwrap().iam().map(|i| i.as_str()), Some("ENABLED"));

    // AWS Backup: a daily plan into the stack's vault, kept 35 days, covering the database and the files.
    let backup = aws_sdk_backup::Client::new(&conf);
    let plan = ids["backup/plan"].clone();
    let bp = backup.get_backup_plan().backup_plan_id(&plan).send().await.unwrap();
    let rule = bp.backup_plan().unwrap().rules()[0].clone();
    assert_eq!(rule.target_backup_vault_name(), "moodle-backups");
    assert_eq!(rule.schedule_expression(), Some("cron(0 3 * * ? *)"));
    assert_eq!(rule.lifecycle().and_then(|l| l.delete_after_days()), Some(35));
    let sels = backup.list_backup_selections().backup_plan_id(&plan).send().await.unwrap();
    assert_eq!(sels.backup_selections_list().len(), 1);
    let sid = sels.backup_selections_list()[0].selection_id().unwrap();
    let sel = backup.get_backup_selection().backup_plan_id(&plan).selection_id(sid).send().await.unwrap();
    let sel = sel.backup_selection().unwrap();
    let mut res = sel.resources().to_vec();
    res.sort();
    let fs_arn = format!("arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/{fs}");
    assert_eq!(res, [fs_arn, attr("rds/instance", "arn")]);
    assert_eq!(sel.iam_role_arn(), attr("iam-role/backup", "arn"));

    // The load balancer is protected by default and refuses deletion (the
    // emulator, as AWS); `down` turns the protection off first.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let alb = ids["elbv2/alb"].clone();
    let e = elb.delete_load_balancer().load_balancer_arn(&alb).send().await.unwrap_err();
    assert_eq!(aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata::code(&e), Some("OperationNotPermitted"));

    // Each tier's group is worn by the network interfaces its service placed
    // in the VPC (requester-managed, as on AWS), and EC2 refuses to delete a
    // group in use — which `down` below has to wait out in the right order.
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    for (key, owner) in [
        ("sg/db", "RDSNetworkInterface"),
        ("sg/cache", "ElastiCache "),
        ("sg/endpoints", "VPC Endpoint Interface "),
        ("sg/alb", "ELB app/moodle-alb/"),
    ] {
        let worn = aws_sdk_ec2::types::Filter::builder().name("group-id").values(&ids[key]).build();
        let enis = ec2.describe_network_interfaces().filters(worn).send().await.unwrap();
        let enis = enis.network_interfaces();
        assert!(!enis.is_empty(), "no network interface wears {key}");
        for n in enis {
            assert!(n.description().unwrap_or_default().starts_with(owner), "{key}: {:?}", n.description());
            assert_eq!(n.requester_managed(), Some(true), "{key}");
        }
        let e = ec2.delete_security_group().group_id(&ids[key]).send().await.unwrap_err();
        assert_eq!(aws_sdk_ec2::error::ProvideErrorMetadata::code(&e), Some("DependencyViolation"), "{key}");
    }

    // What the emulator refuses, as AWS: access logs to a bucket whose policy
    // does not let the region's ELB account write; an alarm notifying a topic
    // of another region.
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build());
    s3.create_bucket()
        .bucket("no-policy")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let bad = |k: &str, v: &str| {
        aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder().key(k).value(v).build()
    };
    let e = elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(&alb)
        .attributes(bad("access_logs.s3.bucket", "no-policy"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata::code(&e),
        Some("InvalidConfigurationRequest")
    );
    let cw = aws_sdk_cloudwatch::Client::new(&global);
    let e = cw
        .put_metric_alarm()
        .alarm_name("cross-region")
        .namespace("AWS/CloudFront")
        .metric_name("5xxErrorRate")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .alarm_actions(ids["sns/rds-events"].clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&e), Some("ValidationError"));
    // The audit bucket's server access logs go to the logs bucket, which
    // lets S3's log delivery write there for that bucket only; a target
    // whose policy does not is refused (the emulator, as AWS).
    let audit = ids["s3/cloudtrail-bucket"].clone();
    let logs_bucket = ids["s3/logs-bucket"].clone();

    // The trail's log files are encrypted with the audit key,
    // whose policy lets CloudTrail generate data keys only as this trail; a
    // key whose policy does not admit CloudTrail is refused (the emulator, as
    // AWS: InsufficientEncryptionPolicyException).
    let kms = aws_sdk_kms::Client::new(&conf);
    let key = kms.describe_key().key_id("alias/moodle-audit").send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let ct = aws_sdk_cloudtrail::Client::new(&conf);
    let trail = ct.describe_trails().trail_name_list("moodle-trail").send().await.unwrap().trail_list()[0].clone();
    assert_eq!(trail.kms_key_id(), Some(key_arn.as_str()));
    let kp = kms.get_key_policy().key_id(&key_arn).policy_name("default").send().await.unwrap();
    let kp: serde_json::Value = serde_json::from_str(kp.policy().unwrap()).unwrap();
    let enc = kp["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "CloudTrailEncryptsLogs").unwrap();
    assert_eq!(enc["Principal"]["Service"], "cloudtrail.amazonaws.com");
    assert_eq!(enc["Action"], "kms:GenerateDataKey*");
    assert_eq!(enc["Condition"]["StringEquals"]["aws:SourceArn"], trail.trail_arn().unwrap());
    // The bucket's default stays SSE-S3 (the fallback for a write without its
    // own encryption; CloudTrail encrypts its files with the key itself).
    let sse = s3.get_bucket_encryption().bucket(&audit).send().await.unwrap();
    let rule = sse.server_side_encryption_configuration().unwrap().rules()[0].clone();
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(by_default.sse_algorithm(), &aws_sdk_s3::types::ServerSideEncryption::Aes256);
    let other = kms.create_key().send().await.unwrap().key_metadata().unwrap().arn().unwrap().to_string();
    let e = ct.update_trail().name("moodle-trail").kms_key_id(&other).send().await.unwrap_err();
    assert_eq!(
        aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(&e),
        Some("InsufficientEncryptionPolicyException")
    );
    kms.schedule_key_deletion().key_id(&other).pending_window_in_days(7).send().await.unwrap();
    // Out of band the trail loses its key (an empty KmsKeyId): `status` names
    // the drift, and `up` puts the key back with one UpdateTrail.
    ct.update_trail().name("moodle-trail").kms_key_id("").send().await.unwrap();
    let (out, _) = p.expect(&["status", "-o", "json"], 4);
    assert!(out.contains("log files not encrypted with the audit key"), "{out}");
    assert_eq!(p.up_mutating(&moto), vec!["UpdateTrail".to_string()]);
    let trail = ct.describe_trails().trail_name_list("moodle-trail").send().await.unwrap().trail_list()[0].clone();
    assert_eq!(trail.kms_key_id(), Some(key_arn.as_str()));
    // CloudTrail accepts the bucket only while its policy lets this trail
    // check the ACL and write under AWSLogs/<account>/ (the emulator, as
    // AWS: InsufficientS3BucketPolicyException): not for another trail's
    // ARN, not without the write statement. `up` puts the policy back.
    let bp = s3.get_bucket_policy().bucket(&audit).send().await.unwrap();
    let bp: serde_json::Value = serde_json::from_str(bp.policy().unwrap()).unwrap();
    let insufficient = |doc: serde_json::Value| {
        let (s3, ct, audit) = (s3.clone(), ct.clone(), audit.clone());
        async move {
            s3.put_bucket_policy().bucket(&audit).policy(doc.to_string()).send().await.unwrap();
            let e = ct.update_trail().name("moodle-trail").s3_bucket_name(&audit).send().await.unwrap_err();
            aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(&e).map(str::to_string)
        }
    };
    let other_trail = bp.to_string().replace("trail/moodle-trail", "trail/other-trail");
    let refused = Some("InsufficientS3BucketPolicyException".to_string());
    assert_eq!(insufficient(serde_json::from_str(&other_trail).unwrap()).await, refused);
    let mut no_write = bp.clone();
    no_write["Statement"].as_array_mut().unwrap().retain(|s| s["Sid"] != "CloudTrailWrite");
    assert_eq!(insufficient(no_write).await, refused);
    let restored = p.up_mutating(&moto);
    assert!(restored.len() == 1 && restored[0].ends_with(&format!("/{audit}/?policy")), "{restored:?}");
    ct.update_trail().name("moodle-trail").s3_bucket_name(&audit).send().await.unwrap();
    let lg = s3.get_bucket_logging().bucket(&audit).send().await.unwrap();
    let lg = lg.logging_enabled().unwrap();
    assert_eq!((lg.target_bucket(), lg.target_prefix()), (logs_bucket.as_str(), "s3-access/cloudtrail/"));
    let lp = s3.get_bucket_policy().bucket(&logs_bucket).send().await.unwrap();
    let lp: serde_json::Value = serde_json::from_str(lp.policy().unwrap()).unwrap();
    let st =
        lp["Statement"].as_array().unwrap().iter().find(|s| s["Principal"]["Service"] == "logging.s3.amazonaws.com");
    let st = st.unwrap_or_else(|| panic!("{lp}"));
    assert_eq!(st["Resource"], format!("arn:aws:s3:::{logs_bucket}/s3-access/cloudtrail/*"));
    assert_eq!(st["Condition"]["ArnLike"]["aws:SourceArn"], format!("arn:aws:s3:::{audit}"));
    assert!(s3.get_bucket_logging().bucket(&logs_bucket).send().await.unwrap().logging_enabled().is_none());
    let to_no_policy = aws_sdk_s3::types::BucketLoggingStatus::builder()
        .logging_enabled(
            aws_sdk_s3::types::LoggingEnabled::builder()
                .target_bucket("no-policy")
                .target_prefix("x/")
                .build()
                .unwrap(),
        )
        .build();
    let e = s3.put_bucket_logging().bucket(&audit).bucket_logging_status(to_no_policy).send().await.unwrap_err();
    assert_eq!(aws_sdk_s3::error::ProvideErrorMetadata::code(&e), Some("InvalidTargetBucketForLogging"));
    s3.delete_bucket().bucket("no-policy").send().await.unwrap();

    // VPC endpoints (the S3 gateway and the four interface endpoints) admit
    // only this account's principals, not AWS's allow-all default.
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let stack = aws_sdk_ec2::types::Filter::builder().name("tag:moodlectl:stack").values("moodle").build();
    let eps = ec2.describe_vpc_endpoints().filters(stack).send().await.unwrap();
    assert_eq!(eps.vpc_endpoints().len(), 5);
    for e in eps.vpc_endpoints() {
        let pol: serde_json::Value = serde_json::from_str(e.policy_document().unwrap()).unwrap();
        let st = &pol["Statement"][0];
        assert_eq!((st["Effect"].as_str(), st["Principal"].as_str()), (Some("Allow"), Some("*")), "{pol}");
        assert_eq!(st["Condition"]["StringEquals"]["aws:PrincipalAccount"], "123456789012", "{pol}");
    }

    // Log groups: every one of the stack (4 in its region, the WAF's in
    // us-east-1) is encrypted with the stack's KMS key of its region, whose
    // policy admits CloudWatch Logs for this account's log groups only.
    let key_of = |c: &aws_config::SdkConfig| {
        let kms = aws_sdk_kms::Client::new(c);
        async move {
            let k = kms.describe_key().key_id("alias/moodle-alerts").send().await.unwrap();
            let arn = k.key_metadata().unwrap().arn().unwrap().to_string();
            let pol = kms.get_key_policy().key_id(&arn).policy_name("default").send().await.unwrap();
            (arn, serde_json::from_str::<serde_json::Value>(pol.policy().unwrap()).unwrap())
        }
    };
    let (key, pol) = key_of(&conf).await;
    let (key_global, pol_global) = key_of(&global).await;
    assert_ne!(key, key_global);
    for (pol, region) in [(&pol, REGION), (&pol_global, "us-east-1")] {
        let st = pol["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "LogGroupsEncrypt").unwrap();
        assert_eq!(st["Principal"]["Service"], format!("logs.{region}.amazonaws.com"), "{pol}");
        assert_eq!(
            st["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"],
            format!("arn:aws:logs:{region}:123456789012:log-group:*"),
            "{pol}"
        );
    }
    let regional = logs.describe_log_groups().send().await.unwrap();
    let encrypted: Vec<(&str, Option<&str>)> =
        regional.log_groups().iter().map(|g| (g.log_group_name().unwrap(), g.kms_key_id())).collect();
    // Container, flow-log, the database's two and the trail's copy.
    assert_eq!(encrypted.len(), 5, "{encrypted:?}");
    assert!(encrypted.iter().all(|(_, k)| *k == Some(key.as_str())), "{encrypted:?}");
    let g = logs_global.describe_log_groups().log_group_name_prefix("aws-waf-logs-moodle").send().await.unwrap();
    assert_eq!(g.log_groups()[0].kms_key_id(), Some(key_global.as_str()));
    // The emulator refuses, as AWS, a key whose policy does not admit
    // CloudWatch Logs, and a key of another region.
    let other = aws_sdk_kms::Client::new(&conf).create_key().send().await.unwrap();
    let other = other.key_metadata().unwrap().arn().unwrap().to_string();
    let code = |e: &aws_sdk_cloudwatchlogs::error::SdkError<_, _>| {
        aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata::code(e).map(str::to_string)
    };
    let e = logs.create_log_group().log_group_name("no-key-policy").kms_key_id(&other).send().await.unwrap_err();
    assert_eq!(code(&e).as_deref(), Some("AccessDeniedException"));
    let e = logs.create_log_group().log_group_name("wrong-region").kms_key_id(&key_global).send().await.unwrap_err();
    assert_eq!(code(&e).as_deref(), Some("InvalidParameterException"));
    // A group without the key (as stacks built before this change have it):
    // `status` reports the drift and `up` associates the key.
    logs.disassociate_kms_key().log_group_name("/moodlectl/moodle/moodle").send().await.unwrap();
    confirm_alert_email(&moto.url);
    let (st, _) = p.expect(&["status", "-o", "json"], 4);
    assert!(st.contains("not encrypted with the stack's KMS key"), "{st}");
    assert_eq!(p.up_mutating(&moto), ["AssociateKmsKey"]);
    let g = logs.describe_log_groups().log_group_name_prefix("/moodlectl/moodle/moodle").send().await.unwrap();
    assert_eq!(g.log_groups()[0].kms_key_id(), Some(key.as_str()));

    // RDS enhanced monitoring every 60 s, as a role trusting only
    // monitoring.rds.amazonaws.com for this account.
    let inst = rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap();
    let inst = inst.db_instances()[0].clone();
    assert_eq!(inst.monitoring_interval(), Some(60));
    let em = inst.enhanced_monitoring_resource_arn().unwrap_or_default();
    assert!(em.starts_with("arn:aws:logs:ap-southeast-1:123456789012:log-group:RDSOSMetrics:log-stream:"), "{em}");
    assert_eq!(inst.monitoring_role_arn(), Some(attr("iam-role/rds-monitoring", "arn").as_str()));
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = iam.get_role().role_name("moodle-rds-monitoring").send().await.unwrap();
    let trust = role.role().unwrap().assume_role_policy_document().unwrap();
    let trust: serde_json::Value = iam_policy(trust);
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], "monitoring.rds.amazonaws.com");
    assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
    // The emulator refuses, as AWS, an interval without a role and a role
    // RDS may not assume.
    let modify = || rds.modify_db_instance().db_instance_identifier("moodle-db").apply_immediately(true);
    let e = rds
        .create_db_instance()
        .db_instance_identifier("no-role")
        .db_instance_class("db.t4g.micro")
        .engine("mysql")
        .monitoring_interval(60)
        .send()
        .await
        .unwrap_err();
    assert_eq!(aws_sdk_rds::error::ProvideErrorMetadata::code(&e), Some("InvalidParameterCombination"));
    let e =
        modify().monitoring_interval(30).monitoring_role_arn(attr("iam-role/task", "arn")).send().await.unwrap_err();
    assert_eq!(aws_sdk_rds::error::ProvideErrorMetadata::code(&e), Some("InvalidParameterValue"));
    // Turned off in the config: `up` modifies the instance in place.
    p.edit_config("monitoring_interval_seconds = 60", "monitoring_interval_seconds = 0");
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(plan.contains("monitoring_interval_seconds: 60 → 0"), "{plan}");
    p.expect(&["up", "--yes"], 0);
    let inst = rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap();
    assert_eq!(inst.db_instances()[0].monitoring_interval(), Some(0));
    p.edit_config("monitoring_interval_seconds = 0", "monitoring_interval_seconds = 60");
    p.expect(&["up", "--yes"], 0);

    // TLS to the database: the parameter group refuses clear connections and
    // the tasks are told to connect with TLS. Turning it off and on again on
    // a running site keeps the order that never cuts off a task: off = the
    // server first, then the tasks; on = the tasks first, then the server.
    let secure = || async {
        let p = rds.describe_db_parameters().db_parameter_group_name("moodle-db-params").source("user").send().await;
        let p = p.unwrap();
        let v = p.parameters().iter().find(|p| p.parameter_name() == Some("require_secure_transport"));
        v.and_then(|p| p.parameter_value()).map(str::to_string)
    };
    let tls_env = || async { container_env(&service_task_definition(&conf).await, "MOODLE_DATABASE_TLS") };
    assert_eq!(secure().await.as_deref(), Some("1"));
    assert_eq!(tls_env().await.as_deref(), Some("true"));
    // Every `a` before the first `b`.
    let order = |ops: &[String], a: &str, b: &str| {
        let (last_a, first_b) = (ops.iter().rposition(|o| o == a), ops.iter().position(|o| o == b));
        assert!(last_a.is_some() && first_b.is_some() && last_a < first_b, "{a} before {b}: {ops:?}");
    };
    p.edit_config("require_tls = true", "require_tls = false");
    let ops = p.up_mutating(&moto);
    order(&ops, "ModifyDBParameterGroup", "UpdateService");
    assert_eq!((secure().await.as_deref(), tls_env().await.as_deref()), (Some("0"), Some("false")));
    p.edit_config("require_tls = false", "require_tls = true");
    let ops = p.up_mutating(&moto);
    order(&ops, "UpdateService", "ModifyDBParameterGroup");
    assert_eq!((secure().await.as_deref(), tls_env().await.as_deref()), (Some("1"), Some("true")));

    // The read-only root is a setting (ECS Exec needs it off): turned off, a
    // new task definition revision with a writable root; back on, read-only.
    let readonly =
        || async { service_task_definition(&conf).await.container_definitions()[0].readonly_root_filesystem() };
    assert_eq!(readonly().await, Some(true));
    p.edit_config("readonly_root_filesystem = true", "readonly_root_filesystem = false");
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(plan.contains("readonly_root=off"), "{plan}");
    p.expect(&["up", "--yes"], 0);
    assert_eq!(readonly().await, Some(false));
    p.edit_config("readonly_root_filesystem = false", "readonly_root_filesystem = true");
    p.expect(&["up", "--yes"], 0);
    assert_eq!(readonly().await, Some(true));

    // Converged: a second up changes nothing; status is healthy with every new row.
    assert!(p.up_mutating(&moto).is_empty(), "no-op up");
    confirm_alert_email(&moto.url);
    let (st, _) = p.expect(&["status", "-o", "json"], 0);
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    let kinds: Vec<&str> = st["resources"].as_array().unwrap().iter().filter_map(|r| r["kind"].as_str()).collect();
    for k in ["wafv2:logging", "efs:file-system-policy", "backup:plan", "kms:key", "rds:parameter-group"] {
        assert!(kinds.contains(&k), "status lacks {k}: {kinds:?}");
    }

    // down turns deletion protection off first and removes everything but what it reports keeping.
    let (out, err) = p.expect(&["down", "--yes", "--skip-final-snapshot", "--force-delete-secrets"], 0);
    let err = format!("{out}{err}");
    assert_eq!(census(&moto.url).await, empty_stack());
    assert!(err.contains("kept: access-logs bucket"), "{err}");
    assert!(err.contains("kept: KMS key"), "{err}");
    assert!(err.contains("pending deletion") || err.contains("until its deletion"), "{err}");
    // The audit key stays with the logs it encrypts, enabled, and says so;
    // `--delete-logs` schedules its deletion with the buckets.
    assert!(err.contains("that encrypts the kept audit logs"), "{err}");
    let state = |k: &aws_sdk_kms::operation::describe_key::DescribeKeyOutput| {
        k.key_metadata().unwrap().key_state().unwrap().as_str().to_string()
    };
    assert_eq!(state(&kms.describe_key().key_id(&key_arn).send().await.unwrap()), "Enabled");
    p.expect(&["down", "--yes", "--delete-logs"], 0);
    assert_eq!(state(&kms.describe_key().key_id(&key_arn).send().await.unwrap()), "PendingDeletion");
}

// Needs the crash hook: built with `--features test-hooks` (scripts/test.sh).
#[cfg(feature = "test-hooks")]
#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_create_key_and_its_alias_makes_no_second_key() {
    use std::os::unix::process::ExitStatusExt;
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    let o = p.run_env(&["up", "--yes"], &[("MOODLECTL_CRASH_AFTER_OP", "CreateKey")]);
    assert_eq!(o.status.signal(), Some(9));
    p.expect(&["up", "--yes"], 0);
    // Independent reads: one key per alias (the alert key in each region, the
    // audit key in the stack's), each behind its alias, none without.
    for (region, aliases) in
        [(REGION, &["alias/moodle-alerts", "alias/moodle-audit"][..]), ("us-east-1", &["alias/moodle-alerts"])]
    {
        let kms = aws_sdk_kms::Client::new(&sdk(&moto.url, region).await);
        let keys = kms.list_keys().send().await.unwrap();
        let mut ids: Vec<&str> = keys.keys().iter().filter_map(|k| k.key_id()).collect();
        ids.sort();
        let mut behind = vec![];
        for a in aliases {
            let by_alias = kms.describe_key().key_id(*a).send().await.unwrap();
            behind.push(by_alias.key_metadata().unwrap().key_id().to_string());
        }
        behind.sort();
        assert_eq!(ids, behind, "{region}");
    }
    p.expect(&["down", "--yes", "--skip-final-snapshot", "--force-delete-secrets"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}
