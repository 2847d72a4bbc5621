//! Compute tier: the Moodle service on ECS Fargate, with its roles, log group,
//! admin secret, task definition, security group rules and autoscaling.
//!
//! Ordering constraints encoded here:
//! - the task definition needs the log group, both roles, both secrets (their
//!   ARNs are referenced), the DB and Redis endpoints and the EFS access point;
//! - the service needs the task definition, the cluster, the private subnets,
//!   its security group, and the ALB target group *attached to a listener*
//!   (ECS refuses a target group without a load balancer);
//! - the SG rules DB 3306 / EFS 2049 / cache 6379 from the service, and the
//!   service's 8080 from the ALB, need both groups of each pair;
//! - autoscaling needs the service;
//! - teardown: scale to 0, delete the service, wait until INACTIVE, then the
//!   cluster; deregister the task definition revisions; the SG rules go before
//!   either group (a referenced group cannot be deleted).
//!
//! IAM is eventually consistent: a role created seconds ago may not yet be
//! assumable by ECS, so the first use of a new role is retried.

use super::cache::REPLICATION_GROUP;
use super::database::{DB_INSTANCE, DB_NAME, DB_SECRET, DB_USER};
use super::loadbalancer::{CONTAINER_PORT, HEALTH_PATH, TARGET_GROUP};
use super::network::{
    self, destroy_sg, ensure_sg, expected_ingress, iam, inspect_sg, loggroup, private_subnet_ids,
    sync_ingress, SG_SERVICE,
};
use super::storage::{ACCESS_POINT, EFS};
use super::{secrets, TAG_RESOURCE, TAG_STACK};
use crate::aws::{wait_for, Poll};
use crate::config::{DbEngine, Platform};
use crate::engine::{change, Inspection, Outcome, Step, StepCx};
use crate::error::{absent_ok, aws_err, StepError};
use crate::state::Resource;
use async_trait::async_trait;
use aws_sdk_ecs::types as ecs;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::sync::Arc;

pub const LOG_GROUP: &str = "log-group/moodle";
pub const ADMIN_SECRET: &str = "secret/moodle-admin";
pub const EXEC_ROLE: &str = "iam-role/task-execution";
pub const TASK_ROLE: &str = "iam-role/task";
pub const CLUSTER: &str = "ecs/cluster";
pub const TASK_DEF: &str = "ecs/task-definition";
pub const SERVICE: &str = "ecs/service";
pub const SCALING: &str = "autoscaling/target";
pub const CONTAINER: &str = "moodle";
/// Where the image expects the shared `moodledata` (the EFS mount).
pub const MOODLEDATA_PATH: &str = "/var/www/moodledata";

/// The environment contract with the image (`image/entrypoint.sh` reads
/// exactly these; a test checks both sides name the same set).
pub const ENV_NAMES: &[&str] = &[
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
    "MOODLE_DATA_DIR",
];
/// Injected from Secrets Manager by ECS, never in plain text.
pub const SECRET_ENV_NAMES: &[&str] = &["MOODLE_DATABASE_PASSWORD", "MOODLE_PASSWORD"];

pub fn steps() -> Vec<Arc<dyn Step>> {
    vec![
        Arc::new(ServiceStep),
        Arc::new(TaskDefStep),
        Arc::new(LogGroupStep),
        Arc::new(AdminSecretStep),
        Arc::new(ExecRoleStep),
        Arc::new(TaskRoleStep),
        Arc::new(ClusterStep),
        Arc::new(ServiceSgStep),
        Arc::new(SgRulesStep),
        Arc::new(AutoscalingStep),
    ]
}

pub fn cluster_name(cx: &StepCx) -> String {
    cx.cfg.name("cluster")
}
pub fn service_name(cx: &StepCx) -> String {
    cx.cfg.name("service")
}
pub fn family(cx: &StepCx) -> String {
    cx.cfg.name("moodle")
}
pub fn log_group_name(cx: &StepCx) -> String {
    container_log_group(&cx.cfg.stack.name)
}
pub fn container_log_group(stack: &str) -> String {
    format!("/moodlectl/{stack}/moodle")
}
pub fn admin_secret_name(cx: &StepCx) -> String {
    cx.cfg.name("moodle-admin")
}
fn exec_role_name(cx: &StepCx) -> String {
    cx.cfg.name("task-execution")
}
fn task_role_name(cx: &StepCx) -> String {
    cx.cfg.name("task")
}

fn ecs_tags(cx: &StepCx, key: &str) -> Vec<ecs::Tag> {
    [(TAG_STACK, cx.cfg.stack.name.as_str()), (TAG_RESOURCE, key)]
        .iter()
        .map(|(k, v)| ecs::Tag::builder().key(*k).value(*v).build())
        .collect()
}

fn ecs_trust() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    })
}

// ---------------------------------------------------------------- log group, admin secret, roles

struct LogGroupStep;

#[async_trait]
impl Step for LogGroupStep {
    fn id(&self) -> &'static str {
        "compute.log-group"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        loggroup::ensure(
            cx,
            LOG_GROUP,
            &log_group_name(cx),
            cx.cfg.logs.container_retention_days,
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        loggroup::destroy(cx, LOG_GROUP, &log_group_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            loggroup::inspect(
                cx,
                LOG_GROUP,
                &log_group_name(cx),
                cx.cfg.logs.container_retention_days,
            )
            .await?,
        ])
    }
}

