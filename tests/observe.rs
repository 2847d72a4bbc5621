//! The observe tier against the emulator, checked with independent SDK
//! reads: every alarm with its metric, threshold and actions (CloudFront's
//! in us-east-1), the dashboard, thresholds from the config, `status`
//! reporting an alarm another client set to ALARM, and `down` removing them.

mod common;
use common::*;

use std::collections::BTreeMap;

const PREFIX: &str = "moodle-alarm-";

/// The security event classes (CIS AWS Foundations' monitoring section).
const SECURITY: [&str; 15] = [
    "unauthorized-api-calls",
    "console-sign-in-without-mfa",
    "root-usage",
    "iam-policy-changes",
    "cloudtrail-changes",
    "console-sign-in-failures",
    "kms-key-disabled-or-deleted",
    "s3-bucket-policy-changes",
    "config-changes",
    "security-group-changes",
    "network-acl-changes",
    "network-gateway-changes",
    "route-table-changes",
    "vpc-changes",
    "organizations-changes",
];

async fn alarms(conf: &aws_config::SdkConfig) -> BTreeMap<String, aws_sdk_cloudwatch::types::MetricAlarm> {
    let mut out = BTreeMap::new();
    for region in [REGION, "us-east-1"] {
        let cw = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(conf)
                .region(aws_sdk_cloudwatch::config::Region::new(region))
                .build(),
        );
        let o = cw.describe_alarms().alarm_name_prefix(PREFIX).send().await.unwrap();
        for a in o.metric_alarms() {
            out.insert(format!("{region}/{}", a.alarm_name().unwrap()), a.clone());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn alarms_and_dashboard_watch_every_tier_and_status_reports_an_alarm() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let ids = state_ids(&p.state_path());
    let topic = ids["sns/rds-events"].clone();
    let all = alarms(&conf).await;
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    let mut want: Vec<String> = [
        "alb-5xx-rate",
        "target-5xx",
        "unhealthy-targets",
        "response-time-p95",
        "ecs-cpu",
        "ecs-memory",
        "web-running",
        "cron-running",
        "efs-io-limit",
        "rds-cpu",
        "rds-memory",
        "rds-connections",
        "rds-storage",
        "redis-memory-1",
        "redis-evictions-1",
        "redis-cpu-1",
        "redis-memory-2",
        "redis-evictions-2",
        "redis-cpu-2",
    ]
    .iter()
    .map(|s| format!("{REGION}/{PREFIX}{s}"))
    .collect();
    want.push(format!("us-east-1/{PREFIX}cloudfront-5xx"));
    want.extend(SECURITY.iter().map(|s| format!("{REGION}/{PREFIX}security-{s}")));
    want.sort();
    assert_eq!(names, want.iter().map(String::as_str).collect::<Vec<_>>());
    // CloudFront's alarm lives in us-east-1, and an alarm may only notify a
    // topic of its own region: a us-east-1 twin of the alert topic.
    let global_topic = ids["sns/alerts-us-east-1"].clone();
    assert!(global_topic.starts_with("arn:aws:sns:us-east-1:"), "{global_topic}");
    for (name, a) in &all {
        // Every alarm tells the alert topic when it fires and when it clears.
        let t = if name.starts_with("us-east-1/") { &global_topic } else { &topic };
        assert_eq!((a.alarm_actions(), a.ok_actions()), (&[t.clone()][..], &[t.clone()][..]), "{name}");
        // A security event fires on its first 5 minutes; the rest after 10.
        let periods = if name.contains("-security-") { 1 } else { 2 };
        assert_eq!(a.evaluation_periods(), Some(periods), "{name}: 5-minute periods");
    }
    // Both topics are encrypted with a key of ours in their region (the
    // AWS-managed SNS key would drop alarms and RDS events), rotation on, and
    // mail the alert address.
    let global = sdk(&moto.url, "us-east-1").await;
    for (c, arn) in [(&conf, &topic), (&global, &global_topic)] {
        let sns = aws_sdk_sns::Client::new(c);
        let attrs = sns.get_topic_attributes().topic_arn(arn).send().await.unwrap();
        let key = attrs.attributes().unwrap()["KmsMasterKeyId"].clone();
        let kms = aws_sdk_kms::Client::new(c);
        let meta = kms.describe_key().key_id(&key).send().await.unwrap().key_metadata().unwrap().clone();
        assert_eq!(meta.key_manager().map(|m| m.as_str()), Some("CUSTOMER"), "{arn}");
        assert!(kms.get_key_rotation_status().key_id(meta.key_id()).send().await.unwrap().key_rotation_enabled());
        let policy = kms.get_key_policy().key_id(meta.key_id()).policy_name("default").send().await.unwrap();
        let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        let services = &policy["Statement"][1]["Principal"]["Service"];
        assert_eq!(services, &serde_json::json!(["cloudwatch.amazonaws.com", "events.rds.amazonaws.com"]));
        let subs = sns.list_subscriptions_by_topic().topic_arn(arn).send().await.unwrap();
        assert_eq!(subs.subscriptions()[0].endpoint(), Some("user@example.com"), "{arn}");
    }
    let a = |s: &str| all[&format!("{REGION}/{PREFIX}{s}")].clone();
    let rate = a("alb-5xx-rate");
    let expr: Vec<&str> = rate.metrics().iter().filter_map(|q| q.expression()).collect();
    assert_eq!((expr, rate.threshold()), (vec!["100*m1/m2"], Some(5.0)));
    let t5 = a("target-5xx");
    assert_eq!(
        (t5.metric_name(), t5.namespace(), t5.threshold()),
        (Some("HTTPCode_Target_5XX_Count"), Some("AWS/ApplicationELB"), Some(25.0))
    );
    let tg_arn = ids["elbv2/target-group"].clone();
    let tg_dim = t5.dimensions().iter().find(|d| d.name() == Some("TargetGroup")).and_then(|d| d.value()).unwrap();
    assert!(tg_arn.ends_with(tg_dim), "{tg_dim} names {tg_arn}");
    assert_eq!(a("response-time-p95").extended_statistic(), Some("p95"));
    let running = a("web-running");
    assert_eq!(
        (running.metric_name(), running.threshold(), running.treat_missing_data()),
        (Some("RunningTaskCount"), Some(1.0), Some("breaching"))
    );
    let cron = a("cron-running");
    assert!(cron.dimensions().iter().any(|d| d.value() == Some("moodle-cron")));
    let storage = a("rds-storage");
    assert_eq!(storage.threshold(), Some(10.0 * 1024.0 * 1024.0 * 1024.0));
    let redis = a("redis-evictions-2");
    assert_eq!(redis.dimensions()[0].value(), Some(format!("{}-002", ids["elasticache/replication-group"]).as_str()));
    let cf = &all[&format!("us-east-1/{PREFIX}cloudfront-5xx")];
    assert!(cf.dimensions().iter().any(|d| d.name() == Some("Region") && d.value() == Some("Global")));

    // The dashboard: the same metrics, a header per tier; its URL in `outputs`.
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let d = cw.get_dashboard().dashboard_name("moodle").send().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(d.dashboard_body().unwrap()).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    let headers: Vec<&str> = widgets.iter().filter_map(|w| w["properties"]["markdown"].as_str()).collect();
    assert_eq!(headers.len(), 4, "{headers:?}");
    assert_eq!(widgets.iter().filter(|w| w["type"] == "metric").count(), all.len());
    let (out, _) = p.expect(&["outputs"], 0);
    assert!(out.contains("#dashboards/dashboard/moodle"), "{out}");

    assert!(p.up_mutating(&moto).is_empty(), "a no-op up");

    // A threshold from the config: one alarm and the dashboard's line change.
    p.edit_config("rds_cpu_percent = 85", "rds_cpu_percent = 70");
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(plan.contains("observe.alarms") && plan.contains("moodle-alarm-rds-cpu: update"), "{plan}");
    let mut m = p.up_mutating(&moto);
    m.sort();
    assert_eq!(m, ["PutDashboard", "PutMetricAlarm"]);
    assert_eq!(alarms(&conf).await[&format!("{REGION}/{PREFIX}rds-cpu")].threshold(), Some(70.0));

    // An alarm set off by another client: `status` shows it and exits 4.
    confirm_alert_email(&moto.url);
    p.expect(&["status"], 0);
    let state = aws_sdk_cloudwatch::types::StateValue::Alarm;
    cw.set_alarm_state()
        .alarm_name(format!("{PREFIX}rds-cpu"))
        .state_value(state)
        .state_reason("test: CPU at 99%")
        .send()
        .await
        .unwrap();
    let (out, _) = p.expect(&["status", "-o", "json"], 4);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row =
        doc["resources"].as_array().unwrap().iter().find(|r| r["name"] == "moodle-alarm-rds-cpu").unwrap().clone();
    assert_eq!((row["state"].as_str(), row["healthy"].as_bool()), (Some("ALARM"), Some(false)), "{row}");
    assert_eq!(row["tier"], "observe");
    let (table, _) = p.expect(&["status"], 4);
    assert!(table.contains("moodle-alarm-rds-cpu") && table.contains("ALARM"), "{table}");

    p.expect(&["down", "--yes"], 0);
    assert!(alarms(&conf).await.is_empty(), "down deletes every alarm, both regions");
    assert!(cw.get_dashboard().dashboard_name("moodle").send().await.is_err(), "and the dashboard");
    assert_eq!(census(&moto.url).await, empty_stack());
}

#[test]
fn a_bad_threshold_is_refused_before_any_call() {
    let p = Project::bare("http://127.0.0.1:9");
    p.edit_config("redis_memory_percent = 80", "redis_memory_percent = 150");
    p.edit_config("evaluation_minutes = 10", "evaluation_minutes = 7");
    let (_, err) = p.expect(&["plan"], 2);
    assert!(err.contains("alarms.redis_memory_percent") && err.contains("between 0 and 100"), "{err}");
    assert!(err.contains("alarms.evaluation_minutes"), "{err}");
}

/// The trail's security events: CloudTrail delivers to its CloudWatch Logs
/// group as a role that trusts it for this account; one metric filter per
/// event class feeds one alarm; a filter deleted behind moodlectl's back is
/// drift, put back alone; `security = false` takes them all away and stops
/// the delivery. Independent SDK reads throughout; the emulator refuses
/// what CloudTrail and CloudWatch Logs refuse.
#[tokio::test(flavor = "multi_thread")]
async fn security_events_reach_an_alarm_through_the_trails_cloudwatch_logs() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let group = "/moodlectl/moodle/cloudtrail";
    let trail = aws_sdk_cloudtrail::Client::new(&conf);
    let t = trail.describe_trails().trail_name_list("moodle-trail").send().await.unwrap().trail_list()[0].clone();
    let group_arn = format!("arn:aws:logs:{REGION}:123456789012:log-group:{group}:*");
    assert_eq!(t.cloud_watch_logs_log_group_arn(), Some(group_arn.as_str()));
    let role_arn = t.cloud_watch_logs_role_arn().unwrap().to_string();
    assert!(role_arn.ends_with(":role/moodle-cloudtrail-logs"), "{role_arn}");
    let status = trail.get_trail_status().name("moodle-trail").send().await.unwrap();
    assert!(status.latest_cloud_watch_logs_delivery_time().is_some(), "the trail delivers to CloudWatch Logs");
    // The role: CloudTrail (no source condition: CloudTrail passes none for
    // this role), the trail's streams of this group only.
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = iam.get_role().role_name("moodle-cloudtrail-logs").send().await.unwrap().role().unwrap().clone();
    let trust = iam_policy(role.assume_role_policy_document().unwrap());
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], "cloudtrail.amazonaws.com");
    assert!(trust["Statement"][0].get("Condition").is_none(), "{trust}");
    let policy = iam.get_role_policy().role_name("moodle-cloudtrail-logs").policy_name("cloudtrail-to-cloudwatch-logs");
    let policy = iam_policy(policy.send().await.unwrap().policy_document());
    assert_eq!(policy["Statement"][0]["Action"], serde_json::json!(["logs:CreateLogStream", "logs:PutLogEvents"]));
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!("arn:aws:logs:{REGION}:*:log-group:{group}:log-stream:*_CloudTrail_*")
    );
    // The group: the stack's key, a year (as the audit bucket).
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let g = logs.describe_log_groups().log_group_name_prefix(group).send().await.unwrap().log_groups()[0].clone();
    assert_eq!(g.retention_in_days(), Some(365));
    assert!(g.kms_key_id().is_some_and(|k| k.starts_with(&format!("arn:aws:kms:{REGION}:"))), "{g:?}");
    // One filter per class, each counting into a metric an alarm watches.
    let filters = logs.describe_metric_filters().log_group_name(group).send().await.unwrap().metric_filters().to_vec();
    let mut names: Vec<&str> = filters.iter().filter_map(|f| f.filter_name()).collect();
    names.sort();
    let mut want: Vec<String> = SECURITY.iter().map(|s| format!("moodle-security-{s}")).collect();
    want.sort();
    assert_eq!(names, want);
    let cw = alarms(&conf).await;
    for f in &filters {
        let suffix = f.filter_name().unwrap().trim_start_matches("moodle-security-");
        let m = &f.metric_transformations()[0];
        assert_eq!(
            (m.metric_namespace(), m.metric_name(), m.metric_value()),
            ("Moodlectl/Security", format!("moodle-{suffix}").as_str(), "1")
        );
        let a = &cw[&format!("{REGION}/{PREFIX}security-{suffix}")];
        assert_eq!((a.namespace(), a.metric_name()), (Some("Moodlectl/Security"), Some(m.metric_name())), "{suffix}");
        assert_eq!((a.threshold(), a.evaluation_periods(), a.period()), (Some(1.0), Some(1), Some(300)), "{suffix}");
        assert_eq!(a.comparison_operator().map(|c| c.as_str()), Some("GreaterThanOrEqualToThreshold"));
        assert_eq!(a.treat_missing_data(), Some("notBreaching"), "{suffix}: no event, no alarm");
    }
    let pattern = |s: &str| {
        filters
            .iter()
            .find(|f| f.filter_name() == Some(&format!("moodle-security-{s}")))
            .unwrap()
            .filter_pattern()
            .unwrap()
            .to_string()
    };
    assert!(pattern("root-usage").contains("$.userIdentity.type = \"Root\""), "{}", pattern("root-usage"));
    assert!(pattern("security-group-changes").contains("($.eventName = \"AuthorizeSecurityGroupIngress\")"));

    assert!(p.up_mutating(&moto).is_empty(), "a no-op up");

    // A filter deleted behind moodlectl's back: drift, and only it comes back.
    confirm_alert_email(&moto.url);
    p.expect(&["status"], 0);
    logs.delete_metric_filter().log_group_name(group).filter_name("moodle-security-root-usage").send().await.unwrap();
    let (out, _) = p.expect(&["status", "-o", "json"], 4);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = doc["resources"].as_array().unwrap();
    let row = rows.iter().find(|r| r["name"] == "moodle-security-root-usage").unwrap();
    assert_eq!((row["state"].as_str(), row["healthy"].as_bool()), (Some("missing"), Some(false)), "{row}");
    assert_eq!(rows.iter().filter(|r| r["healthy"] == false).count(), 1, "only the filter: {out}");
    assert_eq!(p.up_mutating(&moto), ["PutMetricFilter"]);

    // The trail made to skip management events behind moodlectl's back:
    // drift, and only its event selectors are put back.
    let selectors = trail.get_event_selectors().trail_name("moodle-trail").send().await.unwrap();
    let s0 = &selectors.event_selectors()[0];
    assert_eq!((s0.include_management_events(), s0.read_write_type().map(|r| r.as_str())), (Some(true), Some("All")));
    let writes = aws_sdk_cloudtrail::types::EventSelector::builder()
        .include_management_events(true)
        .read_write_type(aws_sdk_cloudtrail::types::ReadWriteType::WriteOnly);
    trail.put_event_selectors().trail_name("moodle-trail").event_selectors(writes.build()).send().await.unwrap();
    let (out, _) = p.expect(&["status", "-o", "json"], 4);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = doc["resources"].as_array().unwrap().iter().find(|r| r["name"] == "moodle-trail").unwrap().clone();
    assert!(row["drift"].as_str().unwrap_or_default().contains("management event"), "{row}");
    assert_eq!(p.up_mutating(&moto), ["PutEventSelectors"]);

    // What the emulator refuses, as AWS does: the group without the stream
    // wildcard, a role CloudTrail may not assume, a pattern over 1024.
    let refused = |e: String, code: &str| assert!(e.contains(code), "{e}");
    let bare = format!("arn:aws:logs:{REGION}:123456789012:log-group:{group}");
    let e = trail
        .update_trail()
        .name("moodle-trail")
        .cloud_watch_logs_log_group_arn(&bare)
        .cloud_watch_logs_role_arn(&role_arn)
        .send()
        .await
        .unwrap_err();
    refused(format!("{:?}", e.into_service_error()), "InvalidCloudWatchLogsLogGroupArnException");
    let other =
        iam.get_role().role_name("moodle-rds-monitoring").send().await.unwrap().role().unwrap().arn().to_string();
    let e = trail
        .update_trail()
        .name("moodle-trail")
        .cloud_watch_logs_log_group_arn(&group_arn)
        .cloud_watch_logs_role_arn(&other)
        .send()
        .await
        .unwrap_err();
    refused(format!("{:?}", e.into_service_error()), "InvalidCloudWatchLogsRoleArnException");
    // A role trusting CloudTrail only for this account: CloudTrail passes no
    // source account when it assumes this role, so AWS cannot use it.
    let conditioned = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]});
    let call = iam.create_role().role_name("conditioned").assume_role_policy_document(conditioned.to_string());
    let conditioned = call.send().await.unwrap().role().unwrap().arn().to_string();
    let call = trail.update_trail().name("moodle-trail").cloud_watch_logs_log_group_arn(&group_arn);
    let e = call.cloud_watch_logs_role_arn(&conditioned).send().await.unwrap_err();
    refused(format!("{:?}", e.into_service_error()), "InvalidCloudWatchLogsRoleArnException");
    iam.delete_role().role_name("conditioned").send().await.unwrap();
    let long = format!("{{ $.eventName = \"{}\" }}", "x".repeat(1100));
    let t = aws_sdk_cloudwatchlogs::types::MetricTransformation::builder()
        .metric_namespace("N")
        .metric_name("M")
        .metric_value("1")
        .build()
        .unwrap();
    let e = logs
        .put_metric_filter()
        .log_group_name(group)
        .filter_name("too-long")
        .filter_pattern(long)
        .metric_transformations(t)
        .send()
        .await
        .unwrap_err();
    refused(format!("{:?}", e.into_service_error()), "InvalidParameterException");

    // Off: no filter, no security alarm, no delivery.
    p.edit_config("security = true", "security = false");
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(plan.contains("moodle-security-root-usage: delete") && plan.contains("cloudwatch_logs"), "{plan}");
    p.expect(&["up", "--yes"], 0);
    assert!(logs.describe_metric_filters().log_group_name(group).send().await.unwrap().metric_filters().is_empty());
    assert!(!alarms(&conf).await.keys().any(|k| k.contains("-security-")));
    let t = trail.describe_trails().trail_name_list("moodle-trail").send().await.unwrap().trail_list()[0].clone();
    assert!(t.cloud_watch_logs_log_group_arn().unwrap_or_default().is_empty(), "{t:?}");
    // On again, then down: nothing left.
    p.edit_config("security = false", "security = true");
    p.expect(&["up", "--yes"], 0);
    assert_eq!(logs.describe_metric_filters().log_group_name(group).send().await.unwrap().metric_filters().len(), 15);
    p.expect(&["down", "--yes"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}
