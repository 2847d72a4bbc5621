//! The data tier against moto, verified with independent SDK clients: RDS and
//! its secret, SNS alerts and the event subscription, EFS, ElastiCache;
//! in-place updates, teardown with/without a final snapshot, crash resume,
//! and that the DB password never reaches state or output.

mod common;
use common::*;

fn secret_password(v: &serde_json::Value) -> String {
    v["password"].as_str().unwrap().to_string()
}

async fn db_secret(endpoint: &str) -> serde_json::Value {
    let conf = sdk(endpoint, REGION).await;
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let v = sm.get_secret_value().secret_id("moodle-db-credentials").send().await.unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_builds_the_data_tier_as_specified_and_keeps_the_password_secret() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    moto.start_recording();
    let (up_out, up_err) = p.expect(&["up", "--yes", "-vv"], 0);
    let recorded = moto.stop_recording();
    let conf = sdk(&moto.url, REGION).await;

    // RDS instance as configured, in our subnet group and security group.
    let rds = aws_sdk_rds::Client::new(&conf);
    let i =
        rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap().db_instances()[0].clone();
    assert_eq!(i.engine(), Some("mysql"));
    assert!(i.engine_version().unwrap().starts_with("8.4."), "{:?}", i.engine_version());
    assert_eq!(i.db_instance_class(), Some("db.r6g.large"));
    assert_eq!(i.allocated_storage(), Some(30));
    assert_eq!(i.max_allocated_storage(), Some(300));
    assert_eq!(i.storage_type(), Some("gp3"));
    assert_eq!(i.multi_az(), Some(true));
    assert_eq!(i.storage_encrypted(), Some(true));
    assert_eq!(i.backup_retention_period(), Some(7));
    assert_eq!(i.auto_minor_version_upgrade(), Some(true));
    assert_eq!(i.db_name(), Some("moodledb"));
    assert_eq!(i.master_username(), Some("dbadmin"));
    assert_eq!(i.publicly_accessible(), Some(false));
    assert_eq!(i.db_subnet_group().and_then(|g| g.db_subnet_group_name()), Some("moodle-db-subnets"));
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let db_sg = ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("moodle-db-sg").build())
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    assert_eq!(i.vpc_security_groups()[0].vpc_security_group_id(), Some(db_sg.as_str()));
    let group = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name("moodle-db-subnets")
        .send()
        .await
        .unwrap()
        .db_subnet_groups()[0]
        .clone();
    let state = read_state(&p.state_path());
    let private: std::collections::BTreeSet<String> = ["subnet/private-a", "subnet/private-b"]
        .iter()
        .map(|k| state["resources"][k]["id"].as_str().unwrap().to_string())
        .collect();
    let in_group: std::collections::BTreeSet<String> =
        group.subnets().iter().map(|s| s.subnet_identifier().unwrap().to_string()).collect();
    assert_eq!(in_group, private);
    // Performance Insights is asked for (moto accepts it but does not read it back).
    let create = recorded.iter().filter(|(op, _)| op == "CreateDBInstance").count();
    assert_eq!(create, 1);

    // The password lives in our secret, with username/host/port, and nowhere else.
    let secret = db_secret(&moto.url).await;
    let pw = secret_password(&secret);
    assert_eq!(secret["username"], "dbadmin");
    assert_eq!(secret["host"], i.endpoint().unwrap().address().unwrap());
    assert_eq!(secret["port"], 3306);
    assert_eq!(pw.len(), 32);
    assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()), "no characters that break Moodle's DB connection");
    // Until its owner clicks the link AWS mailed, the alert subscription
    // receives nothing: status says so, and is not healthy.
    let (pending, _) = p.expect(&["status", "-o", "json"], 4);
    let doc: serde_json::Value = serde_json::from_str(&pending).unwrap();
    let topic = doc["resources"].as_array().unwrap().iter().find(|r| r["kind"] == "sns:topic").unwrap().clone();
    assert_eq!(topic["healthy"], false, "{topic}");
    assert!(topic["state"].as_str().unwrap().contains("pending confirmation"), "{topic}");
    confirm_alert_email(&moto.url);
    let (status, _) = p.expect(&["status", "-o", "json"], 0);
    let (outputs, _) = p.expect(&["outputs"], 0);
    let (plan, plan_err) = p.expect(&["plan", "-vv"], 0);
    let state_text = std::fs::read_to_string(p.state_path()).unwrap();
    for (what, text) in [
        ("state", &state_text),
        ("up stdout", &up_out),
        ("up stderr", &up_err),
        ("status", &status),
        ("outputs", &outputs),
        ("plan", &plan),
        ("plan stderr", &plan_err),
    ] {
        assert!(!text.contains(&pw), "the DB password appears in {what}");
    }
    assert!(
        outputs.contains("db_secret_arn")
            && outputs.contains("redis_primary_endpoint")
            && outputs.contains("db_endpoint"),
        "{outputs}"
    );

    // Alerts: topic, e-mail subscription, event subscription on our instance only.
    let sns = aws_sdk_sns::Client::new(&conf);
    let topic = state["resources"]["sns/rds-events"]["id"].as_str().unwrap().to_string();
    let subs = sns.list_subscriptions_by_topic().topic_arn(&topic).send().await.unwrap();
    assert_eq!(subs.subscriptions().len(), 1);
    assert_eq!(subs.subscriptions()[0].protocol(), Some("email"));
    assert_eq!(subs.subscriptions()[0].endpoint(), Some("user@example.com"));
    let es = rds
        .describe_event_subscriptions()
        .subscription_name("moodle-rds-events")
        .send()
        .await
        .unwrap()
        .event_subscriptions_list()[0]
        .clone();
    assert_eq!(es.sns_topic_arn(), Some(topic.as_str()));
    assert_eq!(es.source_type(), Some("db-instance"));
    assert_eq!(es.source_ids_list(), ["moodle-db".to_string()]);
    let mut cats = es.event_categories_list().to_vec();
    cats.sort();
    assert_eq!(cats, ["availability", "configuration change", "failure", "low storage", "maintenance"]);
    assert_eq!(es.enabled(), Some(true));

    // EFS: encryption, mode, throughput, lifecycle, backups, 2 mount targets, access point.
    let efs = aws_sdk_efs::Client::new(&conf);
    let fs = efs.describe_file_systems().send().await.unwrap().file_systems()[0].clone();
    let fs_id = fs.file_system_id().to_string();
    assert_eq!(fs.encrypted(), Some(true));
    assert_eq!(fs.performance_mode().as_str(), "generalPurpose");
    assert_eq!(fs.throughput_mode().map(|t| t.as_str()), Some("elastic"));
    let lc = efs.describe_lifecycle_configuration().file_system_id(&fs_id).send().await.unwrap();
    let lc: Vec<String> = lc
        .lifecycle_policies()
        .iter()
        .map(|p| format!("{:?}/{:?}", p.transition_to_ia(), p.transition_to_primary_storage_class()))
        .collect();
    assert!(lc.iter().any(|p| p.contains("After30Days")), "{lc:?}");
    assert!(lc.iter().any(|p| p.contains("After1Access")), "{lc:?}");
    let bp = efs.describe_backup_policy().file_system_id(&fs_id).send().await.unwrap();
    assert_eq!(bp.backup_policy().unwrap().status().as_str(), "ENABLED");
    let mts = efs.describe_mount_targets().file_system_id(&fs_id).send().await.unwrap().mount_targets().to_vec();
    assert_eq!(mts.len(), 2);
    let mt_subnets: std::collections::BTreeSet<String> = mts.iter().map(|m| m.subnet_id().to_string()).collect();
    assert_eq!(mt_subnets, private);
    let efs_sg = ec2
        .describe_security_groups()
        .filters(aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("moodle-efs-sg").build())
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    for m in &mts {
        let sgs =
            efs.describe_mount_target_security_groups().mount_target_id(m.mount_target_id()).send().await.unwrap();
        assert_eq!(sgs.security_groups(), std::slice::from_ref(&efs_sg));
    }
    let aps = efs.describe_access_points().file_system_id(&fs_id).send().await.unwrap().access_points().to_vec();
    assert_eq!(aps.len(), 1);
    // A non-root directory EFS creates owned by the PHP user: the file
    // system's own root is root-owned 755, unwritable by uid 33.
    assert_eq!(aps[0].root_directory().and_then(|r| r.path()), Some("/moodledata"));
    let ci = aps[0].root_directory().and_then(|r| r.creation_info()).expect("CreationInfo");
    assert_eq!((ci.owner_uid(), ci.owner_gid(), ci.permissions()), (33, 33, "0750"));
    assert_eq!(aps[0].posix_user().map(|u| (u.uid(), u.gid())), Some((33, 33)));

    // Redis: Multi-AZ, failover, both encryptions, node type; 2 clusters asked for.
    let ec = aws_sdk_elasticache::Client::new(&conf);
    let g = ec
        .describe_replication_groups()
        .replication_group_id("moodle-redis")
        .send()
        .await
        .unwrap()
        .replication_groups()[0]
        .clone();
    assert_eq!(g.cache_node_type(), Some("cache.r6g.large"));
    assert_eq!(g.multi_az().map(|m| m.as_str()), Some("enabled"));
    assert_eq!(g.automatic_failover().map(|m| m.as_str()), Some("enabled"));
    assert_eq!(g.at_rest_encryption_enabled(), Some(true));
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    let cache_subnets =
        ec.describe_cache_subnet_groups().cache_subnet_group_name("moodle-cache-subnets").send().await.unwrap();
    assert_eq!(cache_subnets.cache_subnet_groups()[0].subnets().len(), 2);
    // moto creates one member for NumCacheClusters=2 (see README); the
    // request itself is checked in replication_group_is_requested_with_two_clusters.
}

