//! The compute tier against moto, verified with independent SDK clients:
//! cluster, task definition, service, autoscaling, roles and SG rules; new
//! revisions only on change; teardown; drift found by `status` and repaired
//! by `up`.

mod common;
use common::*;

use std::collections::BTreeSet;

fn ids(p: &Project) -> std::collections::BTreeMap<String, String> {
    state_ids(&p.state_path())
}

#[tokio::test(flavor = "multi_thread")]
async fn up_builds_the_service_as_specified() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    let (up_out, up_err) = p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let st = read_state(&p.state_path());
    let sid = |k: &str| st["resources"][k]["id"].as_str().unwrap().to_string();
    let ecs = aws_sdk_ecs::Client::new(&conf);

    // Cluster: Container Insights, FARGATE + FARGATE_SPOT.
    let c = ecs
        .describe_clusters()
        .clusters("moodle-cluster")
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .clone();
    assert!(c
        .settings()
        .iter()
        .any(|s| s.name().map(|n| n.as_str()) == Some("containerInsights") && s.value() == Some("enabled")));
    let providers: BTreeSet<&str> = c.capacity_providers().iter().map(|s| s.as_str()).collect();
    assert_eq!(providers, BTreeSet::from(["FARGATE", "FARGATE_SPOT"]));

    // Task definition.
    let td = ecs
        .describe_task_definition()
        .task_definition("moodle-moodle")
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .clone();
    assert_eq!((td.cpu(), td.memory()), (Some("2048"), Some("4096")));
    let rp = td.runtime_platform().unwrap();
    assert_eq!(rp.cpu_architecture().map(|a| a.as_str()), Some("X86_64"));
    assert_eq!(rp.operating_system_family().map(|a| a.as_str()), Some("LINUX"));
    assert_eq!(td.network_mode().map(|m| m.as_str()), Some("awsvpc"));
    let ctr = &td.container_definitions()[0];
    assert_eq!(ctr.name(), Some("moodle"));
    assert_eq!(ctr.port_mappings()[0].container_port(), Some(8080));
    assert_eq!(ctr.stop_timeout(), Some(120));
    // The image's health endpoint, not the Dockerfile's HEALTHCHECK (ECS
    // ignores it).
    let hc = ctr.health_check().expect("container health check");
    assert_eq!(
        hc.command(),
        ["CMD-SHELL", "curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:8080/moodlectl-health || exit 1"]
    );
    assert_eq!(
        (hc.interval(), hc.timeout(), hc.retries(), hc.start_period()),
        (Some(30), Some(10), Some(3), Some(300))
    );
    let env: BTreeSet<&str> = ctr.environment().iter().filter_map(|e| e.name()).collect();
    for name in [
        "MOODLE_DATABASE_TYPE",
        "MOODLE_DATABASE_HOST",
        "MOODLE_DATABASE_PORT_NUMBER",
        "MOODLE_DATABASE_NAME",
        "MOODLE_DATABASE_USER",
        "MOODLE_USERNAME",
        "MOODLE_EMAIL",
        "MOODLE_SITE_NAME",
        "MOODLE_DNS_NAME",
        "MOODLE_REDIS_HOST",
        "MOODLE_REDIS_PORT",
        "MOODLE_REDIS_TLS",
    ] {
        assert!(env.contains(name), "{name} missing from {env:?}");
    }
    let envv =
        |n: &str| ctr.environment().iter().find(|e| e.name() == Some(n)).and_then(|e| e.value()).unwrap().to_string();
    assert_eq!(envv("MOODLE_DATABASE_TYPE"), "mysqli");
    assert_eq!(envv("MOODLE_DNS_NAME"), "moodle.example.com");
    assert_eq!(envv("MOODLE_REDIS_TLS"), "true");
    assert_eq!(envv("MOODLE_DATABASE_HOST"), st["resources"]["rds/instance"]["attrs"]["host"].as_str().unwrap());
    let secrets: std::collections::BTreeMap<&str, &str> =
        ctr.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
    assert_eq!(secrets["MOODLE_DATABASE_PASSWORD"], format!("{}:password::", sid("secret/db")));
    assert_eq!(secrets["MOODLE_PASSWORD"], sid("secret/moodle-admin"));
    assert_eq!(secrets.len(), 2);
    let vol = td.volumes()[0].efs_volume_configuration().unwrap();
    assert_eq!(vol.file_system_id(), sid("efs/file-system"));
    assert_eq!(vol.transit_encryption().map(|t| t.as_str()), Some("ENABLED"));
    assert_eq!(vol.authorization_config().and_then(|a| a.access_point_id()), Some(sid("efs/access-point").as_str()));
    assert_eq!(ctr.mount_points()[0].source_volume(), Some("moodle"));
    // A read-only root; writable only moodledata and five volumes of task
    // storage (no host path: Fargate's ephemeral storage).
    assert_eq!(ctr.readonly_root_filesystem(), Some(true));
    let scratch: Vec<(&str, &str)> =
        ctr.mount_points()[1..].iter().map(|m| (m.source_volume().unwrap(), m.container_path().unwrap())).collect();
    assert_eq!(
        scratch,
        [
            ("config", "/var/www/config"),
            ("local-cache", "/var/cache/moodle"),
            ("apache-run", "/var/run/apache2"),
            ("apache-lock", "/var/lock/apache2"),
            ("tmp", "/tmp")
        ]
    );
    for (name, _) in &scratch {
        let v = td.volumes().iter().find(|v| v.name() == Some(name)).unwrap();
        assert!(v.efs_volume_configuration().is_none() && v.host().and_then(|h| h.source_path()).is_none(), "{v:?}");
    }
    let lc = ctr.log_configuration().unwrap();
    assert_eq!(lc.log_driver().as_str(), "awslogs");
    let opts = lc.options().unwrap();
    assert_eq!(opts["awslogs-group"], "/moodlectl/moodle/moodle");
    assert_eq!(opts["awslogs-stream-prefix"], "ecs-moodle");
    // Non-blocking: a slow CloudWatch Logs never stalls Apache's writes.
    assert_eq!((opts["mode"].as_str(), opts["max-buffer-size"].as_str()), ("non-blocking", "25m"));
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let lg = logs.describe_log_groups().log_group_name_prefix("/moodlectl/moodle/moodle").send().await.unwrap();
    assert_eq!(lg.log_groups()[0].retention_in_days(), Some(30));

    // Roles: trust ecs-tasks; the execution role reads exactly the two secrets.
    let iam = aws_sdk_iam::Client::new(&conf);
    for role in ["moodle-task-execution", "moodle-task"] {
        let r = iam.get_role().role_name(role).send().await.unwrap();
        let trust = r.role().unwrap().assume_role_policy_document().unwrap();
        assert!(trust.contains("ecs-tasks.amazonaws.com"), "{role}: {trust}");
    }
    assert_eq!(
        td.execution_role_arn(),
        Some(iam.get_role().role_name("moodle-task-execution").send().await.unwrap().role().unwrap().arn())
    );
    let pol = iam
        .get_role_policy()
        .role_name("moodle-task-execution")
        .policy_name("moodle-task-execution")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&url_decode(pol.policy_document())).unwrap();
    let sm_stmt =
        doc["Statement"].as_array().unwrap().iter().find(|s| s["Action"] == "secretsmanager:GetSecretValue").unwrap();
    let res: BTreeSet<&str> = sm_stmt["Resource"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(res, BTreeSet::from([sid("secret/db").as_str(), sid("secret/moodle-admin").as_str()]));
    let task_pol = iam.get_role_policy().role_name("moodle-task").policy_name("moodle-ecs-exec").send().await.unwrap();
    assert!(url_decode(task_pol.policy_document()).contains("ssmmessages:CreateControlChannel"));

    // Service.
    let s =
        ecs.describe_services().cluster("moodle-cluster").services("moodle-service").send().await.unwrap().services()
            [0]
        .clone();
    let strat: BTreeSet<(String, i32, i32)> = s
        .capacity_provider_strategy()
        .iter()
        .map(|i| (i.capacity_provider().to_string(), i.weight(), i.base()))
        .collect();
    assert_eq!(strat, BTreeSet::from([("FARGATE_SPOT".to_string(), 3, 0), ("FARGATE".to_string(), 1, 1)]));
    let net = s.network_configuration().unwrap().awsvpc_configuration().unwrap();
    let subnets: BTreeSet<&str> = net.subnets().iter().map(|s| s.as_str()).collect();
    assert_eq!(subnets, BTreeSet::from([sid("subnet/private-a").as_str(), sid("subnet/private-b").as_str()]));
    assert_eq!(net.security_groups(), [sid("sg/service")]);
    assert_eq!(net.assign_public_ip().map(|a| a.as_str()), Some("DISABLED"));
    let dc = s.deployment_configuration().unwrap();
    assert_eq!((dc.maximum_percent(), dc.minimum_healthy_percent()), (Some(200), Some(50)));
    let cb = dc.deployment_circuit_breaker().unwrap();
    assert!(cb.enable() && cb.rollback());
    assert_eq!(s.health_check_grace_period_seconds(), Some(1800));
    let lb = &s.load_balancers()[0];
    assert_eq!((lb.container_name(), lb.container_port()), (Some("moodle"), Some(8080)));
    assert_eq!(lb.target_group_arn(), Some(sid("elbv2/target-group").as_str()));
    assert!(s.enable_execute_command());
    assert_eq!(s.propagate_tags().map(|t| t.as_str()), Some("SERVICE"));
    assert_eq!(s.desired_count(), 1);
    assert_eq!(s.task_definition(), td.task_definition_arn());

    // Autoscaling.
    let aas = aws_sdk_applicationautoscaling::Client::new(&conf);
    let t = aas
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap()
        .scalable_targets()[0]
        .clone();
    assert_eq!(t.resource_id(), "service/moodle-cluster/moodle-service");
    assert_eq!((t.min_capacity(), t.max_capacity()), (1, 10));
    let pols = aas
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    let cfg = pols.scaling_policies()[0].target_tracking_scaling_policy_configuration().unwrap();
    assert_eq!(cfg.target_value(), 50.0);
    assert_eq!(
        cfg.predefined_metric_specification().unwrap().predefined_metric_type().as_str(),
        "ECSServiceAverageCPUUtilization"
    );

    // Security groups: exactly the listed rules; nothing from 0.0.0.0/0.
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    for (key, port, from) in [
        ("sg/db", 3306, "sg/service"),
        ("sg/efs", 2049, "sg/service"),
        ("sg/cache", 6379, "sg/service"),
        ("sg/service", 8080, "sg/alb"),
    ] {
        let g = ec2.describe_security_groups().group_ids(sid(key)).send().await.unwrap().security_groups()[0].clone();
        let rules: Vec<(Option<i32>, Vec<String>, usize)> = g
            .ip_permissions()
            .iter()
            .map(|p| {
                (
                    p.from_port(),
                    p.user_id_group_pairs().iter().filter_map(|u| u.group_id().map(str::to_string)).collect(),
                    p.ip_ranges().len(),
                )
            })
            .collect();
        assert_eq!(rules, vec![(Some(port), vec![sid(from)], 0)], "{key}");
    }

    // The admin password is in Secrets Manager only; outputs say how to read it.
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    // The tasks' two secrets were read when they launched (by the ECS agent:
    // the emulator records LastAccessedDate as AWS does), before anyone else.
    for id in ["moodle-db-credentials", "moodle-moodle-admin"] {
        let d = sm.describe_secret().secret_id(id).send().await.unwrap();
        assert!(d.last_accessed_date().is_some(), "{id} never read");
    }
    let pw = sm
        .get_secret_value()
        .secret_id("moodle-moodle-admin")
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_string();
    let (outputs, _) = p.expect(&["outputs"], 0);
    let state_text = std::fs::read_to_string(p.state_path()).unwrap();
    for (what, text) in [("state", &state_text), ("up stdout", &up_out), ("up stderr", &up_err), ("outputs", &outputs)]
    {
        assert!(!text.contains(&pw), "admin password in {what}");
    }
    assert!(outputs.contains(&format!("--secret-id {}", sid("secret/moodle-admin"))), "{outputs}");
    for k in ["ecs_cluster", "ecs_service", "container_log_group"] {
        assert!(outputs.contains(k), "{outputs}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revisions_only_on_change_and_one_update_each() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let revisions = || async {
        ecs.list_task_definitions().family_prefix("moodle-moodle").send().await.unwrap().task_definition_arns().len()
    };
    assert_eq!(revisions().await, 1);

    assert!(p.up_mutating(&moto).is_empty());
    assert_eq!(revisions().await, 1, "no new revision for an unchanged config");

    // Push the new tag first, as a user would (preflight checks it exists).
    // A rebuild of the same Moodle (the emulator reads the version from the
    // tag): no database upgrade pending, so `up` deploys it (tests/day2.rs
    // covers the pending case and its one-off check).
    let ecr = aws_sdk_ecr::Client::new(&conf);
    ecr.put_image().repository_name("moodle-moodle").image_tag("5.0.2-1").image_manifest(r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}"#).send().await.unwrap();
    p.edit_config(
        "uri = \"123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/moodle-moodle:5.0.2\"",
        "uri = \"123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/moodle-moodle:5.0.2-1\"",
    );
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(
        plan.lines().any(|l| l.starts_with('~') && l.contains("compute.task-definition") && l.contains("5.0.2-1")),
        "{plan}"
    );
    let mut m = p.up_mutating(&moto);
    m.sort();
    // The pending-upgrade check (a one-off revision of the new image and its
    // task), then one new revision per service and one update each.
    assert_eq!(
        m,
        [
            "RegisterTaskDefinition",
            "RegisterTaskDefinition",
            "RegisterTaskDefinition",
            "RunTask",
            "UpdateService",
            "UpdateService"
        ]
    );
    assert_eq!(revisions().await, 2);
    let s =
        ecs.describe_services().cluster("moodle-cluster").services("moodle-service").send().await.unwrap().services()
            [0]
        .clone();
    assert!(s.task_definition().unwrap().ends_with(":2"));

    p.edit_config("desired_count = 1", "desired_count = 2");
    let (plan, _) = p.expect(&["plan"], 3);
    assert!(
        plan.lines().any(|l| l.starts_with('~') && l.contains("compute.service") && l.contains("desired_count: 1 → 2")),
        "{plan}"
    );
    let mut m = p.up_mutating(&moto);
    m.sort();
    // Autoscaling's minimum follows desired_count (stack.md), hence the second
    // call; the running-tasks alarm's threshold is the desired count, hence
    // the alarm and the dashboard's threshold line.
    assert_eq!(m, ["PutDashboard", "PutMetricAlarm", "RegisterScalableTarget", "UpdateService"]);
    let s =
        ecs.describe_services().cluster("moodle-cluster").services("moodle-service").send().await.unwrap().services()
            [0]
        .clone();
    assert_eq!(s.desired_count(), 2);
    assert_eq!(revisions().await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn down_removes_compute_and_nothing_of_the_stack_is_left() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    p.edit_config("# memory_mib = 4096", "memory_mib = 8192");
    p.expect(&["up", "--yes"], 0);
    p.expect(&["down", "--yes"], 0);
    assert_eq!(census(&moto.url).await, empty_stack());
    let conf = sdk(&moto.url, REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let active = ecs
        .list_task_definitions()
        .family_prefix("moodle-moodle")
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    assert!(active.task_definition_arns().is_empty(), "both revisions deregistered");
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let admin = sm.describe_secret().secret_id("moodle-moodle-admin").send().await.unwrap();
    assert!(admin.deleted_date().is_some(), "scheduled for deletion with a recovery window");
    // A later up restores the pending secrets instead of failing on their names.
    p.expect(&["up", "--yes"], 0);
    assert_eq!(census(&moto.url).await, full_stack());
    p.expect(&["down", "--yes", "--force-delete-secrets", "--skip-final-snapshot"], 0);
    assert!(sm.describe_secret().secret_id("moodle-moodle-admin").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_out_of_band_changes_and_up_repairs_them() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    confirm_alert_email(&moto.url);
    let (st, _) = p.expect(&["status", "-o", "json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(doc["healthy"], true);
    assert_eq!(doc["schema"], "moodlectl.status/v1");

    let conf = sdk(&moto.url, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let s = ids(&p);
    // Out of band: a flow log deleted, an SG rule added, the service scaled to 0.
    ec2.delete_flow_logs().flow_log_ids(&s["flow-log"]).send().await.unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&s["sg/db"])
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3306)
                .to_port(3306)
                .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ecs.update_service().cluster("moodle-cluster").service("moodle-service").desired_count(0).send().await.unwrap();

    let (st, _) = p.expect(&["status", "-o", "json"], 4);
    let doc: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(doc["healthy"], false);
    let row = |kind: &str, name: &str| {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name}"))
            .clone()
    };
    assert_eq!(row("ec2:flow-log", "moodle-vpc-flow-log")["state"], "missing");
    let db_sg = row("ec2:security-group", "moodle-db-sg")["drift"].as_str().unwrap().to_string();
    assert!(db_sg.contains("1 unexpected") && db_sg.contains("revoke unexpected tcp/3306 from 0.0.0.0/0"), "{db_sg}");
    // The rule's drift is on the DB group's row, on no other group's.
    for r in doc["resources"].as_array().unwrap().iter().filter(|r| r["kind"] == "ec2:security-group") {
        assert!(r["name"] == "moodle-db-sg" || !r["drift"].to_string().contains("3306"), "{r}");
    }
    assert!(row("ecs:service", "moodle-service")["drift"].as_str().unwrap().contains("desired count 0"));

    p.expect(&["up", "--yes"], 0);
    confirm_alert_email(&moto.url);
    let (st, _) = p.expect(&["status", "-o", "json"], 0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&st).unwrap()["healthy"], true);
    let g = ec2.describe_security_groups().group_ids(&s["sg/db"]).send().await.unwrap().security_groups()[0].clone();
    assert!(g.ip_permissions().iter().all(|p| p.ip_ranges().is_empty()), "the hand-added rule was revoked");
    let svc =
        ecs.describe_services().cluster("moodle-cluster").services("moodle-service").send().await.unwrap().services()
            [0]
        .clone();
    assert_eq!(svc.desired_count(), 1);
    assert_eq!(census(&moto.url).await, full_stack());
}

/// An ARM (Graviton) service runs on on-demand Fargate only: Fargate Spot
/// does not run ARM64 tasks, so a FARGATE_SPOT share would never be placed
/// (the emulator refuses such a service outright).
#[tokio::test(flavor = "multi_thread")]
async fn an_arm_service_uses_on_demand_fargate_only() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.edit_config("platform = \"X86\"", "platform = \"ARM\"");
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let td = ecs.describe_task_definition().task_definition("moodle-moodle").send().await.unwrap();
    let arch = td.task_definition().unwrap().runtime_platform().unwrap().cpu_architecture().unwrap().clone();
    assert_eq!(arch.as_str(), "ARM64");
    let s = ecs.describe_services().cluster("moodle-cluster").services("moodle-service").send().await.unwrap();
    let providers: Vec<&str> =
        s.services()[0].capacity_provider_strategy().iter().map(|i| i.capacity_provider()).collect();
    assert_eq!(providers, vec!["FARGATE"]);
    p.expect(&["plan"], 0);
}

/// A family with more revisions than one page of ListTaskDefinitions holds
/// (AWS pages at 100): `down` deregisters them all, not the first page only.
#[tokio::test(flavor = "multi_thread")]
async fn down_deregisters_every_revision_past_the_first_page() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let td = ecs.describe_task_definition().task_definition("moodle-moodle").send().await.unwrap();
    let td = td.task_definition().unwrap().clone();
    for _ in 0..105 {
        ecs.register_task_definition()
            .family("moodle-moodle")
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_network_mode(td.network_mode().cloned())
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .set_container_definitions(Some(td.container_definitions().to_vec()))
            .send()
            .await
            .unwrap();
    }
    p.expect(&["down", "--yes"], 0);
    let mut active = 0;
    let mut pages = ecs.list_task_definitions().family_prefix("moodle-moodle").into_paginator().send();
    while let Some(page) = pages.next().await {
        active += page.unwrap().task_definition_arns().len();
    }
    assert_eq!(active, 0, "every revision deregistered");
}

/// Cron is its own service: exactly one on-demand task, no load balancer,
/// not autoscaled, replaced stop-first; the web tasks run no cron; `status`
/// shows when the cron task last finished a run; `down` removes it.
#[tokio::test(flavor = "multi_thread")]
async fn cron_runs_as_its_own_service_with_exactly_one_task() {
    let moto = Moto::start();
    let p = Project::new(&moto.url);
    p.expect(&["up", "--yes"], 0);
    let conf = sdk(&moto.url, REGION).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let td = |fam: &'static str| {
        let ecs = ecs.clone();
        async move {
            let o = ecs.describe_task_definition().task_definition(fam).send().await.unwrap();
            o.task_definition().unwrap().container_definitions()[0].clone()
        }
    };
    let web = td("moodle-moodle").await;
    let env = |c: &aws_sdk_ecs::types::ContainerDefinition, n: &str| {
        c.environment().iter().find(|e| e.name() == Some(n)).and_then(|e| e.value()).map(str::to_string)
    };
    assert_eq!(env(&web, "CRON").as_deref(), Some("off"), "the web tasks run no cron");
    let cron = td("moodle-cron").await;
    assert_eq!(cron.command(), ["cron"]);
    assert!(cron.port_mappings().is_empty() && cron.health_check().is_none());
    assert_eq!(cron.image(), web.image());
    let secrets = |c: &aws_sdk_ecs::types::ContainerDefinition| {
        c.secrets().iter().map(|s| (s.name().to_string(), s.value_from().to_string())).collect::<Vec<_>>()
    };
    assert_eq!(secrets(&cron), secrets(&web), "same task secrets");
    assert_eq!(cron.log_configuration().unwrap().options().unwrap()["awslogs-stream-prefix"], "ecs-cron");

    let s = ecs.describe_services().cluster("moodle-cluster").services("moodle-cron").send().await.unwrap();
    let s = s.services()[0].clone();
    assert_eq!((s.status(), s.desired_count()), (Some("ACTIVE"), 1));
    assert!(s.load_balancers().is_empty());
    assert_eq!(s.health_check_grace_period_seconds(), None);
    let providers: Vec<&str> = s.capacity_provider_strategy().iter().map(|i| i.capacity_provider()).collect();
    assert_eq!(providers, ["FARGATE"]);
    let dc = s.deployment_configuration().unwrap();
    assert_eq!((dc.maximum_percent(), dc.minimum_healthy_percent()), (Some(100), Some(0)));
    let tasks = ecs.list_tasks().cluster("moodle-cluster").service_name("moodle-cron").send().await.unwrap();
    assert_eq!(tasks.task_arns().len(), 1, "exactly one cron task");
    // Not autoscaled: the only scalable target is the web service's.
    let aas = aws_sdk_applicationautoscaling::Client::new(&conf);
    let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs;
    let targets = aas.describe_scalable_targets().service_namespace(ns).send().await.unwrap();
    let ids: Vec<&str> = targets.scalable_targets().iter().map(|t| t.resource_id()).collect();
    assert_eq!(ids, ["service/moodle-cluster/moodle-service"]);

    confirm_alert_email(&moto.url);
    let (out, _) = p.expect(&["status", "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["resources"].as_array().unwrap();
    let row = rows.iter().find(|r| r["kind"] == "ecs:service" && r["name"] == "moodle-cron").expect("cron row");
    assert_eq!(row["healthy"], true, "{row}");
    let last = row["details"]["last_cron_run"].as_str().unwrap();
    assert!(last.starts_with("20") && last.ends_with('Z'), "a time: {last}");

    p.expect(&["down", "--yes"], 0);
    let s = ecs.describe_services().cluster("moodle-cluster").services("moodle-cron").send().await;
    assert!(s.map(|o| o.services().iter().all(|s| s.status() == Some("INACTIVE"))).unwrap_or(true));
    assert_eq!(census(&moto.url).await, empty_stack());
}
