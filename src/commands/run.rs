//! `moodlectl run -- CMD…`: a one-off ECS task from the service's current
//! task definition — same subnets, security groups, secrets and EFS volume —
//! with the Moodle container's command overridden (`php
//! admin/cli/purge_caches.php`), as Copilot's `task run` and pipelines'
//! migration steps do.
//!
//! It runs on on-demand FARGATE (a Spot interruption mid-command would leave
//! a half-done admin task), streams the task's log events while it runs and
//! exits with the container's exit code; a task that stops without one
//! (image pull, out of memory, …) is reported with ECS's stop reason.

use super::{inputs, CmdError, CmdResult};
use crate::aws::errors::aws_err;
use crate::aws::Aws;
use crate::cli::{Cli, OutputFormat};
use crate::error::exit;
use crate::resources::compute::{container_log_group, task_id, CONTAINER, LOG_STREAM_PREFIX};
use crate::resources::names::{cluster_name, service_name};
use aws_sdk_ecs::types as ecs;
use std::io::Write;
use std::time::Duration;

pub async fn run(cli: &Cli, detach: bool, command: &[String]) -> CmdResult {
    if command.is_empty() {
        return Err(CmdError::usage(anyhow::anyhow!(
            "run: no command\nhint: moodlectl run -- php admin/cli/purge_caches.php"
        )));
    }
    let inp = inputs(cli)?;
    let aws = Aws::connect(&inp.conn).await;
    let (cluster, service) = (cluster_name(&inp.cfg), service_name(&inp.cfg));

    // The service's current revision and network: the task is one of its own.
    let svc = aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(&service)
        .send()
        .await
        .map_err(|e| CmdError::runtime(aws_err("DescribeServices", &service, e)))?;
    let svc = svc.services().iter().find(|s| s.status() == Some("ACTIVE")).cloned().ok_or_else(|| {
        CmdError::usage(anyhow::anyhow!("service {service} is not deployed\nhint: `moodlectl up` first"))
    })?;
    let task_def = svc.task_definition().unwrap_or_default().to_string();
    let over = ecs::ContainerOverride::builder().name(CONTAINER).set_command(Some(command.to_vec())).build();
    let on_demand = ecs::CapacityProviderStrategyItem::builder().capacity_provider("FARGATE").weight(1).build();
    let call = aws.ecs.run_task().cluster(&cluster).task_definition(&task_def).count(1).started_by("moodlectl-run");
    let call = call
        .capacity_provider_strategy(on_demand.map_err(|e| CmdError::runtime(anyhow::anyhow!("{e}")))?)
        .set_network_configuration(svc.network_configuration().cloned())
        .overrides(ecs::TaskOverride::builder().container_overrides(over).build());
    let started = call.send().await.map_err(|e| CmdError::runtime(aws_err("RunTask", &service, e)))?;
    let Some(task) = started.tasks().first() else {
        let why: Vec<String> = started.failures().iter().map(|f| f.reason().unwrap_or("?").to_string()).collect();
        return Err(CmdError::runtime(anyhow::anyhow!("RunTask started no task: {}", why.join("; "))));
    };
    let arn = task.task_arn().unwrap_or_default().to_string();
    let id = task_id(&arn).to_string();
    if detach {
        match cli.output {
            OutputFormat::Json => {
                println!("{}", serde_json::json!({"schema": "moodlectl.run/v1", "task_id": id, "detached": true}))
            }
            OutputFormat::Text => println!("{id}"),
        }
        return Ok(exit::OK);
    }
    if !cli.quiet {
        eprintln!("run: task {id} ({} on FARGATE): {}", task_def.rsplit('/').next().unwrap_or(""), command.join(" "));
    }
    let group = container_log_group(&inp.cfg.stack.name);
    let stream = format!("{LOG_STREAM_PREFIX}/{CONTAINER}/{id}");
    let mut logs = Logs { token: None, lines: vec![] };
    let text = cli.output == OutputFormat::Text;
    let stopped = loop {
        logs.read(&aws, &group, &stream, text).await;
        let d = aws
            .ecs
            .describe_tasks()
            .cluster(&cluster)
            .tasks(&arn)
            .send()
            .await
            .map_err(|e| CmdError::runtime(aws_err("DescribeTasks", &service, e)))?;
        if let Some(t) = d.tasks().first().filter(|t| t.last_status() == Some("STOPPED")) {
            break t.clone();
        }
        tokio::time::sleep(poll()).await;
    };
    // Events written just before the stop may land a moment later.
    logs.read(&aws, &group, &stream, text).await;
    let code = stopped.containers().iter().find(|c| c.name() == Some(CONTAINER)).and_then(|c| c.exit_code());
    let reason = stopped.stopped_reason().unwrap_or("").to_string();
    if cli.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::json!({"schema": "moodlectl.run/v1", "task_id": id, "exit_code": code, "stopped_reason": reason, "log": logs.lines})
        );
    }
    match code {
        Some(c) => {
            if c != 0 && !cli.quiet {
                eprintln!("run: task {id} exited with {c}");
            }
            Ok(c.clamp(0, 255) as u8)
        }
        None => Err(CmdError::runtime(anyhow::anyhow!(
            "task {id} stopped without an exit code: {reason}\nhint: `moodlectl logs --since 30m` shows what it printed"
        ))),
    }
}

fn poll() -> Duration {
    Duration::from_millis(crate::aws::env_ms("MOODLECTL_POLL_MAX_MS", 2000).as_millis().min(2000) as u64)
}

/// The task's log stream, read forward from where the last read stopped.
struct Logs {
    token: Option<String>,
    lines: Vec<String>,
}

impl Logs {
    async fn read(&mut self, aws: &Aws, group: &str, stream: &str, print: bool) {
        loop {
            let call = aws.logs.get_log_events().log_group_name(group).log_stream_name(stream).start_from_head(true);
            // The stream appears with the task's first line: until then, nothing to read.
            let Ok(o) = call.set_next_token(self.token.clone()).send().await else { return };
            let mut out = std::io::stdout().lock();
            for e in o.events() {
                let m = e.message().unwrap_or_default().to_string();
                if print {
                    let _ = writeln!(out, "{m}");
                }
                self.lines.push(m);
            }
            let next = o.next_forward_token().map(str::to_string);
            if next == self.token || o.events().is_empty() {
                self.token = next;
                return;
            }
            self.token = next;
        }
    }
}