/// Bodies of recorded requests (base64-decoded), for parameters moto does not model.
fn moto_recording_bodies(moto: &Moto) -> Vec<String> {
    let text = http("GET", &format!("{}/moto-api/recorder/download-recording", moto.url)).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn num_cache_clusters_requested(bodies: &[String]) -> Vec<u32> {
    bodies
        .iter()
        .filter_map(|b| {
            let decoded = aws_smithy_types::base64::decode(b)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .unwrap_or_else(|| b.clone());
            decoded.contains("Action=CreateReplicationGroup").then(|| {
                decoded
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("NumCacheClusters="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_group_is_requested_with_two_clusters() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    moto.start_recording();
    p.expect(&["up", "--yes"], 0);
    http("POST", &format!("{}/moto-api/recorder/stop-recording", moto.url)).unwrap();
    assert_eq!(num_cache_clusters_requested(&moto_recording_bodies(&moto)), vec![2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_class_and_node_type_change_in_place_with_one_modify_each() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    // A confirmed subscription can be removed; a pending one cannot (AWS
    // lets it expire), so the old address is confirmed first.
    confirm_alert_email(&moto.url);
    let before = state_ids(&p.state_path());
    p.edit_config("# instance_class = \"db.r6g.large\"", "instance_class = \"db.r6g.xlarge\"");
    p.edit_config("# node_type = \"cache.r6g.large\"", "node_type = \"cache.r6g.xlarge\"");
    p.edit_config("backup_retention_days = 7", "backup_retention_days = 14");
    p.edit_config("event_email = \"user@example.com\"", "event_email = \"ops@example.com\"");

    moto.start_recording();
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(mutating(&moto.stop_recording()).is_empty());
    let line =
        |step: &str| plan.lines().find(|l| l.contains(step)).unwrap_or_else(|| panic!("{step} in {plan}")).to_string();
    assert!(line("data.db-instance").starts_with('~'), "{plan}");
    assert!(line("data.db-instance").contains("instance_class: db.r6g.large → db.r6g.xlarge"), "{plan}");
    assert!(line("data.db-instance").contains("backup_retention_days: 7 → 14"), "{plan}");
    assert!(line("data.redis").starts_with('~') && line("data.redis").contains("cache.r6g.xlarge"), "{plan}");
    assert!(line("data.events-topic").starts_with('~'), "{plan}");
    assert!(line("observe.alerts-topic-us-east-1").starts_with('~'), "{plan}");
    assert!(!plan.lines().any(|l| l.starts_with('+')), "nothing to create: {plan}");

    let mut muts = p.up_mutating(&moto);
    muts.sort();
    // The new address is subscribed to both alert topics (the stack's, and
    // CloudFront's alarm's in us-east-1), the old one unsubscribed from both.
    assert_eq!(
        muts,
        ["ModifyDBInstance", "ModifyReplicationGroup", "Subscribe", "Subscribe", "Unsubscribe", "Unsubscribe"]
    );
    assert_eq!(before, state_ids(&p.state_path()), "nothing recreated");

    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let i =
        rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap().db_instances()[0].clone();
    assert_eq!(i.db_instance_class(), Some("db.r6g.xlarge"));
    assert_eq!(i.backup_retention_period(), Some(14));
    let ec = aws_sdk_elasticache::Client::new(&conf);
    let g = ec
        .describe_replication_groups()
        .replication_group_id("moodle-redis")
        .send()
        .await
        .unwrap()
        .replication_groups()[0]
        .clone();
    assert_eq!(g.cache_node_type(), Some("cache.r6g.xlarge"));
    let sns = aws_sdk_sns::Client::new(&conf);
    let topic = read_state(&p.state_path())["resources"]["sns/rds-events"]["id"].as_str().unwrap().to_string();
    let subs = sns.list_subscriptions_by_topic().topic_arn(&topic).send().await.unwrap();
    let emails: Vec<_> = subs.subscriptions().iter().filter_map(|s| s.endpoint()).collect();
    assert_eq!(emails, ["ops@example.com"]);
    assert_eq!(census(&moto.url).await, full_stack());

    assert!(p.up_mutating(&moto).is_empty(), "converged");
}

#[tokio::test(flavor = "multi_thread")]
async fn down_takes_a_final_snapshot_unless_skipped() {
    let moto = Moto::start();
    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let p = Project::new(&moto.url);

    p.expect(&["up", "--yes"], 0);
    let (out, _) = p.expect(&["down", "--yes"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
    let snaps = rds.describe_db_snapshots().send().await.unwrap();
    let names: Vec<_> = snaps.db_snapshots().iter().filter_map(|s| s.db_snapshot_identifier()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("moodle-final-"), "{names:?}");
    assert!(out.contains(&format!("kept: final DB snapshot `{}`", names[0])), "down says where it is: {out}");
    // The secret is scheduled for deletion (recoverable), not gone.
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let d = sm.describe_secret().secret_id("moodle-db-credentials").send().await.unwrap();
    assert!(d.deleted_date().is_some());

    // A new up restores the secret pending deletion instead of failing.
    p.expect(&["up", "--yes"], 0);
    assert_eq!(census(&moto.url).await, full_stack());
    let (out, _) = p.expect(&["down", "--yes", "--skip-final-snapshot", "--force-delete-secrets"], 0);
    assert!(!out.contains("kept: final DB snapshot"), "{out}");
    let snaps = rds.describe_db_snapshots().send().await.unwrap();
    assert_eq!(snaps.db_snapshots().len(), 1, "no new snapshot with --skip-final-snapshot");
    assert!(sm.describe_secret().secret_id("moodle-db-credentials").send().await.is_err(), "force-deleted");
    assert_eq!(census(&moto.url).await, empty_stack());
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_protection_is_reported_not_forced() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("\ndeletion_protection = false", "\ndeletion_protection = true");
    p.expect(&["up", "--yes"], 0);
    let (_, err) = p.expect(&["down", "--yes"], 1);
    assert!(err.contains("deletion protection") && err.contains("data.db-instance"), "{err}");
    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    assert_eq!(rds.describe_db_instances().send().await.unwrap().db_instances().len(), 1, "instance kept");
    assert_eq!(census(&moto.url).await, full_stack(), "down refused before deleting anything");
    // Turning protection off through the config lets down finish.
    p.edit_config("\ndeletion_protection = true", "\ndeletion_protection = false");
    p.expect(&["up", "--yes"], 0);
    p.expect(&["down", "--yes"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}

// Needs the crash hook: built with `--features test-hooks` (scripts/test.sh).
#[cfg(feature = "test-hooks")]
#[tokio::test(flavor = "multi_thread")]
async fn kill_right_after_each_data_create_then_up_has_no_duplicates() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    for op in [
        "CreateDBInstance",
        "CreateFileSystem",
        "CreateReplicationGroup",
        "CreateMountTarget",
        "CreateAccessPoint",
        "CreateSecret",
        "CreateEventSubscription",
    ] {
        let o = p.run_env(&["up", "--yes"], &[("MOODLECTL_CRASH_AFTER_OP", op)]);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(9), "killed after {op}");
        p.expect(&["up", "--yes"], 0);
        assert_eq!(census(&moto.url).await, full_stack(), "after kill at {op}");
        p.expect(&["plan"], 0);
        let o = p.run_env(&["down", "--yes"], &[("MOODLECTL_CRASH_AFTER_OP", &op.replace("Create", "Delete"))]);
        assert!(o.status.signal() == Some(9) || o.status.success(), "{op}: {:?}", o.status);
        p.expect(&["down", "--yes", "--skip-final-snapshot", "--force-delete-secrets"], 0);
        assert_eq!(census(&moto.url).await, empty_stack(), "after down kill at {op}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aurora_serverless_v2_cluster_and_writer() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("engine = \"mysql\"", "engine = \"aurora-serverless\"");
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let c = rds.describe_db_clusters().db_cluster_identifier("moodle-aurora").send().await.unwrap().db_clusters()[0]
        .clone();
    assert_eq!(c.engine(), Some("aurora-mysql"));
    let sv2 = c.serverless_v2_scaling_configuration().unwrap();
    assert_eq!((sv2.min_capacity(), sv2.max_capacity()), (Some(0.5), Some(8.0)));
    assert_eq!(c.storage_encrypted(), Some(true));
    assert_eq!(c.backup_retention_period(), Some(7));
    let i =
        rds.describe_db_instances().db_instance_identifier("moodle-db").send().await.unwrap().db_instances()[0].clone();
    assert_eq!(i.db_instance_class(), Some("db.serverless"));
    assert_eq!(i.db_cluster_identifier(), Some("moodle-aurora"));
    // Moodle gets the cluster (writer) endpoint.
    assert_eq!(db_secret(&moto.url).await["host"], c.endpoint().unwrap());
    assert!(p.up_mutating(&moto).is_empty());
    let (out, _) = p.expect(&["down", "--yes"], 0);
    assert!(out.contains("kept: final DB cluster snapshot"), "{out}");
    assert!(rds.describe_db_clusters().send().await.unwrap().db_clusters().is_empty());
    assert_eq!(census(&moto.url).await, empty_stack());
}

/// A stack built before the access point got its own directory has one
/// rooted at `/` (root-owned 755 on EFS: uid 33 cannot write). `plan` shows
/// the replacement; `up` creates the new access point, points a new task
/// definition revision at it, and deletes the old one after the rollout.
#[tokio::test(flavor = "multi_thread")]
async fn an_access_point_rooted_at_slash_is_replaced_on_an_existing_stack() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let efs = aws_sdk_efs::Client::new(&conf);
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let state = read_state(&p.state_path());
    let fs_id = state["resources"]["efs/file-system"]["id"].as_str().unwrap().to_string();
    let new_ap = state["resources"]["efs/access-point"]["id"].as_str().unwrap().to_string();

    // Make it the stack an earlier version built: its access point at `/`,
    // recorded in the state, mounted by the service's task definition.
    efs.delete_access_point().access_point_id(&new_ap).send().await.unwrap();
    let tag = |k: &str, v: &str| aws_sdk_efs::types::Tag::builder().key(k).value(v).build().unwrap();
    let old = efs
        .create_access_point()
        .client_token("an-earlier-moodlectl")
        .file_system_id(&fs_id)
        .posix_user(aws_sdk_efs::types::PosixUser::builder().uid(33).gid(33).build().unwrap())
        .root_directory(aws_sdk_efs::types::RootDirectory::builder().path("/").build())
        .tags(tag("moodlectl:stack", "moodle"))
        .tags(tag("moodlectl:resource", "efs/access-point"))
        .tags(tag("Name", "moodle-moodledata-ap"))
        .send()
        .await
        .unwrap();
    let old_ap = old.access_point_id().unwrap().to_string();
    let text = std::fs::read_to_string(p.state_path()).unwrap().replace(&new_ap, &old_ap);
    std::fs::write(p.state_path(), text).unwrap();
    let mounted = |td: aws_sdk_ecs::types::TaskDefinition| {
        td.volumes()[0]
            .efs_volume_configuration()
            .and_then(|e| e.authorization_config())
            .and_then(|a| a.access_point_id())
            .unwrap()
            .to_string()
    };
    let service_td = || async {
        let s = ecs
            .describe_services()
            .cluster("moodle-cluster")
            .services("moodle-service")
            .send()
            .await
            .unwrap()
            .services()[0]
            .clone();
        ecs.describe_task_definition()
            .task_definition(s.task_definition().unwrap())
            .send()
            .await
            .unwrap()
            .task_definition()
            .unwrap()
            .clone()
    };
    // ...and the service on a task definition revision that mounts it.
    let td = service_td().await;
    use aws_sdk_ecs::types::{EfsAuthorizationConfig, EfsVolumeConfiguration, Volume};
    let efs_cfg = td.volumes()[0].efs_volume_configuration().unwrap();
    let volume = Volume::builder()
        .name(td.volumes()[0].name().unwrap())
        .efs_volume_configuration(
            EfsVolumeConfiguration::builder()
                .file_system_id(efs_cfg.file_system_id())
                .set_transit_encryption(efs_cfg.transit_encryption().cloned())
                .authorization_config(
                    EfsAuthorizationConfig::builder()
                        .access_point_id(&old_ap)
                        .set_iam(efs_cfg.authorization_config().and_then(|a| a.iam()).cloned())
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build();
    let registered = ecs
        .register_task_definition()
        .family(td.family().unwrap())
        .set_container_definitions(Some(td.container_definitions().to_vec()))
        .volumes(volume)
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_runtime_platform(td.runtime_platform().cloned())
        .send()
        .await
        .unwrap();
    ecs.update_service()
        .cluster("moodle-cluster")
        .service("moodle-service")
        .task_definition(registered.task_definition().unwrap().task_definition_arn().unwrap())
        .send()
        .await
        .unwrap();
    let td_before = service_td().await;
    assert_eq!(mounted(td_before.clone()), old_ap);

    moto.start_recording();
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(mutating(&moto.stop_recording()).is_empty(), "plan is read-only");
    let line =
        |step: &str| plan.lines().find(|l| l.contains(step)).unwrap_or_else(|| panic!("{step} in {plan}")).to_string();
    let ap_line = line("data.efs-access-point ");
    assert!(ap_line.starts_with('~'), "{plan}");
    assert!(
        ap_line.contains(&format!("{old_ap} at / (no creation info)"))
            && ap_line.contains("/moodledata (created 33:33 0750): replace"),
        "{plan}"
    );
    assert!(
        line("data.efs-old-access-points").contains(&format!("{old_ap} at / (no creation info) → deleted")),
        "{plan}"
    );

    let muts = p.up_mutating(&moto);
    // EFS is a REST API: the recorder names its calls by method and path.
    let pos = |what: &dyn Fn(&str) -> bool, name: &str| {
        muts.iter().position(|m| what(m)).unwrap_or_else(|| panic!("{name} in {muts:?}"))
    };
    let create_ap = pos(&|m| m.starts_with("POST ") && m.ends_with("/access-points"), "CreateAccessPoint");
    let register = pos(&|m| m == "RegisterTaskDefinition", "RegisterTaskDefinition");
    let update = pos(&|m| m == "UpdateService", "UpdateService");
    let delete_ap =
        pos(&|m| m.starts_with("DELETE ") && m.ends_with(&format!("/access-points/{old_ap}")), "DeleteAccessPoint");
    assert!(
        create_ap < register && register < update && update < delete_ap,
        "new access point, new revision, rollout, then the old access point goes: {muts:?}"
    );

    // Independent reads: one access point, the new shape; the service's
    // task definition mounts it.
    let aps = efs.describe_access_points().file_system_id(&fs_id).send().await.unwrap().access_points().to_vec();
    assert_eq!(aps.len(), 1, "{aps:?}");
    let ap = &aps[0];
    assert_ne!(ap.access_point_id(), Some(old_ap.as_str()));
    let root = ap.root_directory().unwrap();
    assert_eq!(root.path(), Some("/moodledata"));
    let ci = root.creation_info().unwrap();
    assert_eq!((ci.owner_uid(), ci.owner_gid(), ci.permissions()), (33, 33, "0750"));
    let td_after = service_td().await;
    assert!(td_after.revision() > td_before.revision());
    assert_eq!(mounted(td_after), ap.access_point_id().unwrap());
    // Older revisions stay registered (ECS keeps them for rollbacks): the
    // web family's first, the one this test registered, and the new one;
    // the cron family's first and new one.
    let mut expected = full_stack();
    expected.insert("task-definition".into(), 5);
    assert_eq!(census(&moto.url).await, expected);

    assert!(p.up_mutating(&moto).is_empty(), "converged");
}

/// Aurora MySQL on a db.t3 class: Performance Insights is not offered there
/// (AWS refuses the create); deletion protection lives on the cluster, and a
/// change of it is made there, not on the writer instance.
#[tokio::test(flavor = "multi_thread")]
async fn aurora_on_t3_without_performance_insights_and_protection_on_the_cluster() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("engine = \"mysql\"", "engine = \"aurora-mysql\"");
    p.edit_config("# instance_class = \"db.r6g.large\"", "instance_class = \"db.t3.medium\"");
    p.edit_config("\ndeletion_protection = false", "\ndeletion_protection = true");
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let cluster = |rds: aws_sdk_rds::Client| async move {
        rds.describe_db_clusters().db_cluster_identifier("moodle-aurora").send().await.unwrap().db_clusters()[0].clone()
    };
    assert_eq!(cluster(rds.clone()).await.deletion_protection(), Some(true));
    let (_, err) = p.expect(&["down", "--yes"], 1);
    assert!(err.contains("deletion protection"), "{err}");
    // Off in the config: `up` changes the cluster (one ModifyDBCluster, no
    // ModifyDBInstance), then `down` can finish.
    p.edit_config("\ndeletion_protection = true", "\ndeletion_protection = false");
    let changed = p.up_mutating(&moto);
    assert_eq!(changed, vec!["ModifyDBCluster".to_string()], "{changed:?}");
    assert_eq!(cluster(rds.clone()).await.deletion_protection(), Some(false));
    p.expect(&["down", "--yes", "--skip-final-snapshot"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
}

/// With no engine_version in the config, MariaDB gets a MariaDB version (not
/// MySQL's 8.4, which RDS refuses for mariadb).
#[tokio::test(flavor = "multi_thread")]
async fn the_engine_version_default_follows_the_engine() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("engine = \"mysql\"", "engine = \"mariadb\"");
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let i = aws_sdk_rds::Client::new(&conf).describe_db_instances().send().await.unwrap().db_instances()[0].clone();
    assert_eq!(i.engine(), Some("mariadb"));
    assert!(i.engine_version().unwrap().starts_with("11.4."), "{:?}", i.engine_version());
}
