//! `moodlectl run -- CMD…`: a one-off ECS task of the service (see
//! `ops::oneoff`) with the Moodle container's command overridden (`php
//! admin/cli/purge_caches.php`), as Copilot's `task run` and pipelines'
//! migration steps do; `--image` runs a copy of the service's task definition
//! with another image.
//!
//! It streams the task's log events while it runs and exits with the
//! container's exit code; a task that stops without one (image pull, out of
//! memory, …) is reported with ECS's stop code and reason.

use super::{inputs, CmdError, CmdResult};
use crate::aws::Aws;
use crate::cli::{Cli, OutputFormat};
use crate::error::exit;
use crate::ops::oneoff;
use crate::resources::names::service_name;
use std::io::Write;

pub async fn run(cli: &Cli, detach: bool, image: Option<&str>, command: &[String]) -> CmdResult {
    if command.is_empty() {
        return Err(CmdError::usage(anyhow::anyhow!(
            "run: no command\nhint: moodlectl run -- php admin/cli/purge_caches.php"
        )));
    }
    let inp = inputs(cli)?;
    let aws = Aws::connect(&inp.conn).await;
    let cfg = &inp.cfg;
    let shape = oneoff::service_shape(&aws, cfg).await.map_err(CmdError::runtime)?.ok_or_else(|| {
        CmdError::usage(anyhow::anyhow!("service {} is not deployed\nhint: `moodlectl up` first", service_name(cfg)))
    })?;
    let image = image.unwrap_or(shape.image()).to_string();
    let td = oneoff::task_definition_for(&aws, cfg, &shape, &image).await.map_err(CmdError::runtime)?;
    let started = oneoff::start(&aws, cfg, &shape, &td, command, None).await.map_err(CmdError::runtime)?;
    let started = started.map_err(|e| CmdError::runtime(anyhow::anyhow!(e)))?;
    let id = started.id.clone();
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
        let rev = td.rsplit('/').next().unwrap_or("");
        eprintln!("run: task {id} ({rev} on FARGATE, {image}): {}", command.join(" "));
    }
    let text = cli.output == OutputFormat::Text;
    let done = oneoff::wait(&aws, cfg, &started.arn, |l| {
        if text {
            let _ = writeln!(std::io::stdout().lock(), "{l}");
        }
    })
    .await
    .map_err(CmdError::runtime)?;
    if cli.output == OutputFormat::Json {
        println!(
            "{}",
            serde_json::json!({"schema": "moodlectl.run/v1", "task_id": id, "exit_code": done.exit_code,
                "stop_code": done.stop_code, "stopped_reason": done.stopped_reason, "log": done.log})
        );
    }
    match done.exit_code {
        Some(c) => {
            if c != 0 && !cli.quiet {
                eprintln!("run: {}", done.describe());
            }
            Ok(c.clamp(0, 255) as u8)
        }
        None => Err(CmdError::runtime(anyhow::anyhow!(
            "{}\nhint: `moodlectl logs --since 30m` shows what it printed; check the image exists and the task's memory",
            done.describe()
        ))),
    }
}