struct AdminSecretStep;

#[async_trait]
impl Step for AdminSecretStep {
    fn id(&self) -> &'static str {
        "compute.admin-secret"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(secrets::ensure(
            cx,
            ADMIN_SECRET,
            &admin_secret_name(cx),
            "moodlectl: Moodle admin password",
            |pw| pw.to_string(),
        )
        .await?
        .0)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        secrets::destroy(cx, ADMIN_SECRET, &admin_secret_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            secrets::inspect(cx, ADMIN_SECRET, &admin_secret_name(cx)).await?,
        ])
    }
}

/// Pull from ECR, write logs, read exactly the two secrets.
fn exec_policy(cx: &StepCx) -> serde_json::Value {
    let log_arn = format!(
        "arn:aws:logs:{}:*:log-group:{}",
        cx.aws.region,
        log_group_name(cx)
    );
    let secrets: Vec<String> = [DB_SECRET, ADMIN_SECRET]
        .iter()
        .filter_map(|k| cx.state.id(k))
        .collect();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": format!("{log_arn}:*")},
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secrets}
        ]
    })
}

/// ECS Exec (SSM session channels) so `moodlectl` can run Moodle CLI commands in a task.
fn task_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
            "Resource": "*"
        }]
    })
}

struct ExecRoleStep;

#[async_trait]
impl Step for ExecRoleStep {
    fn id(&self) -> &'static str {
        "compute.execution-role"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["data.db-secret", "compute.admin-secret"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::ensure_role(
            cx,
            EXEC_ROLE,
            &exec_role_name(cx),
            &ecs_trust(),
            "moodle-task-execution",
            &exec_policy(cx),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::destroy_role(cx, EXEC_ROLE, &exec_role_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            iam::inspect_role(cx, EXEC_ROLE, &exec_role_name(cx)).await?,
        ])
    }
}

struct TaskRoleStep;

#[async_trait]
impl Step for TaskRoleStep {
    fn id(&self) -> &'static str {
        "compute.task-role"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::ensure_role(
            cx,
            TASK_ROLE,
            &task_role_name(cx),
            &ecs_trust(),
            "moodle-ecs-exec",
            &task_policy(),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::destroy_role(cx, TASK_ROLE, &task_role_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            iam::inspect_role(cx, TASK_ROLE, &task_role_name(cx)).await?,
        ])
    }
}

// ---------------------------------------------------------------- cluster

async fn find_cluster(cx: &StepCx) -> Result<Option<ecs::Cluster>, StepError> {
    let name = cluster_name(cx);
    let o = cx
        .aws
        .ecs
        .describe_clusters()
        .clusters(&name)
        .include(ecs::ClusterField::Settings)
        .send()
        .await
        .map_err(|e| aws_err("DescribeClusters", &name, e))?;
    Ok(o.clusters()
        .iter()
        .find(|c| c.status() == Some("ACTIVE") || c.status() == Some("PROVISIONING"))
        .cloned())
}

fn strategy(cx: &StepCx) -> Vec<ecs::CapacityProviderStrategyItem> {
    let s = &cx.cfg.service;
    vec![
        ecs::CapacityProviderStrategyItem::builder()
            .capacity_provider("FARGATE_SPOT")
            .weight(s.spot_weight as i32)
            .base(0)
            .build()
            .expect("provider"),
        ecs::CapacityProviderStrategyItem::builder()
            .capacity_provider("FARGATE")
            .weight(s.ondemand_weight as i32)
            .base(s.ondemand_base as i32)
            .build()
            .expect("provider"),
    ]
}

fn strategy_sig(items: &[ecs::CapacityProviderStrategyItem]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| format!("{}:{}:{}", i.capacity_provider(), i.weight(), i.base()))
        .collect();
    v.sort();
    v
}

struct ClusterStep;

