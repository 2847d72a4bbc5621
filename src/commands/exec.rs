//! `moodlectl exec`: a shell (or one command) in a running Moodle task
//! through ECS Exec — what `aws ecs execute-command` and Copilot's
//! `svc exec` do.
//!
//! The service runs with ECS Exec on (`enableExecuteCommand`, the task
//! role's `ssmmessages:*`). `ExecuteCommand` returns a Session Manager
//! session; the bytes of the terminal are carried by AWS's Session Manager
//! plugin, found on PATH (before any AWS call, so a missing plugin costs
//! nothing) and started the way the AWS CLI starts it:
//! `session-manager-plugin <session JSON> <region> StartSession <profile>
//! {"Target": "ecs:<cluster>_<task id>_<container runtime id>"} <SSM endpoint>`.
//!
//! AWS refuses `ExecuteCommand` for a task started before ECS Exec was on,
//! and while the task's ExecuteCommandAgent is not RUNNING yet (a task a few
//! seconds old): both are checked first and explained. ECS Exec's agent also
//! needs a writable root filesystem (AWS's `amazon-ecs-exec-checker` checks
//! `readonlyRootFilesystem`): with `service.readonly_root_filesystem` on —
//! the default — the session would open and die, so that is said instead.

use super::{inputs, CmdError, CmdResult};
use crate::aws::errors::aws_err;
use crate::aws::Aws;
use crate::cli::Cli;
use crate::resources::compute::task_id;
use crate::resources::names::{cluster_name, service_name};
use aws_sdk_ecs::types::DesiredStatus;
use std::path::{Path, PathBuf};

/// The plugin's executable name (the AWS CLI looks for the same).
pub const PLUGIN: &str = "session-manager-plugin";

pub async fn run(cli: &Cli, task: Option<&str>, container: &str, command: &[String]) -> CmdResult {
    let inp = inputs(cli)?;
    let plugin = find_plugin(std::env::var_os("PATH").as_deref()).ok_or_else(plugin_missing)?;
    let aws = Aws::connect(&inp.conn).await;
    let (cluster, service) = (cluster_name(&inp.cfg), service_name(&inp.cfg));
    let command = if command.is_empty() {
        "/bin/sh".to_string()
    } else {
        shlex::try_join(command.iter().map(String::as_str))
            .map_err(|e| CmdError::usage(anyhow::anyhow!("exec: cannot quote the command: {e}")))?
    };
    let at = Where { cluster: &cluster, service: &service, container };
    let session = start(&aws.ecs, &at, task, &command).await?;
    if !cli.quiet {
        eprintln!("exec: task {} ({container}) in {cluster}: {command}", session.task_id);
    }
    let region = inp.conn.region.clone();
    let args = session.plugin_args(&region, cli.profile.as_deref().unwrap_or_default());
    let status = std::process::Command::new(&plugin)
        .args(&args)
        .status()
        .map_err(|e| CmdError::runtime(anyhow::anyhow!("cannot start {}: {e}", plugin.display())))?;
    // The plugin's status is the session's: a command's own exit code.
    Ok(status.code().map_or(crate::error::exit::RUNTIME, |c| c.clamp(0, 255) as u8))
}

/// `session-manager-plugin` in one of `path`'s directories.
pub fn find_plugin(path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?).map(|d| d.join(PLUGIN)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn plugin_missing() -> CmdError {
    CmdError::usage(anyhow::anyhow!(
        "`{PLUGIN}` is not on PATH: ECS Exec sessions are carried by AWS's Session Manager plugin\n\
         hint: install it (Debian/Ubuntu: the `session-manager-plugin.deb` from AWS's Session Manager \
         documentation, \"Install the Session Manager plugin for the AWS CLI\"; macOS: \
         `brew install --cask session-manager-plugin`), then run `moodlectl exec` again"
    ))
}

/// An ECS Exec session, ready to hand to the plugin.
#[derive(Debug)]
pub struct Session {
    pub task_id: String,
    /// `ecs:<cluster>_<task id>_<runtime id>`, the plugin's target.
    pub target: String,
    /// The session as ECS returned it (`sessionId`, `streamUrl`, `tokenValue`).
    session_json: serde_json::Value,
}

impl Session {
    /// The plugin's arguments, in the AWS CLI's order. The session token is
    /// in them (as with the AWS CLI); nothing here logs them.
    pub fn plugin_args(&self, region: &str, profile: &str) -> Vec<String> {
        vec![
            self.session_json.to_string(),
            region.to_string(),
            "StartSession".into(),
            profile.to_string(),
            serde_json::json!({ "Target": self.target }).to_string(),
            format!("https://ssm.{region}.amazonaws.com"),
        ]
    }
}

/// The service whose tasks are candidates, and the container to enter.
#[derive(Clone, Copy)]
pub struct Where<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub container: &'a str,
}

