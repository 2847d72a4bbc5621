//! One-off ECS tasks of the web service's revision: what `run`, `upgrade`
//! and `up`'s pending-upgrade check start.
//!
//! A one-off task is one of the service's own: the service's current task
//! definition (or a copy of it naming another image), its subnets and
//! security group, on on-demand FARGATE (a Spot interruption mid-command would
//! leave a half-done admin task or a half-upgraded database).
//!
//! AWS rules encoded here:
//! - `RunTask` takes a client token (idempotent for 24 hours within a
//!   cluster): a command killed right after `RunTask` and rerun with the same
//!   token gets the task it already started, not a second one.
//! - A container override cannot change the image: another image needs a
//!   task definition of its own. Those go to the `<stack>-oneoff` family, so
//!   the service's family keeps only revisions the service ran.
//! - ECS keeps a stopped task describable for about an hour; a task not found
//!   any more is reported as such (`Finished::lost`).

use crate::aws::errors::{aws_err, SdkLookupExt};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::StepError;
use crate::resources::compute::{container_log_group, live_sig, task_id, Role, CONTAINER};
use crate::resources::names::{cluster_name, oneoff_family, service_name};
use aws_sdk_ecs::types as ecs;
use std::time::Duration;

/// The web service as a one-off task copies it.
pub struct ServiceShape {
    pub task_definition: ecs::TaskDefinition,
    pub network: Option<ecs::NetworkConfiguration>,
}

impl ServiceShape {
    pub fn image(&self) -> &str {
        self.task_definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(CONTAINER))
            .and_then(|c| c.image())
            .unwrap_or_default()
    }
}

/// The web service's current revision and network, or `None` when the service is not deployed.
pub async fn service_shape(aws: &Aws, cfg: &Config) -> Result<Option<ServiceShape>, StepError> {
    let (cluster, service) = (cluster_name(cfg), service_name(cfg));
    let o = aws.ecs.describe_services().cluster(&cluster).services(&service).send().await;
    // No cluster (ClusterNotFoundException): nothing deployed.
    let Some(o) = o.or_absent("DescribeServices", &service)? else { return Ok(None) };
    let Some(svc) = o.services().iter().find(|s| s.status() == Some("ACTIVE")) else { return Ok(None) };
    let arn = svc.task_definition().unwrap_or_default();
    let td = aws.ecs.describe_task_definition().task_definition(arn).send().await;
    let td = td.map_err(|e| aws_err("DescribeTaskDefinition", arn, e))?;
    let Some(td) = td.task_definition().cloned() else { return Ok(None) };
    Ok(Some(ServiceShape { task_definition: td, network: svc.network_configuration().cloned() }))
}

/// The task definition to run `image` with: the service's own when it
/// already names it, else a `<stack>-oneoff` revision that copies it with the
/// image replaced (the latest such revision when it is the same copy).
pub async fn task_definition_for(
    aws: &Aws,
    cfg: &Config,
    shape: &ServiceShape,
    image: &str,
) -> Result<String, StepError> {
    let base = &shape.task_definition;
    if shape.image() == image {
        return Ok(base.task_definition_arn().unwrap_or_default().to_string());
    }
    let fam = oneoff_family(cfg);
    let mut want = live_sig(base);
    for s in want.iter_mut().filter(|s| s.starts_with("image=")) {
        *s = format!("image={image}");
    }
    want.sort();
    if let Ok(o) = aws.ecs.describe_task_definition().task_definition(&fam).send().await {
        if let Some(td) = o.task_definition().filter(|t| t.status() == Some(&ecs::TaskDefinitionStatus::Active)) {
            if live_sig(td) == want {
                return Ok(td.task_definition_arn().unwrap_or_default().to_string());
            }
        }
    }
    let containers = base
        .container_definitions()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if c.name() == Some(CONTAINER) {
                c.image = Some(image.to_string());
            }
            c
        })
        .collect();
    let req = aws
        .ecs
        .register_task_definition()
        .family(&fam)
        .set_task_role_arn(base.task_role_arn().map(str::to_string))
        .set_execution_role_arn(base.execution_role_arn().map(str::to_string))
        .set_network_mode(base.network_mode().cloned())
        .set_requires_compatibilities(Some(base.requires_compatibilities().to_vec()))
        .set_cpu(base.cpu().map(str::to_string))
        .set_memory(base.memory().map(str::to_string))
        .set_runtime_platform(base.runtime_platform().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(Some(base.volumes().to_vec()))
        .tags(ecs::Tag::builder().key("moodlectl:stack").value(&cfg.stack.name).build());
    let o = req.send().await.map_err(|e| aws_err("RegisterTaskDefinition", &fam, e))?;
    Ok(o.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string())
}

/// A started one-off task.
#[derive(Debug, Clone)]
pub struct Started {
    pub arn: String,
    pub id: String,
    pub task_definition: String,
}