#[async_trait]
impl Step for ClusterStep {
    fn id(&self) -> &'static str {
        "compute.cluster"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cluster_name(cx);
        let insights = ecs::ClusterSetting::builder()
            .name(ecs::ClusterSettingName::ContainerInsights)
            .value("enabled")
            .build();
        match find_cluster(cx).await? {
            Some(c) => {
                cx.record(
                    CLUSTER,
                    Resource::new("ecs:cluster", c.cluster_arn().unwrap_or_default())
                        .with("name", &name),
                )?;
                let mut changes = vec![];
                let on = c.settings().iter().any(|s| {
                    s.name() == Some(&ecs::ClusterSettingName::ContainerInsights)
                        && s.value() == Some("enabled")
                });
                if !on {
                    changes.push(change("container_insights", "disabled", "enabled"));
                    if !cx.dry_run {
                        cx.aws
                            .ecs
                            .update_cluster_settings()
                            .cluster(&name)
                            .settings(insights)
                            .send()
                            .await
                            .map_err(|e| aws_err("UpdateClusterSettings", &name, e))?;
                    }
                }
                let mut providers: Vec<&str> =
                    c.capacity_providers().iter().map(|s| s.as_str()).collect();
                providers.sort();
                if providers != ["FARGATE", "FARGATE_SPOT"]
                    || strategy_sig(c.default_capacity_provider_strategy())
                        != strategy_sig(&strategy(cx))
                {
                    changes.push(change(
                        "capacity_providers",
                        providers.join(","),
                        "FARGATE,FARGATE_SPOT",
                    ));
                    if !cx.dry_run {
                        cx.aws
                            .ecs
                            .put_cluster_capacity_providers()
                            .cluster(&name)
                            .capacity_providers("FARGATE")
                            .capacity_providers("FARGATE_SPOT")
                            .set_default_capacity_provider_strategy(Some(strategy(cx)))
                            .send()
                            .await
                            .map_err(|e| aws_err("PutClusterCapacityProviders", &name, e))?;
                    }
                }
                Ok(if changes.is_empty() {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated(changes)
                })
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let o = cx
                    .aws
                    .ecs
                    .create_cluster()
                    .cluster_name(&name)
                    .settings(insights)
                    .capacity_providers("FARGATE")
                    .capacity_providers("FARGATE_SPOT")
                    .set_default_capacity_provider_strategy(Some(strategy(cx)))
                    .set_tags(Some(ecs_tags(cx, CLUSTER)))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateCluster", &name, e))?;
                cx.record_new(
                    CLUSTER,
                    Resource::new(
                        "ecs:cluster",
                        o.cluster()
                            .and_then(|c| c.cluster_arn())
                            .unwrap_or_default(),
                    )
                    .with("name", &name),
                )?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cluster_name(cx);
        let out = match find_cluster(cx).await? {
            Some(_) => {
                super::retry_while_in_use(cx, "DeleteCluster", &name, || {
                    cx.aws.ecs.delete_cluster().cluster(&name).send()
                })
                .await?
            }
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(CLUSTER)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cluster_name(cx);
        Ok(vec![match find_cluster(cx).await? {
            Some(c) => Inspection::new(
                "ecs:cluster",
                &name,
                c.cluster_arn().map(str::to_string),
                c.status().unwrap_or("?"),
                c.status() == Some("ACTIVE"),
            )
            .detail("running_tasks", c.running_tasks_count().to_string())
            .detail("capacity_providers", c.capacity_providers().join(",")),
            None => Inspection::missing("ecs:cluster", &name, cx.state.id(CLUSTER)),
        }])
    }
}

// ---------------------------------------------------------------- security groups

struct ServiceSgStep;

#[async_trait]
impl Step for ServiceSgStep {
    fn id(&self) -> &'static str {
        "compute.service-sg"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc", "edge.alb-sg"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let ingress = expected_ingress(cx, SG_SERVICE);
        ensure_sg(
            cx,
            SG_SERVICE,
            "service-sg",
            "moodlectl: Moodle service tasks",
            Some(&ingress),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_sg(cx, SG_SERVICE).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            inspect_sg(
                cx,
                SG_SERVICE,
                "service-sg",
                &expected_ingress(cx, SG_SERVICE),
            )
            .await?,
        ])
    }
}

/// The data tier's groups admit the service (3306, 2049, 6379) and nothing else.
struct SgRulesStep;

const DATA_SGS: [(&str, &str); 3] = [
    ("sg/db", "db-sg"),
    ("sg/efs", "efs-sg"),
    ("sg/cache", "cache-sg"),
];

#[async_trait]
impl Step for SgRulesStep {
    fn id(&self) -> &'static str {
        "compute.sg-rules"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[
            "compute.service-sg",
            "data.db-sg",
            "data.efs-sg",
            "data.cache-sg",
        ]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let mut out = Outcome::Unchanged;
        for (key, suffix) in DATA_SGS {
            let o = sync_ingress(cx, key, suffix, &expected_ingress(cx, key)).await?;
            out = out.merge(o);
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        // Revoke every rule, so the service group is no longer referenced.
        let mut out = Outcome::AlreadyAbsent;
        for (key, suffix) in DATA_SGS {
            if network::find_sg(cx, key).await?.is_some() {
                out = out.merge(match sync_ingress(cx, key, suffix, &[]).await? {
                    Outcome::Updated(_) => Outcome::Deleted,
                    _ => Outcome::AlreadyAbsent,
                });
            }
        }
        Ok(out)
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        // Reported on the groups' own rows (data tier), against expected_ingress.
        Ok(vec![])
    }
}

// ---------------------------------------------------------------- task definition

fn db_type(e: DbEngine) -> &'static str {
    match e {
        DbEngine::Mysql => "mysqli",
        DbEngine::Mariadb => "mariadb",
        DbEngine::AuroraMysql | DbEngine::AuroraServerless => "auroramysql",
    }
}

/// The plain environment of the container, in `ENV_NAMES` order.
pub fn environment(cx: &StepCx) -> Result<Vec<(String, String)>, StepError> {
    let attr = |k: &str, a: &str, step: &'static str| cx.require_attr(k, a, step);
    let c = &cx.cfg;
    let v = vec![
        db_type(c.database.engine).to_string(),
        attr(DB_INSTANCE, "host", "data.db-instance")?,
        attr(DB_INSTANCE, "port", "data.db-instance")?,
        DB_NAME.to_string(),
        DB_USER.to_string(),
        c.moodle.admin_user.clone(),
        c.moodle.admin_email.clone(),
        c.moodle.site_name.clone(),
        c.domain.name.clone(),
        attr(REPLICATION_GROUP, "host", "data.redis")?,
        attr(REPLICATION_GROUP, "port", "data.redis")?,
        attr(REPLICATION_GROUP, "tls", "data.redis")?,
        MOODLEDATA_PATH.to_string(),
    ];
    Ok(ENV_NAMES.iter().map(|s| s.to_string()).zip(v).collect())
}