/// Pick the task (`task`, an ID or ARN, or the first running one), check it
/// can take a session, and open one.
pub async fn start(
    ecs: &aws_sdk_ecs::Client,
    at: &Where<'_>,
    task: Option<&str>,
    command: &str,
) -> Result<Session, CmdError> {
    let Where { cluster, service, container } = *at;
    let listed = ecs.list_tasks().cluster(cluster).service_name(service).desired_status(DesiredStatus::Running);
    let listed = listed.send().await.map_err(|e| CmdError::runtime(aws_err("ListTasks", service, e)))?;
    let arns = listed.task_arns();
    let arn = match task {
        Some(t) => arns.iter().find(|a| a.as_str() == t || a.ends_with(&format!("/{t}"))).ok_or_else(|| {
            usage(format!(
                "task `{t}` is not a running task of service {service}\nhint: running: {}",
                if arns.is_empty() { "none".into() } else { arns.iter().map(|a| task_id(a)).collect::<Vec<_>>().join(", ") }
            ))
        })?,
        None => arns.first().ok_or_else(|| {
            usage(format!(
                "service {service} has no running task\nhint: `moodlectl status` shows the service; a task starts within minutes of `up`"
            ))
        })?,
    };
    let described = ecs.describe_tasks().cluster(cluster).tasks(arn);
    let described = described.send().await.map_err(|e| CmdError::runtime(aws_err("DescribeTasks", arn, e)))?;
    let t = described.tasks().first().ok_or_else(|| usage(format!("task {} is gone", task_id(arn))))?;
    let id = task_id(arn).to_string();
    let td = t.task_definition_arn().unwrap_or_default();
    let def = ecs.describe_task_definition().task_definition(td).send().await;
    let def = def.map_err(|e| CmdError::runtime(aws_err("DescribeTaskDefinition", td, e)))?;
    let readonly = def
        .task_definition()
        .map(|d| d.container_definitions())
        .unwrap_or_default()
        .iter()
        .any(|c| c.name() == Some(container) && c.readonly_root_filesystem() == Some(true));
    if readonly {
        return Err(usage(format!(
            "task {id} runs `{container}` with a read-only root filesystem, and ECS Exec's agent needs to write to it\nhint: set `readonly_root_filesystem = false` under [service] and run `moodlectl up` (a rolling deploy); `moodlectl run` runs admin commands in a one-off task either way"
        )));
    }
    if !t.enable_execute_command() {
        return Err(usage(format!(
            "task {id} was started without ECS Exec\nhint: it started before ECS Exec was turned on; `aws ecs update-service --force-new-deployment` replaces it"
        )));
    }
    let c = t.containers().iter().find(|c| c.name() == Some(container)).ok_or_else(|| {
        usage(format!("task {id} has no container `{container}`\nhint: the Moodle container is `moodle`"))
    })?;
    let agent = c.managed_agents().iter().find(|a| a.name().map(|n| n.as_str()) == Some("ExecuteCommandAgent"));
    match agent.and_then(|a| a.last_status()) {
        Some("RUNNING") => {}
        status => {
            return Err(usage(format!(
                "the ECS Exec agent of task {id} is {}\nhint: a task's agent starts a few seconds after the task; try again shortly",
                status.unwrap_or("not reported")
            )))
        }
    }
    let runtime =
        c.runtime_id().ok_or_else(|| usage(format!("task {id}: container `{container}` has no runtime ID yet")))?;
    let call = ecs.execute_command().cluster(cluster).task(arn).container(container).command(command);
    let out = call.interactive(true).send().await.map_err(|e| CmdError::runtime(aws_err("ExecuteCommand", &id, e)))?;
    let s = out.session().ok_or_else(|| CmdError::runtime(anyhow::anyhow!("ExecuteCommand returned no session")))?;
    Ok(Session {
        target: format!("ecs:{cluster}_{id}_{runtime}"),
        task_id: id,
        session_json: serde_json::json!({
            "sessionId": s.session_id(),
            "streamUrl": s.stream_url(),
            "tokenValue": s.token_value(),
        }),
    })
}

