//! The task definitions of both services (`Role`): CPU/memory/platform, the
//! container with its environment and secrets (the contract with the image),
//! its log configuration, health check and EFS volume. The web container
//! serves on the container port with the health check and runs no cron
//! (`CRON=off`); the cron container runs the image's `cron` mode (Moodle's
//! cron once a minute, in the foreground) with neither.
//!
//! It needs the log group, both roles, both secrets, the DB and Redis
//! endpoints and the access point. A new revision is registered only when
//! something in it changed.
//!
//! Eventual consistency: `RegisterTaskDefinition` naming the execution and
//! task roles created a moment earlier is refused until IAM has propagated
//! them (`transient::TASK_DEFINITION_ROLES`).

use super::*;
use crate::config::{DbEngine, Platform};
use crate::resources::data::ACCESS_POINT;
use crate::resources::data::DB_INSTANCE;
use crate::resources::data::DB_NAME;
use crate::resources::data::DB_SECRET;
use crate::resources::data::DB_USER;
use crate::resources::data::EFS;
use crate::resources::data::REPLICATION_GROUP;
use crate::resources::edge::CONTAINER_PORT;
use crate::resources::edge::HEALTH_PATH;
use crate::resources::prelude::*;
use aws_sdk_ecs::types as ecs;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

// ---------------------------------------------------------------- task definition

pub(crate) fn db_type(e: DbEngine) -> &'static str {
    match e {
        DbEngine::Mysql => "mysqli",
        DbEngine::Mariadb => "mariadb",
        DbEngine::AuroraMysql | DbEngine::AuroraServerless => "auroramysql",
    }
}

/// The plain environment of the container, in `ENV_NAMES` order.
pub fn environment(cx: &StepCx) -> Result<Vec<(String, String)>, StepError> {
    let attr = |k: &str, a: &str, step: StepId| cx.require_attr(k, a, step);
    let c = &cx.cfg;
    let v = vec![
        db_type(c.database.engine).to_string(),
        attr(DB_INSTANCE, "host", ids::DATA_DB_INSTANCE)?,
        attr(DB_INSTANCE, "port", ids::DATA_DB_INSTANCE)?,
        DB_NAME.to_string(),
        DB_USER.to_string(),
        c.database.require_tls.to_string(),
        c.moodle.admin_user.clone(),
        c.moodle.admin_email.clone(),
        c.moodle.site_name.clone(),
        c.domain.name.clone(),
        attr(REPLICATION_GROUP, "host", ids::DATA_REDIS)?,
        attr(REPLICATION_GROUP, "port", ids::DATA_REDIS)?,
        attr(REPLICATION_GROUP, "tls", ids::DATA_REDIS)?,
        MOODLEDATA_PATH.to_string(),
    ];
    Ok(ENV_NAMES.iter().map(|s| s.to_string()).zip(v).collect())
}

/// The container health check: the image's health endpoint, which names the
/// part of the site that fails (the Dockerfile's HEALTHCHECK is ignored by ECS).
pub(crate) fn health_check_command() -> Vec<String> {
    vec![
        "CMD-SHELL".into(),
        format!("curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:{CONTAINER_PORT}{HEALTH_PATH} || exit 1"),
    ]
}

/// The awslogs driver in non-blocking mode: when CloudWatch Logs is slow or
/// throttled, log lines wait in a buffer (and the oldest are dropped when it
/// is full) instead of blocking the container's writes — a blocked stdout
/// stalls Apache and cron. The buffer is the driver's documented default size.
pub const LOG_MODE: &str = "non-blocking";
pub const LOG_BUFFER: &str = "25m";

/// The desired task definition, as a comparable signature and the register request.
pub(crate) struct TaskSpec {
    sig: Vec<String>,
}

pub(crate) fn task_spec(
    cx: &StepCx,
    role: Role,
) -> Result<
    (TaskSpec, aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder),
    StepError,