/// The container health check: the image's health endpoint, which names the
/// part of the site that fails (the Dockerfile's HEALTHCHECK is ignored by ECS).
fn health_check_command() -> Vec<String> {
    vec![
        "CMD-SHELL".into(),
        format!("curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:{CONTAINER_PORT}{HEALTH_PATH} || exit 1"),
    ]
}

/// The desired task definition, as a comparable signature and the register request.
struct TaskSpec {
    sig: Vec<String>,
}

fn task_spec(cx: &StepCx) -> Result<(TaskSpec, aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder), StepError>{
    let c = &cx.cfg;
    let env = environment(cx)?;
    let db_secret = cx.require(DB_SECRET, "data.db-secret")?;
    let admin_secret = cx.require(ADMIN_SECRET, "compute.admin-secret")?;
    let secrets = [
        (
            "MOODLE_DATABASE_PASSWORD",
            format!("{db_secret}:password::"),
        ),
        ("MOODLE_PASSWORD", admin_secret),
    ];
    let exec_role = cx.require_attr(EXEC_ROLE, "arn", "compute.execution-role")?;
    let task_role = cx.require_attr(TASK_ROLE, "arn", "compute.task-role")?;
    let fs = cx.require(EFS, "data.efs")?;
    let ap = cx.require(ACCESS_POINT, "data.efs-access-point")?;
    let arch = match c.service.platform {
        Platform::X86 => "X86_64",
        Platform::ARM => "ARM64",
    };
    let mut sig = vec![
        format!("image={}", c.image.uri),
        format!("cpu={}", c.service.cpu),
        format!("memory={}", c.service.memory_mib),
        format!("arch={arch}"),
        format!("exec={exec_role}"),
        format!("task={task_role}"),
        format!("efs={fs}/{ap}"),
        format!("logs={}", log_group_name(cx)),
        format!("healthcheck={}", health_check_command().join(" ")),
    ];
    sig.extend(env.iter().map(|(k, v)| format!("env {k}={v}")));
    sig.extend(secrets.iter().map(|(k, v)| format!("secret {k}={v}")));
    sig.sort();

    let container = ecs::ContainerDefinition::builder()
        .name(CONTAINER)
        .image(&c.image.uri)
        .essential(true)
        .port_mappings(
            ecs::PortMapping::builder()
                .container_port(CONTAINER_PORT)
                .protocol(ecs::TransportProtocol::Tcp)
                .build(),
        )
        .stop_timeout(120)
        .health_check(
            ecs::HealthCheck::builder()
                .set_command(Some(health_check_command()))
                .interval(30)
                .timeout(10)
                .retries(3)
                // ECS's maximum; the service's grace period covers a first install.
                .start_period(300)
                .build()
                .expect("command set"),
        )
        .log_configuration(
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::Awslogs)
                .options("awslogs-group", log_group_name(cx))
                .options("awslogs-region", &cx.aws.region)
                .options("awslogs-stream-prefix", "ecs-moodle")
                .build()
                .expect("driver"),
        )
        .mount_points(
            ecs::MountPoint::builder()
                .source_volume("moodle")
                .container_path(MOODLEDATA_PATH)
                .read_only(false)
                .build(),
        )
        .set_environment(Some(
            env.iter()
                .map(|(k, v)| ecs::KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .set_secrets(Some(
            secrets
                .iter()
                .map(|(k, v)| {
                    ecs::Secret::builder()
                        .name(*k)
                        .value_from(v)
                        .build()
                        .expect("name and valueFrom")
                })
                .collect(),
        ))
        .build();
    let volume = ecs::Volume::builder()
        .name("moodle")
        .efs_volume_configuration(
            ecs::EfsVolumeConfiguration::builder()
                .file_system_id(fs)
                .transit_encryption(ecs::EfsTransitEncryption::Enabled)
                .authorization_config(
                    ecs::EfsAuthorizationConfig::builder()
                        .access_point_id(ap)
                        .iam(ecs::EfsAuthorizationConfigIam::Enabled)
                        .build(),
                )
                .build()
                .expect("file system id"),
        )
        .build();
    let req = cx
        .aws
        .ecs
        .register_task_definition()
        .family(family(cx))
        .task_role_arn(task_role)
        .execution_role_arn(exec_role)
        .network_mode(ecs::NetworkMode::Awsvpc)
        .requires_compatibilities(ecs::Compatibility::Fargate)
        .cpu(c.service.cpu.to_string())
        .memory(c.service.memory_mib.to_string())
        .runtime_platform(
            ecs::RuntimePlatform::builder()
                .cpu_architecture(ecs::CpuArchitecture::from(arch))
                .operating_system_family(ecs::OsFamily::Linux)
                .build(),
        )
        .container_definitions(container)
        .volumes(volume)
        .set_tags(Some(ecs_tags(cx, TASK_DEF)));
    Ok((TaskSpec { sig }, req))
}

/// The signature of a live task definition, comparable with `TaskSpec::sig`.
fn live_sig(td: &ecs::TaskDefinition) -> Vec<String> {
    let mut sig = vec![];
    let Some(c) = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(CONTAINER))
    else {
        return sig;
    };
    sig.push(format!("image={}", c.image().unwrap_or_default()));
    sig.push(format!("cpu={}", td.cpu().unwrap_or_default()));
    sig.push(format!("memory={}", td.memory().unwrap_or_default()));
    sig.push(format!(
        "arch={}",
        td.runtime_platform()
            .and_then(|r| r.cpu_architecture())
            .map(|a| a.as_str())
            .unwrap_or("X86_64")
    ));
    sig.push(format!(
        "exec={}",
        td.execution_role_arn().unwrap_or_default()
    ));
    sig.push(format!("task={}", td.task_role_arn().unwrap_or_default()));
    if let Some(e) = td
        .volumes()
        .iter()
        .find_map(|v| v.efs_volume_configuration())
    {
        sig.push(format!(
            "efs={}/{}",
            e.file_system_id(),
            e.authorization_config()
                .and_then(|a| a.access_point_id())
                .unwrap_or_default()
        ));
    }
    sig.push(format!(
        "logs={}",
        c.log_configuration()
            .and_then(|l| l.options())
            .and_then(|o| o.get("awslogs-group"))
            .cloned()
            .unwrap_or_default()
    ));
    sig.push(format!(
        "healthcheck={}",
        c.health_check()
            .map(|h| h.command().join(" "))
            .unwrap_or_default()
    ));
    sig.extend(c.environment().iter().map(|kv| {
        format!(
            "env {}={}",
            kv.name().unwrap_or_default(),
            kv.value().unwrap_or_default()
        )
    }));
    sig.extend(
        c.secrets()
            .iter()
            .map(|s| format!("secret {}={}", s.name(), s.value_from())),
    );
    sig.sort();
    sig
}

async fn latest_task_def(cx: &StepCx) -> Result<Option<ecs::TaskDefinition>, StepError> {
    let fam = family(cx);
    match cx
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(&fam)
        .send()
        .await
    {
        Ok(o) => Ok(o
            .task_definition()
            .filter(|t| t.status() == Some(&ecs::TaskDefinitionStatus::Active))
            .cloned()),
        // ECS answers ClientException for an unknown family.
        Err(e) if e.code() == Some("ClientException") || crate::error::sdk_not_found(&e) => {
            Ok(None)
        }
        Err(e) => Err(aws_err("DescribeTaskDefinition", &fam, e)),
    }
}

/// Retry a call that fails while IAM has not yet propagated a new role.
async fn retry_iam<T, E, F, Fut>(
    cx: &StepCx,
    op: &str,
    what: &str,
    mut call: F,
) -> Result<T, StepError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<
        Output = Result<
            T,
            aws_smithy_runtime_api::client::result::SdkError<
                E,
                aws_smithy_runtime_api::client::orchestrator::HttpResponse,
            >,
        >,
    >,
{
    let timeout = cx.wait_timeout.min(std::time::Duration::from_secs(120));
    wait_for(cx, &format!("{op} {what}"), timeout, || {
        let fut = call();
        async move {
            match fut.await {
                Ok(v) => Ok(Poll::Ready(v)),
                Err(e) => {
                    let msg = e.message().unwrap_or_default().to_ascii_lowercase();
                    if e.code() == Some("InvalidParameterException")
                        && (msg.contains("assume") || msg.contains("role"))
                    {
                        Ok(Poll::Pending("IAM role not yet assumable, retrying".into()))
                    } else {
                        Err(aws_err(op, what, e))
                    }
                }
            }
        }
    })
    .await
}

struct TaskDefStep;

#[async_trait]
impl Step for TaskDefStep {
    fn id(&self) -> &'static str {
        "compute.task-definition"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[
            "compute.log-group",
            "compute.execution-role",
            "compute.task-role",
            "compute.admin-secret",
            "data.db-instance",
            "data.db-secret",
            "data.redis",
            "data.efs-access-point",
        ]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let live = latest_task_def(cx).await?;
        let spec = task_spec(cx);
        let (spec, req) = match spec {
            Ok(s) => s,
            Err(_) if cx.dry_run => {
                return Ok(if live.is_some() {
                    Outcome::Updated(vec!["task definition (dependencies pending)".into()])
                } else {
                    Outcome::Created
                })
            }
            Err(e) => return Err(e),
        };
        if let Some(td) = &live {
            let arn = td.task_definition_arn().unwrap_or_default().to_string();
            if live_sig(td) == spec.sig {
                cx.record(TASK_DEF, Resource::new("ecs:task-definition", &arn))?;
                return Ok(Outcome::Unchanged);
            }
        }
        let changes: Vec<String> = match &live {
            Some(td) => {
                let old = live_sig(td);
                spec.sig
                    .iter()
                    .filter(|s| !old.contains(s))
                    .map(|s| format!("new revision: {s}"))
                    .collect()
            }
            None => vec![],
        };
        if cx.dry_run {
            return Ok(if live.is_some() {
                Outcome::Updated(changes)
            } else {
                Outcome::Created
            });
        }
        let o = retry_iam(cx, "RegisterTaskDefinition", &family(cx), || {
            req.clone().send()
        })
        .await?;
        let arn = o
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .unwrap_or_default()
            .to_string();
        cx.record_new(TASK_DEF, Resource::new("ecs:task-definition", &arn))?;
        Ok(if live.is_some() {
            Outcome::Updated(changes)
        } else {
            Outcome::Created
        })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let fam = family(cx);
        let o = cx
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(&fam)
            .status(ecs::TaskDefinitionStatus::Active)
            .send()
            .await
            .map_err(|e| aws_err("ListTaskDefinitions", &fam, e))?;
        let mut out = Outcome::AlreadyAbsent;
        // The family is ours: every active revision was registered by moodlectl.
        for arn in o
            .task_definition_arns()
            .iter()
            .filter(|a| a.contains(&format!("task-definition/{fam}:")))
        {
            out = out.merge(super::deleted(
                "DeregisterTaskDefinition",
                arn,
                cx.aws
                    .ecs
                    .deregister_task_definition()
                    .task_definition(arn)
                    .send()
                    .await,
            )?);
        }
        cx.forget(TASK_DEF)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let fam = family(cx);
        Ok(vec![match latest_task_def(cx).await? {
            Some(td) => {
                let mut i = Inspection::new(
                    "ecs:task-definition",
                    format!("{fam}:{}", td.revision()),
                    td.task_definition_arn().map(str::to_string),
                    "ACTIVE",
                    true,
                )
                .detail(
                    "image",
                    td.container_definitions()
                        .first()
                        .and_then(|c| c.image())
                        .unwrap_or_default(),
                );
                if let Ok((spec, _)) = task_spec(cx) {
                    if live_sig(&td) != spec.sig {
                        i.drift = Some("differs from config (a new revision is pending)".into());
                    }
                }
                i
            }
            None => Inspection::missing("ecs:task-definition", &fam, cx.state.id(TASK_DEF)),
        }])
    }
}