fn usage(msg: String) -> CmdError {
    CmdError::usage(anyhow::anyhow!(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::{
        describe_task_definition::DescribeTaskDefinitionOutput, describe_tasks::DescribeTasksOutput,
        execute_command::ExecuteCommandOutput, list_tasks::ListTasksOutput,
    };
    use aws_sdk_ecs::types::{Container, ContainerDefinition, ManagedAgent, ManagedAgentName, Task, TaskDefinition};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const ARN: &str = "arn:aws:ecs:ap-southeast-1:123456789012:task/moodle-cluster/0123abcd";

    fn task(exec: bool, agent: &str) -> Task {
        let agent = ManagedAgent::builder().name(ManagedAgentName::ExecuteCommandAgent).last_status(agent).build();
        let c = Container::builder().name("moodle").runtime_id("0123abcd-111").managed_agents(agent).build();
        Task::builder().task_arn(ARN).task_definition_arn(TD).enable_execute_command(exec).containers(c).build()
    }

    const TD: &str = "arn:aws:ecs:ap-southeast-1:123456789012:task-definition/moodle-moodle:3";

    async fn run(t: Task, task: Option<&str>) -> (Result<Session, CmdError>, usize) {
        run_with(t, task, false).await
    }

    async fn run_with(t: Task, task: Option<&str>, readonly: bool) -> (Result<Session, CmdError>, usize) {
        let list = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.service_name() == Some("moodle-service") && r.cluster() == Some("moodle-cluster"))
            .then_output(|| ListTasksOutput::builder().task_arns(ARN).build());
        let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
            .then_output(move || DescribeTasksOutput::builder().tasks(t.clone()).build());
        let definition = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| r.task_definition() == Some(TD))
            .then_output(move || {
                let c = ContainerDefinition::builder().name("moodle").readonly_root_filesystem(readonly).build();
                DescribeTaskDefinitionOutput::builder()
                    .task_definition(TaskDefinition::builder().container_definitions(c).build())
                    .build()
            });
        let exec = mock!(aws_sdk_ecs::Client::execute_command)
            .match_requests(|r| {
                r.task() == Some(ARN)
                    && r.container() == Some("moodle")
                    && r.command() == Some("php admin/cli/cron.php")
                    && r.interactive() == Some(true)
            })
            .then_output(|| {
                let s = aws_sdk_ecs::types::Session::builder()
                    .session_id("ecs-execute-command-1")
                    .stream_url("wss://ssmmessages.ap-southeast-1.amazonaws.com/v1/data-channel/ecs-execute-command-1")
                    .token_value("TOKEN")
                    .build();
                ExecuteCommandOutput::builder().session(s).build()
            });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&list, &describe, &definition, &exec]);
        let at = Where { cluster: "moodle-cluster", service: "moodle-service", container: "moodle" };
        let r = start(&ecs, &at, task, "php admin/cli/cron.php").await;
        (r, exec.num_calls())
    }

    #[tokio::test]
    async fn a_session_is_opened_on_the_running_task_and_handed_to_the_plugin_as_the_aws_cli_does() {
        let (s, execs) = run(task(true, "RUNNING"), Some("0123abcd")).await;
        let s = s.unwrap();
        assert_eq!(execs, 1);
        assert_eq!(s.target, "ecs:moodle-cluster_0123abcd_0123abcd-111");
        let args = s.plugin_args("ap-southeast-1", "");
        assert_eq!(args[1..4], ["ap-southeast-1", "StartSession", ""]);
        assert_eq!(args[4], r#"{"Target":"ecs:moodle-cluster_0123abcd_0123abcd-111"}"#);
        assert_eq!(args[5], "https://ssm.ap-southeast-1.amazonaws.com");
        let session: serde_json::Value = serde_json::from_str(&args[0]).unwrap();
        assert_eq!(session["sessionId"], "ecs-execute-command-1");
        assert_eq!(session["tokenValue"], "TOKEN");
    }

    #[tokio::test]
    async fn no_session_for_a_task_without_exec_or_before_its_agent_runs() {
        for (t, needle) in [(task(false, "RUNNING"), "without ECS Exec"), (task(true, "PENDING"), "agent of task")] {
            let (r, execs) = run(t, None).await;
            let e = r.unwrap_err();
            assert!(e.error.to_string().contains(needle) && e.error.to_string().contains("hint:"), "{:#}", e.error);
            assert_eq!(execs, 0, "no ExecuteCommand call");
        }
        let (r, _) = run(task(true, "RUNNING"), Some("ffff")).await;
        assert!(r.unwrap_err().error.to_string().contains("running: 0123abcd"));
        // A read-only root (the default): said, with the way out, before any session.
        let (r, execs) = run_with(task(true, "RUNNING"), None, true).await;
        let e = r.unwrap_err().error.to_string();
        assert!(e.contains("read-only root filesystem") && e.contains("readonly_root_filesystem = false"), "{e}");
        assert_eq!(execs, 0, "no ExecuteCommand call");
    }

    #[test]
    fn the_plugin_is_found_only_when_executable_on_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(PLUGIN);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        assert_eq!(find_plugin(Some(d.path().as_os_str())), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(["/nonexistent".as_ref(), d.path()]).unwrap();
        assert_eq!(find_plugin(Some(&path)), Some(p));
        assert_eq!(find_plugin(None), None);
    }
}
