//! The ECS cluster with Container Insights and the FARGATE / FARGATE_SPOT
//! capacity providers.
//!
//! Teardown waits until the service is INACTIVE: a cluster with an active
//! service is refused.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ecs::types as ecs;

// ---------------------------------------------------------------- cluster

pub(crate) async fn find_cluster(cx: &StepCx) -> Result<Option<ecs::Cluster>, StepError> {
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
    Ok(o.clusters().iter().find(|c| c.status() == Some("ACTIVE") || c.status() == Some("PROVISIONING")).cloned())
}

pub(crate) fn strategy(cx: &StepCx) -> Vec<ecs::CapacityProviderStrategyItem> {
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

pub(crate) fn strategy_sig(items: &[ecs::CapacityProviderStrategyItem]) -> Vec<String> {
    let mut v: Vec<String> =
        items.iter().map(|i| format!("{}:{}:{}", i.capacity_provider(), i.weight(), i.base())).collect();
    v.sort();
    v
}

pub(crate) struct ClusterStep;

pub(crate) const CLUSTER_STEP: Node = Node { id: ids::COMPUTE_CLUSTER, deps: &[], step: &ClusterStep };

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
                let mut providers: Vec<&str> = c.capacity_providers().iter().map(|s| s.as_str()).collect();
                providers.sort();
                if providers != ["FARGATE", "FARGATE_SPOT"]
                    || strategy_sig(c.default_capacity_provider_strategy()) != strategy_sig(&strategy(cx))
                {
                    changes.push(change("capacity_providers", providers.join(","), "FARGATE,FARGATE_SPOT"));
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
                Ok(if changes.is_empty() { Outcome::Unchanged } else { Outcome::Updated(changes) })
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
                    .set_tags(Some(Tags::new(cx, CLUSTER).render()))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateCluster", &name, e))?;
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
        let out = match find_cluster(cx).await? {
            Some(_) => {
                retry_in_use(cx, "DeleteCluster", &name, || cx.aws.ecs.delete_cluster().cluster(&name).send()).await?
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