// ---------------------------------------------------------------- service

pub async fn find_service(cx: &StepCx) -> Result<Option<ecs::Service>, StepError> {
    let (cluster, name) = (cluster_name(cx), service_name(cx));
    let r = absent_ok(
        "DescribeServices",
        &name,
        cx.aws
            .ecs
            .describe_services()
            .cluster(&cluster)
            .services(&name)
            .send()
            .await,
    )?;
    Ok(r.and_then(|o| {
        o.services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .cloned()
    }))
}

fn last_events(s: &ecs::Service, n: usize) -> Vec<String> {
    s.events()
        .iter()
        .take(n)
        .filter_map(|e| e.message().map(str::to_string))
        .collect()
}

async fn wait_stable(cx: &StepCx) -> Result<(), StepError> {
    let name = service_name(cx);
    wait_for(cx, &format!("service {name}"), cx.wait_timeout, || async {
        let Some(s) = find_service(cx).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        let primary = s
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        let state = primary
            .and_then(|d| d.rollout_state())
            .map(|r| r.as_str().to_string())
            .unwrap_or_default();
        let progress = format!(
            "running {}/{} (pending {}), rollout {}",
            s.running_count(),
            s.desired_count(),
            s.pending_count(),
            if state.is_empty() { "?" } else { &state }
        );
        match state.as_str() {
            "COMPLETED" if s.running_count() >= s.desired_count() && s.deployments().len() == 1 => {
                Ok(Poll::Ready(()))
            }
            "FAILED" => Err(StepError::BadState {
                resource: format!(
                    "service {name} (rollout failed, circuit breaker rolled back; last events: {})",
                    last_events(&s, 5).join(" | ")
                ),
                state: "FAILED".into(),
                wanted: "COMPLETED".into(),
            }),
            _ => Ok(Poll::Pending(progress)),
        }
    })
    .await
}

