//! The ECS services (`Role`): the web service with its capacity-provider
//! strategy, private subnets, the target group, rolling deployment with the
//! circuit breaker and ECS Exec; and the cron service, one on-demand task, no
//! load balancer, not autoscaled, replaced stop-first (maximum 100 %, minimum
//! 0 %) so two cron loops never run side by side.
//!
//! It needs the task definition, the cluster, its security group and the
//! target group *attached to a listener* (ECS refuses one without a load
//! balancer). `up` waits until the rollout completes; teardown scales to 0,
//! deletes and waits until INACTIVE.
//!
//! Eventual consistency: `CreateService` right after the cluster, the
//! listener and ECS's service-linked role may answer ClusterNotFound or "no
//! associated load balancer" (`transient::ECS_SERVICE_CREATE`).

use super::*;
use crate::resources::edge::CONTAINER_PORT;
use crate::resources::edge::TARGET_GROUP;
use crate::resources::network::private_subnet_ids;
use crate::resources::prelude::*;
use aws_sdk_ecs::types as ecs;

// ---------------------------------------------------------------- service

pub async fn find_service(cx: &StepCx, role: Role) -> Result<Option<ecs::Service>, StepError> {
    let (cluster, name) = (cluster_name(cx), role.service(cx));
    let call = cx.aws.ecs.describe_services().cluster(&cluster).services(&name);
    let r = call.send().await.or_absent("DescribeServices", &name)?;
    Ok(r.and_then(|o| o.services().iter().find(|s| s.status() != Some("INACTIVE")).cloned()))
}

pub(crate) fn last_events(s: &ecs::Service, n: usize) -> Vec<String> {
    s.events().iter().take(n).filter_map(|e| e.message().map(str::to_string)).collect()
}

