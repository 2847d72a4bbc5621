//! The ECS service: capacity-provider strategy, private subnets, the target
//! group, rolling deployment with the circuit breaker, ECS Exec.
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

pub async fn find_service(cx: &StepCx) -> Result<Option<ecs::Service>, StepError> {
    let (cluster, name) = (cluster_name(cx), service_name(cx));
    let call = cx.aws.ecs.describe_services().cluster(&cluster).services(&name);
    let r = call.send().await.or_absent("DescribeServices", &name)?;
    Ok(r.and_then(|o| o.services().iter().find(|s| s.status() != Some("INACTIVE")).cloned()))
}

pub(crate) fn last_events(s: &ecs::Service, n: usize) -> Vec<String> {
    s.events().iter().take(n).filter_map(|e| e.message().map(str::to_string)).collect()
}

pub(crate) async fn wait_stable(cx: &StepCx) -> Result<(), StepError> {
    let name = service_name(cx);
    wait_for(cx, &format!("service {name}"), cx.wait_timeout, || async {
        let Some(s) = find_service(cx).await? else {
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

/// Autoscaling moves the desired count within [desired_count, max_count];
/// `up` only corrects it when it is outside those bounds.
pub(crate) fn desired_target(cx: &StepCx, live: i32) -> i32 {
    let s = &cx.cfg.service;
    live.clamp(s.desired_count as i32, s.max_count as i32)
}

pub(crate) struct ServiceStep;

#[async_trait]
impl Step<StepCx> for ServiceStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let (cluster, name) = (cluster_name(cx), service_name(cx));
        let s_cfg = &cx.cfg.service;
        let out = match find_service(cx).await? {
            Some(s) => {
                cx.record(
                    SERVICE,
                    Resource::new("ecs:service", s.service_arn().unwrap_or_default()).with("name", &name),
                )?;
                let td = cx.state.id(TASK_DEF);
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
                let want = desired_target(cx, s.desired_count());
                if s.desired_count() != want {
                    changes.push(change("desired_count", s.desired_count(), want));
                    req = req.desired_count(want);
                }
                if s.health_check_grace_period_seconds() != Some(s_cfg.health_check_grace_seconds as i32) {
                    changes.push(change(
                        "health_check_grace_seconds",
                        s.health_check_grace_period_seconds().unwrap_or(0),
                        s_cfg.health_check_grace_seconds,
                    ));
                    req = req.health_check_grace_period_seconds(s_cfg.health_check_grace_seconds as i32);
                }
                if strategy_sig(s.capacity_provider_strategy()) != strategy_sig(&strategy(cx)) {
                    changes.push("capacity provider strategy".into());
                    req = req.set_capacity_provider_strategy(Some(strategy(cx))).force_new_deployment(true);
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
                let req = cx
                    .aws
                    .ecs
                    .create_service()
                    .cluster(&cluster)
                    .service_name(&name)
                    .task_definition(cx.require(TASK_DEF, ids::COMPUTE_TASK_DEFINITION)?)
                    .desired_count(s_cfg.desired_count as i32)
                    .set_capacity_provider_strategy(Some(strategy(cx)))
                    .network_configuration(net)
                    .load_balancers(
                        ecs::LoadBalancer::builder()
                            .target_group_arn(cx.require(TARGET_GROUP, ids::EDGE_TARGET_GROUP)?)
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
                                ecs::DeploymentCircuitBreaker::builder().enable(true).rollback(true).build(),
                            )
                            .build(),
                    )
                    .enable_ecs_managed_tags(true)
                    .propagate_tags(ecs::PropagateTags::Service)
                    .enable_execute_command(true)
                    .client_token(cx.token(SERVICE)?)
                    .set_tags(Some(Tags::new(cx, SERVICE).render()));
                let o =
                    retry(cx, "CreateService", &name, &transient::ECS_SERVICE_CREATE, || req.clone().send()).await?;
                cx.record_new(
                    SERVICE,
                    Resource::new("ecs:service", o.service().and_then(|s| s.service_arn()).unwrap_or_default())
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
        let client = &cx.aws.ecs;
        cx.remove(SERVICE, find_service(cx).await?, |s| async move {
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
            wait_gone(cx, &format!("service {name}"), || find_service(cx), running).await?;
            Ok(out)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let found = find_service(cx).await?;
        let tasks = match &found {
            Some(_) => running_tasks(cx).await?,
            None => vec![],
        };
        let mut rows = cx.inspect_one(SERVICE, "ecs:service", &service_name(cx), found, |i, s| {
            let primary = s.deployments().iter().find(|d| d.status() == Some("PRIMARY"));
            let rollout = primary.and_then(|d| d.rollout_state()).map(|r| r.as_str()).unwrap_or_default();
            let healthy = s.running_count() >= s.desired_count() && s.desired_count() > 0 && rollout != "FAILED";
            let (running, desired) = (s.running_count(), s.desired_count());
            let state = format!("running {running}/{desired} (pending {}), {rollout}", s.pending_count());
            let mut i = i
                .status(s.service_arn(), state, healthy)
                .detail("running", running.to_string())
                .detail("desired", desired.to_string())
                .detail("deployments", s.deployments().len().to_string())
                .detail("last_events", last_events(&s, 3).join(" | "));
            let want = desired_target(cx, desired);
            if want != desired {
                let (min, max) = (cx.cfg.service.desired_count, cx.cfg.service.max_count);
                i.drift = Some(format!("desired count {desired} outside [{min}, {max}]"));
            }
            i
        })?;
        rows.extend(tasks.iter().map(task_row));
        Ok(rows)
    }
}

/// The service's running tasks, as Copilot's `svc status` lists them.
async fn running_tasks(cx: &StepCx) -> Result<Vec<ecs::Task>, StepError> {
    let (cluster, name) = (cluster_name(cx), service_name(cx));
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