> {
    let c = &cx.cfg;
    let mut env = environment(cx)?;
    if role == Role::Web {
        // Cron is the cron service's job: one run a minute for the site, not one per web task.
        env.push(("CRON".into(), "off".into()));
    }
    let command: Vec<String> = match role {
        Role::Web => vec![],
        Role::Cron => vec!["cron".into()],
    };
    let health = match role {
        Role::Web => health_check_command().join(" "),
        Role::Cron => String::new(),
    };
    let group = log_group_name(cx);
    let db_secret = cx.require(DB_SECRET, ids::DATA_DB_SECRET)?;
    let admin_secret = cx.require(ADMIN_SECRET, ids::COMPUTE_ADMIN_SECRET)?;
    let secrets = [("MOODLE_DATABASE_PASSWORD", format!("{db_secret}:password::")), ("MOODLE_PASSWORD", admin_secret)];
    let exec_role = cx.require_attr(EXEC_ROLE, "arn", ids::COMPUTE_EXECUTION_ROLE)?;
    let task_role = cx.require_attr(TASK_ROLE, "arn", ids::COMPUTE_TASK_ROLE)?;
    let fs = cx.require(EFS, ids::DATA_EFS)?;
    let ap = cx.require(ACCESS_POINT, ids::DATA_EFS_ACCESS_POINT)?;
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
        format!("logs={group}/{}/{LOG_MODE}/{LOG_BUFFER}", role.stream_prefix()),
        format!("healthcheck={health}"),
        format!("command={}", command.join(" ")),
        readonly_sig(c.service.readonly_root_filesystem, SCRATCH_VOLUMES.iter().map(|(_, p)| *p)),
    ];
    sig.extend(env.iter().map(|(k, v)| format!("env {k}={v}")));
    sig.extend(secrets.iter().map(|(k, v)| format!("secret {k}={v}")));
    sig.sort();

    let mut container = ecs::ContainerDefinition::builder()
        .name(CONTAINER)
        .image(&c.image.uri)
        .essential(true)
        // A cron run (or a web request) gets two minutes to finish on a stop.
        .stop_timeout(120)
        .readonly_root_filesystem(c.service.readonly_root_filesystem)
        .set_command((!command.is_empty()).then_some(command))
        .log_configuration(
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::Awslogs)
                .options("awslogs-group", &group)
                .options("awslogs-region", &cx.aws.region)
                .options("awslogs-stream-prefix", role.stream_prefix())
                .options("mode", LOG_MODE)
                .options("max-buffer-size", LOG_BUFFER)
                .build()
                .expect("driver"),
        );
    if role == Role::Web {
        container = container
            .port_mappings(
                ecs::PortMapping::builder()
                    .container_port(CONTAINER_PORT)
                    .protocol(ecs::TransportProtocol::Tcp)
                    .build(),
            )
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
            );
    }
    let scratch = SCRATCH_VOLUMES.iter().map(|(name, path)| {
        ecs::MountPoint::builder().source_volume(*name).container_path(*path).read_only(false).build()
    });
    let container = container
        .set_mount_points(Some(
            std::iter::once(
                ecs::MountPoint::builder()
                    .source_volume("moodle")
                    .container_path(MOODLEDATA_PATH)
                    .read_only(false)
                    .build(),
            )
            .chain(scratch)
            .collect(),
        ))
        .set_environment(Some(env.iter().map(|(k, v)| ecs::KeyValuePair::builder().name(k).value(v).build()).collect()))
        .set_secrets(Some(
            secrets
                .iter()
                .map(|(k, v)| ecs::Secret::builder().name(*k).value_from(v).build().expect("name and valueFrom"))
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
        .family(role.family(cx))
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
        .set_volumes(Some(
            std::iter::once(volume)
                .chain(SCRATCH_VOLUMES.iter().map(|(n, _)| ecs::Volume::builder().name(*n).build()))
                .collect(),
        ))
        .set_tags(Some(Tags::new(cx, role.task_def_key()).render()));
    Ok((TaskSpec { sig }, req))
}

/// The signature of a live task definition, comparable with `TaskSpec::sig`.
pub(crate) fn live_sig(td: &ecs::TaskDefinition) -> Vec<String> {
    let mut sig = vec![];
    let Some(c) = td.container_definitions().iter().find(|c| c.name() == Some(CONTAINER)) else {
        return sig;
    };
    sig.push(format!("image={}", c.image().unwrap_or_default()));
    sig.push(format!("cpu={}", td.cpu().unwrap_or_default()));
    sig.push(format!("memory={}", td.memory().unwrap_or_default()));
    sig.push(format!(
        "arch={}",
        td.runtime_platform().and_then(|r| r.cpu_architecture()).map(|a| a.as_str()).unwrap_or("X86_64")
    ));
    sig.push(format!("exec={}", td.execution_role_arn().unwrap_or_default()));
    sig.push(format!("task={}", td.task_role_arn().unwrap_or_default()));
    if let Some(e) = td.volumes().iter().find_map(|v| v.efs_volume_configuration()) {
        sig.push(format!(
            "efs={}/{}",
            e.file_system_id(),
            e.authorization_config().and_then(|a| a.access_point_id()).unwrap_or_default()
        ));
    }
    let opts = c.log_configuration().and_then(|l| l.options());
    let opt = |k: &str| opts.and_then(|o| o.get(k)).cloned().unwrap_or_default();
    let (group, prefix) = (opt("awslogs-group"), opt("awslogs-stream-prefix"));
    sig.push(format!("logs={group}/{prefix}/{}/{}", opt("mode"), opt("max-buffer-size")));
    sig.push(format!("healthcheck={}", c.health_check().map(|h| h.command().join(" ")).unwrap_or_default()));
    sig.push(format!("command={}", c.command().join(" ")));
    // Read-only root, and which task-storage volumes it writes to instead.
    let scratch: Vec<&str> = c
        .mount_points()
        .iter()
        .filter(|m| {
            let vol = td.volumes().iter().find(|v| v.name() == m.source_volume());
            // No EFS and no host path (ECS may answer an empty `host`): task storage.
            let host_path = |v: &ecs::Volume| v.host().and_then(|h| h.source_path()).is_some();
            vol.is_some_and(|v| v.efs_volume_configuration().is_none() && !host_path(v))
        })
        .filter_map(|m| m.container_path())
        .collect();
    let readonly = c.readonly_root_filesystem() == Some(true);
    sig.push(readonly_sig(readonly, scratch.into_iter()));
    sig.extend(
        c.environment()
            .iter()
            .map(|kv| format!("env {}={}", kv.name().unwrap_or_default(), kv.value().unwrap_or_default())),
    );
    sig.extend(c.secrets().iter().map(|s| format!("secret {}={}", s.name(), s.value_from())));
    sig.sort();
    sig
}

/// The root filesystem's signature: `off`, or on with the writable paths, sorted.
fn readonly_sig<'a>(readonly: bool, paths: impl Iterator<Item = &'a str>) -> String {
    if !readonly {
        return "readonly_root=off".into();
    }
    let mut p: Vec<&str> = paths.collect();
    p.sort();
    format!("readonly_root=on, writable {}", p.join(" "))
}