pub(crate) async fn wait_stable(cx: &StepCx, role: Role) -> Result<(), StepError> {
    let name = role.service(cx);
    wait_for(cx, &format!("service {name}"), cx.wait_timeout, || async {
        let Some(s) = find_service(cx, role).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        let primary = s.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
        let state = primary.and_then(|d| d.rollout_state()).map(|r| r.as_str().to_string()).unwrap_or_default();
        let progress = format!(
            "running {}/{} (pending {}), rollout {}",
            s.running_count(),
            s.desired_count(),
            s.pending_count(),
            if state.is_empty() { "?" } else { &state }
        );
        match state.as_str() {
            "COMPLETED" if s.running_count() >= s.desired_count() && s.deployments().len() == 1 => Ok(Poll::Ready(())),
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

/// Autoscaling moves the web service's desired count within
/// [desired_count, max_count]; `up` only corrects it when it is outside those
/// bounds. Cron runs exactly one task.
pub(crate) fn desired_target(cx: &StepCx, role: Role, live: i32) -> i32 {
    let s = &cx.cfg.service;
    match role {
        Role::Web => live.clamp(s.desired_count as i32, s.max_count as i32),
        Role::Cron => 1,
    }
}

/// Cron on on-demand Fargate only: a Spot interruption mid-run would cut a
/// scheduled task (a course backup, a forum digest) short.
fn role_strategy(cx: &StepCx, role: Role) -> Vec<ecs::CapacityProviderStrategyItem> {
    match role {
        Role::Web => strategy(cx),
        Role::Cron => {
            let b = ecs::CapacityProviderStrategyItem::builder().capacity_provider("FARGATE").weight(1).base(0);
            vec![b.build().expect("provider")]
        }
    }
}

pub(crate) struct ServiceStep(pub Role);

#[async_trait]
impl Step<StepCx> for ServiceStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let role = self.0;
        let (cluster, name) = (cluster_name(cx), role.service(cx));
        let s_cfg = &cx.cfg.service;
        let web = role == Role::Web;
        let out = match find_service(cx, role).await? {
            Some(s) => {
                cx.record(
                    role.service_key(),
                    Resource::new("ecs:service", s.service_arn().unwrap_or_default()).with("name", &name),
                )?;
                let td = cx.state.id(role.task_def_key());
                let mut changes = vec![];
                let mut req = cx.aws.ecs.update_service().cluster(&cluster).service(&name);
                if let Some(td) = td.as_ref().filter(|td| s.task_definition() != Some(td.as_str())) {
                    changes.push(change(
                        "task_definition",
                        s.task_definition().unwrap_or("?").rsplit('/').next().unwrap_or("?"),
                        td.rsplit('/').next().unwrap_or("?"),
                    ));
                    req = req.task_definition(td);
                }
                let want = desired_target(cx, role, s.desired_count());
                if s.desired_count() != want {
                    changes.push(change("desired_count", s.desired_count(), want));
                    req = req.desired_count(want);
                }
                if web && s.health_check_grace_period_seconds() != Some(s_cfg.health_check_grace_seconds as i32) {
                    changes.push(change(
                        "health_check_grace_seconds",
                        s.health_check_grace_period_seconds().unwrap_or(0),
                        s_cfg.health_check_grace_seconds,
                    ));
                    req = req.health_check_grace_period_seconds(s_cfg.health_check_grace_seconds as i32);
                }
                if strategy_sig(s.capacity_provider_strategy()) != strategy_sig(&role_strategy(cx, role)) {
                    changes.push("capacity provider strategy".into());
                    req = req.set_capacity_provider_strategy(Some(role_strategy(cx, role))).force_new_deployment(true);
                }
                if !s.enable_execute_command() {
                    changes.push(change("enable_execute_command", false, true));
                    req = req.enable_execute_command(true);
                }
                if !changes.is_empty() && !cx.dry_run {
                    req.send().await.ctx("UpdateService", &name)?;
                }
                Outcome::of_changes(changes)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let net = ecs::NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        ecs::AwsVpcConfiguration::builder()
                            .set_subnets(Some(private_subnet_ids(cx)?))
                            .security_groups(cx.require(SG_SERVICE, ids::COMPUTE_SERVICE_SG)?)
                            .assign_public_ip(ecs::AssignPublicIp::Disabled)
                            .build()
                            .expect("subnets"),
                    )
                    .build();
                // Web: start new tasks before stopping old ones; cron: stop the
                // old one first, never two cron loops.
                let (max, min) = if web { (200, 50) } else { (100, 0) };
                let mut req = cx
                    .aws
                    .ecs
                    .create_service()
                    .cluster(&cluster)
                    .service_name(&name)
                    .task_definition(cx.require(role.task_def_key(), role.task_def_step())?)
                    .desired_count(desired_target(cx, role, s_cfg.desired_count as i32))
                    .set_capacity_provider_strategy(Some(role_strategy(cx, role)))
                    .network_configuration(net)
                    .deployment_configuration(
                        ecs::DeploymentConfiguration::builder()
                            .maximum_percent(max)
                            .minimum_healthy_percent(min)
                            .deployment_circuit_breaker(
                                ecs::DeploymentCircuitBreaker::builder().enable(true).rollback(true).build(),
                            )
                            .build(),
                    )
                    .enable_ecs_managed_tags(true)
                    .propagate_tags(ecs::PropagateTags::Service)
                    .enable_execute_command(true)
                    .client_token(cx.token(role.service_key())?)
                    .set_tags(Some(Tags::new(cx, role.service_key()).render()));
                if web {
                    req = req
                        .load_balancers(
                            ecs::LoadBalancer::builder()
                                .target_group_arn(cx.require(TARGET_GROUP, ids::EDGE_TARGET_GROUP)?)
                                .container_name(CONTAINER)
                                .container_port(CONTAINER_PORT)
                                .build(),
                        )
                        .health_check_grace_period_seconds(s_cfg.health_check_grace_seconds as i32);
                }
                let o =
                    retry(cx, "CreateService", &name, &transient::ECS_SERVICE_CREATE, || req.clone().send()).await?;
                cx.record_new(
                    role.service_key(),
                    Resource::new("ecs:service", o.service().and_then(|s| s.service_arn()).unwrap_or_default())
                        .with("name", &name),
                )?;
                Outcome::Created
            }
        };
        if !cx.dry_run {
            wait_stable(cx, role).await?;
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let role = self.0;
        let (cluster, name) = (cluster_name(cx), role.service(cx));
        let client = &cx.aws.ecs;
        cx.remove(role.service_key(), find_service(cx, role).await?, |s| async move {
            // DRAINING or INACTIVE: deleted by an earlier run.
            let mut out = Outcome::Deleted;
            if s.status() == Some("ACTIVE") {
                if s.desired_count() > 0 {
                    cx.progress("scaling to 0");
                    let req = client.update_service().cluster(&cluster).service(&name).desired_count(0);
                    req.send().await.ctx("UpdateService", &name)?;
                }
                let r = client.delete_service().cluster(&cluster).service(&name).send().await;
                out = deleted("DeleteService", &name, r)?;
            }
            // The cluster can only go once the service is INACTIVE.
            let running = |s: &ecs::Service| format!("{} (running {})", s.status().unwrap_or("?"), s.running_count());
            wait_gone(cx, &format!("service {name}"), || find_service(cx, role), running).await?;
            Ok(out)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let role = self.0;
        let found = find_service(cx, role).await?;
        let tasks = match &found {
            Some(_) => running_tasks(cx, role).await?,
            None => vec![],
        };
        let last_cron = match (&found, role) {
            (Some(_), Role::Cron) => Some(last_cron_run(cx).await),
            _ => None,
        };
        let mut rows = cx.inspect_one(role.service_key(), "ecs:service", &role.service(cx), found, |i, s| {
            let primary = s.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
            let rollout = primary.and_then(|d| d.rollout_state()).map(|r| r.as_str()).unwrap_or_default();
            let healthy = s.running_count() >= s.desired_count() && s.desired_count() > 0 && rollout != "FAILED";
            let (running, desired) = (s.running_count(), s.desired_count());
            let state = format!("running {running}/{desired} (pending {}), {rollout}", s.pending_count());
            let i = i
                .status(s.service_arn(), state, healthy)
                .detail("running", running.to_string())
                .detail("desired", desired.to_string())
                .detail("deployments", s.deployments().len().to_string())
                .detail("last_events", last_events(&s, 3).join(" | "));
            let mut i = match last_cron {
                Some(last) => i.detail("last_cron_run", last),
                None => i,
            };
            let want = desired_target(cx, role, desired);
            if want != desired && role == Role::Web {
                let (min, max) = (cx.cfg.service.desired_count, cx.cfg.service.max_count);
                i.drift = Some(format!("desired count {desired} outside [{min}, {max}]"));
            }
            i
        })?;
        rows.extend(tasks.iter().map(task_row));
        Ok(rows)
    }
}

/// When the cron service last finished a run (Moodle's own line in the cron
/// task's log), or why that is not known: the one sign that cron keeps up.
async fn last_cron_run(cx: &StepCx) -> String {
    let group = log_group_name(cx);
    let since = crate::state::unix_now().saturating_sub(24 * 3600) as i64 * 1000;
    let call = cx.aws.logs.filter_log_events().log_group_name(&group).log_stream_name_prefix(CRON_LOG_STREAM_PREFIX);
    let call = call.filter_pattern(format!("\"{CRON_DONE}\"")).start_time(since);
    let mut pages = call.into_paginator().send();
    let mut last = None;
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => last = p.events().iter().filter_map(|e| e.timestamp()).max().max(last),
            Err(e) => return format!("unknown ({})", crate::aws::errors::error_code_message(&e).0),
        }
    }
    match last.and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok()) {
        Some(t) => t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        None => "none in the last 24 h".into(),
    }
}

/// The service's running tasks, as Copilot's `svc status` lists them.
async fn running_tasks(cx: &StepCx, role: Role) -> Result<Vec<ecs::Task>, StepError> {
    let (cluster, name) = (cluster_name(cx), role.service(cx));
    let call =
        cx.aws.ecs.list_tasks().cluster(&cluster).service_name(&name).desired_status(ecs::DesiredStatus::Running);
    let arns = call.send().await.ctx("ListTasks", &name)?.task_arns().to_vec();
    // DescribeTasks takes at most 100 tasks a call.
    let mut tasks = vec![];
    for chunk in arns.chunks(100) {
        let call = cx.aws.ecs.describe_tasks().cluster(&cluster).set_tasks(Some(chunk.to_vec()));
        tasks.extend(call.send().await.ctx("DescribeTasks", &name)?.tasks().iter().cloned());
    }
    tasks.sort_by_key(|t| t.started_at().map(|d| d.secs()));
    Ok(tasks)
}

/// One task: its revision, health, capacity provider, AZ and start time.
fn task_row(t: &ecs::Task) -> Inspection {
    let arn = t.task_arn().unwrap_or_default();
    let id = task_id(arn);
    let last = t.last_status().unwrap_or("?");
    let health = t.health_status().map(|h| h.as_str()).unwrap_or("UNKNOWN");
    let revision = t.task_definition_arn().and_then(|a| a.rsplit(':').next()).unwrap_or("?");
    let provider = t.capacity_provider_name().unwrap_or("-");
    let az = t.availability_zone().unwrap_or("-");
    let started = t
        .started_at()
        .and_then(|d| time::OffsetDateTime::from_unix_timestamp(d.secs()).ok())
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into());
    let state = format!("{last} {health}, rev {revision}, {provider}, {az}, started {started}");
    let healthy = last == "RUNNING" && health != "UNHEALTHY";
    Inspection::new("ecs:task", format!("task {}", &id[..id.len().min(8)]), Some(arn.to_string()), state, healthy)
        .detail("revision", revision)
        .detail("health", health)
        .detail("capacity_provider", provider)
        .detail("availability_zone", az)
        .detail("started_at", started)
}