/// Start `command` in a one-off task of `task_definition`. `token` makes the
/// start idempotent (ECS's client token); `None` starts a new task each call.
pub async fn start(
    aws: &Aws,
    cfg: &Config,
    shape: &ServiceShape,
    task_definition: &str,
    command: &[String],
    token: Option<&str>,
) -> Result<Result<Started, String>, StepError> {
    let cluster = cluster_name(cfg);
    let over = ecs::ContainerOverride::builder().name(CONTAINER).set_command(Some(command.to_vec())).build();
    let on_demand = ecs::CapacityProviderStrategyItem::builder().capacity_provider("FARGATE").weight(1).build();
    let call = aws
        .ecs
        .run_task()
        .cluster(&cluster)
        .task_definition(task_definition)
        .count(1)
        .started_by("moodlectl")
        .capacity_provider_strategy(on_demand.expect("provider set"))
        .set_network_configuration(shape.network.clone())
        .set_client_token(token.map(str::to_string))
        .overrides(ecs::TaskOverride::builder().container_overrides(over).build());
    let started = call.send().await.map_err(|e| aws_err("RunTask", task_definition, e))?;
    let Some(task) = started.tasks().first() else {
        let why: Vec<String> = started.failures().iter().map(|f| f.reason().unwrap_or("?").to_string()).collect();
        return Ok(Err(format!("RunTask started no task: {}", why.join("; "))));
    };
    let arn = task.task_arn().unwrap_or_default().to_string();
    Ok(Ok(Started { id: task_id(&arn).to_string(), arn, task_definition: task_definition.to_string() }))
}

/// How a one-off task ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finished {
    pub task_id: String,
    /// The container's exit code; `None` when it never ran (image pull,
    /// out of memory before start, …) or the task is no longer known.
    pub exit_code: Option<i32>,
    /// ECS's stop code (`EssentialContainerExited`, `TaskFailedToStart`, …).
    pub stop_code: Option<String>,
    pub stopped_reason: String,
    pub log: Vec<String>,
    /// ECS no longer knows the task (stopped over an hour ago).
    pub lost: bool,
}

impl Finished {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
    /// One line for a person: how the task ended.
    pub fn describe(&self) -> String {
        match (self.exit_code, self.lost) {
            (_, true) => format!("task {} is no longer known to ECS", self.task_id),
            (Some(c), _) => format!("task {} exited with {c}", self.task_id),
            (None, _) => format!(
                "task {} stopped without running its command ({}): {}",
                self.task_id,
                self.stop_code.as_deref().unwrap_or("?"),
                self.stopped_reason
            ),
        }
    }
}

/// Wait for a task to stop, handing each new log line to `line` as it
/// arrives (the awslogs stream `<prefix>/moodle/<task id>`).
pub async fn wait(aws: &Aws, cfg: &Config, arn: &str, mut line: impl FnMut(&str)) -> Result<Finished, StepError> {
    let cluster = cluster_name(cfg);
    let id = task_id(arn).to_string();
    let group = container_log_group(&cfg.stack.name);
    let stream = format!("{}/{CONTAINER}/{id}", Role::Web.stream_prefix());
    let mut logs = LogTail { token: None, lines: vec![] };
    loop {
        logs.read(aws, &group, &stream, &mut line).await;
        let d = aws.ecs.describe_tasks().cluster(&cluster).tasks(arn).send().await;
        let d = d.map_err(|e| aws_err("DescribeTasks", &id, e))?;
        let Some(t) = d.tasks().first() else {
            let lost = Finished {
                task_id: id,
                exit_code: None,
                stop_code: None,
                stopped_reason: String::new(),
                log: logs.lines,
                lost: true,
            };
            return Ok(lost);
        };
        if t.last_status() == Some("STOPPED") {
            // Events written just before the stop may land a moment later.
            logs.read(aws, &group, &stream, &mut line).await;
            let code = t.containers().iter().find(|c| c.name() == Some(CONTAINER)).and_then(|c| c.exit_code());
            return Ok(Finished {
                task_id: id,
                exit_code: code,
                stop_code: t.stop_code().map(|c| c.as_str().to_string()),
                stopped_reason: t.stopped_reason().unwrap_or_default().to_string(),
                log: logs.lines,
                lost: false,
            });
        }
        tokio::time::sleep(poll()).await;
    }
}

fn poll() -> Duration {
    Duration::from_millis(crate::aws::env_ms("MOODLECTL_POLL_MAX_MS", 2000).as_millis().min(2000) as u64)
}

/// A task's log stream, read forward from where the last read stopped.
struct LogTail {
    token: Option<String>,
    lines: Vec<String>,
}

impl LogTail {
    async fn read(&mut self, aws: &Aws, group: &str, stream: &str, line: &mut impl FnMut(&str)) {
        loop {
            let call = aws.logs.get_log_events().log_group_name(group).log_stream_name(stream).start_from_head(true);
            // The stream appears with the task's first line: until then, nothing to read.
            let Ok(o) = call.set_next_token(self.token.clone()).send().await else { return };
            for e in o.events() {
                let m = e.message().unwrap_or_default().to_string();
                line(&m);
                self.lines.push(m);
            }
            let next = o.next_forward_token().map(str::to_string);
            let done = next == self.token || o.events().is_empty();
            self.token = next;
            if done {
                return;
            }
        }
    }
}