pub(crate) async fn latest_task_def(cx: &StepCx, role: Role) -> Result<Option<ecs::TaskDefinition>, StepError> {
    let fam = role.family(cx);
    match cx.aws.ecs.describe_task_definition().task_definition(&fam).send().await {
        Ok(o) => Ok(o.task_definition().filter(|t| t.status() == Some(&ecs::TaskDefinitionStatus::Active)).cloned()),
        // ECS answers ClientException for an unknown family.
        Err(e) if e.code() == Some("ClientException") || sdk_not_found(&e) => Ok(None),
        Err(e) => Err(aws_err("DescribeTaskDefinition", &fam, e)),
    }
}

pub(crate) struct TaskDefStep(pub Role);

#[async_trait]
impl Step<StepCx> for TaskDefStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (role, key) = (self.0, self.0.task_def_key());
        let live = latest_task_def(cx, role).await?;
        let spec = task_spec(cx, role);
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
                cx.record(key, Resource::new("ecs:task-definition", &arn))?;
                return Ok(Outcome::Unchanged);
            }
        }
        let changes: Vec<String> = match &live {
            Some(td) => {
                let old = live_sig(td);
                spec.sig.iter().filter(|s| !old.contains(s)).map(|s| format!("new revision: {s}")).collect()
            }
            None => vec![],
        };
        if cx.dry_run {
            return Ok(if live.is_some() { Outcome::Updated(changes) } else { Outcome::Created });
        }
        let rule = &transient::TASK_DEFINITION_ROLES;
        let o = retry(cx, "RegisterTaskDefinition", &role.family(cx), rule, || req.clone().send()).await?;
        let arn = o.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string();
        cx.record_new(key, Resource::new("ecs:task-definition", &arn))?;
        Ok(if live.is_some() { Outcome::Updated(changes) } else { Outcome::Created })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let mut out = deregister_family(cx, &self.0.family(cx)).await?;
        if self.0 == Role::Web {
            // One-off tasks of another image (`run --image`, `upgrade`) register their own family.
            out = out.merge(deregister_family(cx, &oneoff_family(cx)).await?);
        }
        cx.forget(self.0.task_def_key())?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let (role, fam) = (self.0, self.0.family(cx));
        cx.inspect_one(role.task_def_key(), "ecs:task-definition", &fam, latest_task_def(cx, role).await?, |i, td| {
            let image = td.container_definitions().first().and_then(|c| c.image()).unwrap_or_default();
            let mut i = i.status(td.task_definition_arn(), "ACTIVE", true).detail("image", image);
            i.name = format!("{fam}:{}", td.revision());
            if task_spec(cx, role).is_ok_and(|(spec, _)| live_sig(&td) != spec.sig) {
                i.drift = Some("differs from config (a new revision is pending)".into());
            }
            i
        })
    }
}

/// Deregister every active revision of a family of ours.
async fn deregister_family(cx: &StepCx, fam: &str) -> Result<Outcome, StepError> {
    // Every page: a family with many revisions lists them over several.
    let call = cx.aws.ecs.list_task_definitions().family_prefix(fam).status(ecs::TaskDefinitionStatus::Active);
    let pages = call.into_paginator().send().collect::<Result<Vec<_>, _>>().await.ctx("ListTaskDefinitions", fam)?;
    let mut out = Outcome::AlreadyAbsent;
    // The family is ours: every active revision was registered by moodlectl.
    // (A prefix: `<stack>-moodle` must not match `<stack>-moodle2`.)
    let ours = format!("task-definition/{fam}:");
    for arn in pages.iter().flat_map(|p| p.task_definition_arns()).filter(|a| a.contains(&ours)) {
        let r = cx.aws.ecs.deregister_task_definition().task_definition(arn).send().await;
        out = out.merge(deleted("DeregisterTaskDefinition", arn, r)?);
    }
    Ok(out)
}
