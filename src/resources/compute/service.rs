//! The ECS service: capacity-provider strategy, private subnets, the target
//! group, rolling deployment with the circuit breaker, ECS Exec.
//!
//! It needs the task definition, the cluster, its security group and the
//! target group *attached to a listener* (ECS refuses one without a load
//! balancer). `up` waits until the rollout completes; teardown scales to 0,
//! deletes and waits until INACTIVE.

use super::*;
use crate::resources::edge::CONTAINER_PORT;
use crate::resources::edge::TARGET_GROUP;
use crate::resources::network::private_subnet_ids;
use crate::resources::prelude::*;
use aws_sdk_ecs::types as ecs;

// ---------------------------------------------------------------- service

pub async fn find_service(cx: &StepCx) -> Result<Option<ecs::Service>, StepError> {
    let (cluster, name) = (cluster_name(cx), service_name(cx));
    let r = absent_ok(
        "DescribeServices",
        &name,
        cx.aws.ecs.describe_services().cluster(&cluster).services(&name).send().await,
    )?;
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

pub(crate) const SERVICE_STEP: Node = Node {
    id: ids::COMPUTE_SERVICE,
    deps: &[
        ids::COMPUTE_TASK_DEFINITION,
        ids::COMPUTE_CLUSTER,
        ids::COMPUTE_SERVICE_SG,
        ids::COMPUTE_SG_RULES,
        ids::EDGE_LISTENERS,
        ids::NETWORK_SUBNETS,
        ids::NETWORK_NAT_ROUTES,
        ids::NETWORK_INTERFACE_ENDPOINTS,
    ],
    step: &ServiceStep,
};

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
                if changes.is_empty() {
                    Outcome::Unchanged
                } else {
                    if !cx.dry_run {
                        req.send().await.map_err(|e| aws_err("UpdateService", &name, e))?;
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
                    .client_token(cx.token(SERVICE))
                    .set_tags(Some(Tags::new(cx, SERVICE).render()));
                let o = retry_iam(cx, "CreateService", &name, || req.clone().send()).await?;
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
                    deleted(
                        "DeleteService",
                        &name,
                        cx.aws.ecs.delete_service().cluster(&cluster).service(&name).send().await,
                    )?
                } else {
                    Outcome::Deleted // DRAINING from an earlier run
                }
            }
            None => Outcome::AlreadyAbsent,
        };
        // The cluster can only go once the service is INACTIVE.
        wait_gone(
            cx,
            &format!("service {name}"),
            || find_service(cx),
            |s| format!("{} (running {})", s.status().unwrap_or("?"), s.running_count()),
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
                let healthy = s.running_count() >= s.desired_count() && s.desired_count() > 0 && rollout != "FAILED";
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
