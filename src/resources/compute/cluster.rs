//! The ECS cluster with Container Insights and the FARGATE / FARGATE_SPOT
//! capacity providers.
//!
//! Teardown waits until the service is INACTIVE: a cluster with an active
//! service is refused; so is one with active tasks, so one-off tasks still
//! running (`moodlectl run --detach`) are stopped first.
//!
//! Eventual consistency: in an account that never used ECS, `CreateCluster`
//! with capacity providers is refused until AWS's just-created ECS
//! service-linked role can be assumed (`transient::ECS_SERVICE_LINKED_ROLE`).

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ecs::types as ecs;

// ---------------------------------------------------------------- cluster

pub(crate) async fn find_cluster(cx: &StepCx) -> Result<Option<ecs::Cluster>, StepError> {
    let name = cluster_name(cx);
    let call = cx.aws.ecs.describe_clusters().clusters(&name).include(ecs::ClusterField::Settings);
    let o = call.send().await.ctx("DescribeClusters", &name)?;
    Ok(o.clusters().iter().find(|c| c.status() == Some("ACTIVE") || c.status() == Some("PROVISIONING")).cloned())
}

/// The capacity provider strategy: FARGATE_SPOT only with a weight (an ARM
/// service has none: Fargate Spot does not run ARM64 tasks).
pub(crate) fn strategy(cx: &StepCx) -> Vec<ecs::CapacityProviderStrategyItem> {
    let s = &cx.cfg.service;
    let item = |provider: &str, weight: u32, base: u32| {
        let b = ecs::CapacityProviderStrategyItem::builder().capacity_provider(provider);
        b.weight(weight as i32).base(base as i32).build().expect("provider")
    };
    let spot = (s.spot_weight() > 0).then(|| item("FARGATE_SPOT", s.spot_weight(), 0));
    spot.into_iter().chain([item("FARGATE", s.ondemand_weight, s.ondemand_base)]).collect()
}

pub(crate) fn strategy_sig(items: &[ecs::CapacityProviderStrategyItem]) -> Vec<String> {
    let mut v: Vec<String> =
        items.iter().map(|i| format!("{}:{}:{}", i.capacity_provider(), i.weight(), i.base())).collect();
    v.sort();
    v
}

pub(crate) struct ClusterStep;

#[async_trait]
impl Step<StepCx> for ClusterStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cluster_name(cx);
        let insights =
            ecs::ClusterSetting::builder().name(ecs::ClusterSettingName::ContainerInsights).value("enabled").build();
        match find_cluster(cx).await? {
            Some(c) => {
                cx.record(
                    CLUSTER,
                    Resource::new("ecs:cluster", c.cluster_arn().unwrap_or_default()).with("name", &name),
                )?;
                let mut changes = vec![];
                let on = c.settings().iter().any(|s| {
                    s.name() == Some(&ecs::ClusterSettingName::ContainerInsights) && s.value() == Some("enabled")
                });
                if !on {
                    changes.push(change("container_insights", "disabled", "enabled"));
                    if !cx.dry_run {
                        let call = cx.aws.ecs.update_cluster_settings().cluster(&name).settings(insights);
                        call.send().await.ctx("UpdateClusterSettings", &name)?;
                    }
                }
                let mut providers: Vec<&str> = c.capacity_providers().iter().map(|s| s.as_str()).collect();
                providers.sort();
                if providers != ["FARGATE", "FARGATE_SPOT"]
                    || strategy_sig(c.default_capacity_provider_strategy()) != strategy_sig(&strategy(cx))
                {
                    changes.push(change("capacity_providers", providers.join(","), "FARGATE,FARGATE_SPOT"));
                    if !cx.dry_run {
                        let call = cx.aws.ecs.put_cluster_capacity_providers().cluster(&name);
                        let call = call.capacity_providers("FARGATE").capacity_providers("FARGATE_SPOT");
                        let call = call.set_default_capacity_provider_strategy(Some(strategy(cx)));
                        call.send().await.ctx("PutClusterCapacityProviders", &name)?;
                    }
                }
                Ok(Outcome::of_changes(changes))
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let call = cx.aws.ecs.create_cluster().cluster_name(&name).settings(insights);
                let call = call.capacity_providers("FARGATE").capacity_providers("FARGATE_SPOT");
                let call = call.set_default_capacity_provider_strategy(Some(strategy(cx)));
                let call = call.set_tags(Some(Tags::new(cx, CLUSTER).render()));
                let rule = &transient::ECS_SERVICE_LINKED_ROLE;
                let o = retry(cx, "CreateCluster", &name, rule, || call.clone().send()).await?;
                cx.record_new(
                    CLUSTER,
                    Resource::new("ecs:cluster", o.cluster().and_then(|c| c.cluster_arn()).unwrap_or_default())
                        .with("name", &name),
                )?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cluster_name(cx);
        cx.remove(CLUSTER, find_cluster(cx).await?, |_| async {
            // The service's tasks went with it; one-off tasks (`moodlectl
            // run --detach`) may still run, and AWS refuses to delete a
            // cluster with active tasks (ClusterContainsTasksException).
            let call =
                cx.aws.ecs.list_tasks().cluster(&name).desired_status(aws_sdk_ecs::types::DesiredStatus::Running);
            for arn in call.send().await.ctx("ListTasks", &name)?.task_arns() {
                cx.progress(format!("stopping task {arn}"));
                let stop = cx.aws.ecs.stop_task().cluster(&name).task(arn).reason("moodlectl down");
                stop.send().await.ctx("StopTask", arn)?;
            }
            retry_in_use(cx, "DeleteCluster", &name, || cx.aws.ecs.delete_cluster().cluster(&name).send()).await
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(CLUSTER, "ecs:cluster", &cluster_name(cx), find_cluster(cx).await?, |i, c| {
            i.status(c.cluster_arn(), c.status().unwrap_or("?"), c.status() == Some("ACTIVE"))
                .detail("running_tasks", c.running_tasks_count().to_string())
                .detail("capacity_providers", c.capacity_providers().join(","))
        })
    }
}