/// Autoscaling moves the desired count within [desired_count, max_count];
/// `up` only corrects it when it is outside those bounds.
fn desired_target(cx: &StepCx, live: i32) -> i32 {
    let s = &cx.cfg.service;
    live.clamp(s.desired_count as i32, s.max_count as i32)
}

struct ServiceStep;

#[async_trait]
impl Step for ServiceStep {
    fn id(&self) -> &'static str {
        "compute.service"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[
            "compute.task-definition",
            "compute.cluster",
            "compute.service-sg",
            "compute.sg-rules",
            "edge.listeners",
            "network.subnets",
            "network.nat-routes",
            "network.interface-endpoints",
        ]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (cluster, name) = (cluster_name(cx), service_name(cx));
        let s_cfg = &cx.cfg.service;
        let out = match find_service(cx).await? {
            Some(s) => {
                cx.record(
                    SERVICE,
                    Resource::new("ecs:service", s.service_arn().unwrap_or_default())
                        .with("name", &name),
                )?;
                let td = cx.state.id(TASK_DEF);
                let mut changes = vec![];
                let mut req = cx.aws.ecs.update_service().cluster(&cluster).service(&name);
                if let Some(td) = td
                    .as_ref()
                    .filter(|td| s.task_definition() != Some(td.as_str()))
                {
                    changes.push(change(
                        "task_definition",
                        s.task_definition()
                            .unwrap_or("?")
                            .rsplit('/')
                            .next()
                            .unwrap_or("?"),
                        td.rsplit('/').next().unwrap_or("?"),
                    ));
                    req = req.task_definition(td);
                }
                let want = desired_target(cx, s.desired_count());
                if s.desired_count() != want {
                    changes.push(change("desired_count", s.desired_count(), want));
                    req = req.desired_count(want);
                }
                if s.health_check_grace_period_seconds()
                    != Some(s_cfg.health_check_grace_seconds as i32)
                {
                    changes.push(change(
                        "health_check_grace_seconds",
                        s.health_check_grace_period_seconds().unwrap_or(0),
                        s_cfg.health_check_grace_seconds,
                    ));
                    req = req
                        .health_check_grace_period_seconds(s_cfg.health_check_grace_seconds as i32);
                }
                if strategy_sig(s.capacity_provider_strategy()) != strategy_sig(&strategy(cx)) {
                    changes.push("capacity provider strategy".into());
                    req = req
                        .set_capacity_provider_strategy(Some(strategy(cx)))
                        .force_new_deployment(true);
                }
                if !s.enable_execute_command() {
                    changes.push(change("enable_execute_command", false, true));
                    req = req.enable_execute_command(true);
                }
                if changes.is_empty() {
                    Outcome::Unchanged
                } else {
                    if !cx.dry_run {
                        req.send()
                            .await
                            .map_err(|e| aws_err("UpdateService", &name, e))?;
                    }
                    Outcome::Updated(changes)
                }
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let net = ecs::NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        ecs::AwsVpcConfiguration::builder()
                            .set_subnets(Some(private_subnet_ids(cx)?))
                            .security_groups(cx.require(SG_SERVICE, "compute.service-sg")?)
                            .assign_public_ip(ecs::AssignPublicIp::Disabled)
                            .build()
                            .expect("subnets"),
                    )
                    .build();
                let req = cx
                    .aws
                    .ecs
                    .create_service()
                    .cluster(&cluster)
                    .service_name(&name)
                    .task_definition(cx.require(TASK_DEF, "compute.task-definition")?)
                    .desired_count(s_cfg.desired_count as i32)
                    .set_capacity_provider_strategy(Some(strategy(cx)))
                    .network_configuration(net)
                    .load_balancers(
                        ecs::LoadBalancer::builder()
                            .target_group_arn(cx.require(TARGET_GROUP, "edge.target-group")?)
                            .container_name(CONTAINER)
                            .container_port(CONTAINER_PORT)
                            .build(),
                    )
                    .health_check_grace_period_seconds(s_cfg.health_check_grace_seconds as i32)
                    .deployment_configuration(
                        ecs::DeploymentConfiguration::builder()
                            .maximum_percent(200)
                            .minimum_healthy_percent(50)
                            .deployment_circuit_breaker(
                                ecs::DeploymentCircuitBreaker::builder()
                                    .enable(true)
                                    .rollback(true)
                                    .build(),
                            )
                            .build(),
                    )
                    .enable_ecs_managed_tags(true)
                    .propagate_tags(ecs::PropagateTags::Service)
                    .enable_execute_command(true)
                    .client_token(cx.token(SERVICE))
                    .set_tags(Some(ecs_tags(cx, SERVICE)));
                let o = retry_iam(cx, "CreateService", &name, || req.clone().send()).await?;
                cx.record_new(
                    SERVICE,
                    Resource::new(
                        "ecs:service",
                        o.service()
                            .and_then(|s| s.service_arn())
                            .unwrap_or_default(),
                    )
                    .with("name", &name),
                )?;
                Outcome::Created
            }
        };
        if !cx.dry_run {
            wait_stable(cx).await?;
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (cluster, name) = (cluster_name(cx), service_name(cx));
        let out = match find_service(cx).await? {
            Some(s) => {
                if s.status() == Some("ACTIVE") {
                    if s.desired_count() > 0 {
                        cx.progress("scaling to 0");
                        cx.aws
                            .ecs
                            .update_service()
                            .cluster(&cluster)
                            .service(&name)
                            .desired_count(0)
                            .send()
                            .await
                            .map_err(|e| aws_err("UpdateService", &name, e))?;
                    }
                    super::deleted(
                        "DeleteService",
                        &name,
                        cx.aws
                            .ecs
                            .delete_service()
                            .cluster(&cluster)
                            .service(&name)
                            .send()
                            .await,
                    )?
                } else {
                    Outcome::Deleted // DRAINING from an earlier run
                }
            }
            None => Outcome::AlreadyAbsent,
        };
        // The cluster can only go once the service is INACTIVE.
        wait_for(
            cx,
            &format!("service {name} to become INACTIVE"),
            cx.wait_timeout,
            || async {
                Ok(match find_service(cx).await? {
                    None => Poll::Ready(()),
                    Some(s) => Poll::Pending(format!(
                        "{} (running {})",
                        s.status().unwrap_or("?"),
                        s.running_count()
                    )),
                })
            },
        )
        .await?;
        cx.forget(SERVICE)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = service_name(cx);
        Ok(vec![match find_service(cx).await? {
            Some(s) => {
                let rollout = s
                    .deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
                    .and_then(|d| d.rollout_state())
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default();
                let healthy = s.running_count() >= s.desired_count()
                    && s.desired_count() > 0
                    && rollout != "FAILED";
                let mut i = Inspection::new(
                    "ecs:service",
                    &name,
                    s.service_arn().map(str::to_string),
                    format!(
                        "running {}/{} (pending {}), {rollout}",
                        s.running_count(),
                        s.desired_count(),
                        s.pending_count()
                    ),
                    healthy,
                )
                .detail("running", s.running_count().to_string())
                .detail("desired", s.desired_count().to_string())
                .detail("deployments", s.deployments().len().to_string())
                .detail("last_events", last_events(&s, 3).join(" | "));
                let want = desired_target(cx, s.desired_count());
                if want != s.desired_count() {
                    i.drift = Some(format!(
                        "desired count {} outside [{}, {}]",
                        s.desired_count(),
                        cx.cfg.service.desired_count,
                        cx.cfg.service.max_count
                    ));
                }
                i
            }
            None => Inspection::missing("ecs:service", &name, cx.state.id(SERVICE)),
        }])
    }
}

// ---------------------------------------------------------------- autoscaling

fn resource_id(cx: &StepCx) -> String {
    format!("service/{}/{}", cluster_name(cx), service_name(cx))
}
fn policy_name(cx: &StepCx) -> String {
    cx.cfg.name("cpu-target")
}

struct AutoscalingStep;

#[async_trait]
impl Step for AutoscalingStep {
    fn id(&self) -> &'static str {
        "compute.autoscaling"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["compute.service"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        use aws_sdk_applicationautoscaling::types as aas;
        let rid = resource_id(cx);
        let (min, max) = (
            cx.cfg.service.desired_count as i32,
            cx.cfg.service.max_count as i32,
        );
        let target = cx.cfg.service.cpu_target_percent as f64;
        let t = cx
            .aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_ids(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalableTargets", &rid, e))?;
        let live = t.scalable_targets().first();
        let mut out = match live {
            Some(t) if t.min_capacity() == min && t.max_capacity() == max => Outcome::Unchanged,
            Some(t) => Outcome::Updated(vec![change(
                "autoscaling bounds",
                format!("{}..{}", t.min_capacity(), t.max_capacity()),
                format!("{min}..{max}"),
            )]),
            None => Outcome::Created,
        };
        if out != Outcome::Unchanged && !cx.dry_run {
            cx.aws
                .autoscaling
                .register_scalable_target()
                .service_namespace(aas::ServiceNamespace::Ecs)
                .resource_id(&rid)
                .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                .min_capacity(min)
                .max_capacity(max)
                .send()
                .await
                .map_err(|e| aws_err("RegisterScalableTarget", &rid, e))?;
        }
        cx.record(SCALING, Resource::new("autoscaling:scalable-target", &rid))?;
        let p = cx
            .aws
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_id(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalingPolicies", &rid, e))?;
        let live_target = p
            .scaling_policies()
            .iter()
            .find(|p| p.policy_name() == policy_name(cx))
            .and_then(|p| p.target_tracking_scaling_policy_configuration())
            .map(|c| c.target_value());
        if live_target != Some(target) {
            if out == Outcome::Unchanged {
                out = Outcome::Updated(vec![change(
                    "cpu_target_percent",
                    live_target.map(|v| v.to_string()).unwrap_or("none".into()),
                    target,
                )]);
            }
            if !cx.dry_run {
                let cfg = aas::TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(target)
                    .predefined_metric_specification(
                        aas::PredefinedMetricSpecification::builder()
                            .predefined_metric_type(
                                aas::MetricType::EcsServiceAverageCpuUtilization,
                            )
                            .build()
                            .expect("metric"),
                    )
                    .build()
                    .expect("target");
                cx.aws
                    .autoscaling
                    .put_scaling_policy()
                    .policy_name(policy_name(cx))
                    .service_namespace(aas::ServiceNamespace::Ecs)
                    .resource_id(&rid)
                    .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                    .policy_type(aas::PolicyType::TargetTrackingScaling)
                    .target_tracking_scaling_policy_configuration(cfg)
                    .send()
                    .await
                    .map_err(|e| aws_err("PutScalingPolicy", &rid, e))?;
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        use aws_sdk_applicationautoscaling::types as aas;
        let rid = resource_id(cx);
        let t = cx
            .aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_ids(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalableTargets", &rid, e))?;
        let mut out = Outcome::AlreadyAbsent;
        if !t.scalable_targets().is_empty() {
            let p = cx
                .aws
                .autoscaling
                .describe_scaling_policies()
                .service_namespace(aas::ServiceNamespace::Ecs)
                .resource_id(&rid)
                .send()
                .await
                .map_err(|e| aws_err("DescribeScalingPolicies", &rid, e))?;
            for pol in p.scaling_policies() {
                super::deleted(
                    "DeleteScalingPolicy",
                    &rid,
                    cx.aws
                        .autoscaling
                        .delete_scaling_policy()
                        .policy_name(pol.policy_name())
                        .service_namespace(aas::ServiceNamespace::Ecs)
                        .resource_id(&rid)
                        .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                        .send()
                        .await,
                )?;
            }
            out = super::deleted(
                "DeregisterScalableTarget",
                &rid,
                cx.aws
                    .autoscaling
                    .deregister_scalable_target()
                    .service_namespace(aas::ServiceNamespace::Ecs)
                    .resource_id(&rid)
                    .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                    .send()
                    .await,
            )?;
        }
        cx.forget(SCALING)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        use aws_sdk_applicationautoscaling::types as aas;
        let rid = resource_id(cx);
        let t = cx
            .aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_ids(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalableTargets", &rid, e))?;
        Ok(vec![match t.scalable_targets().first() {
            Some(t) => {
                let mut i = Inspection::new(
                    "autoscaling:scalable-target",
                    &rid,
                    Some(rid.clone()),
                    format!("min {} max {}", t.min_capacity(), t.max_capacity()),
                    true,
                );
                if (t.min_capacity(), t.max_capacity())
                    != (
                        cx.cfg.service.desired_count as i32,
                        cx.cfg.service.max_count as i32,
                    )
                {
                    i.drift = Some("bounds differ from config".into());
                }
                i
            }
            None => Inspection::missing("autoscaling:scalable-target", &rid, cx.state.id(SCALING)),
        }])
    }
}
