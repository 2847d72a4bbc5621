//! Application Auto Scaling for the service: a scalable target (min =
//! desired count, max) and a CPU target-tracking policy.
//!
//! It needs the service; the desired count is left to the autoscaler within
//! its bounds, so `up` does not fight it.
//!
//! Eventual consistency: `RegisterScalableTarget` creates Application Auto
//! Scaling's service-linked role on first use and sees a new service late
//! (`transient::SCALABLE_TARGET`); `PutScalingPolicy` may not see the target
//! just registered (`transient::SCALING_POLICY`).

use super::*;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- autoscaling

pub(crate) fn resource_id(cx: &StepCx) -> String {
    format!("service/{}/{}", cluster_name(cx), service_name(cx))
}
pub(crate) fn policy_name(cx: &StepCx) -> String {
    cx.cfg.name("cpu-target")
}

use aws_sdk_applicationautoscaling::types as aas;

const ECS: aas::ServiceNamespace = aas::ServiceNamespace::Ecs;
const DESIRED_COUNT: aas::ScalableDimension = aas::ScalableDimension::EcsServiceDesiredCount;

async fn find_target(cx: &StepCx, rid: &str) -> Result<Option<aas::ScalableTarget>, StepError> {
    let req = cx.aws.autoscaling.describe_scalable_targets().service_namespace(ECS).resource_ids(rid);
    let o = req.send().await.ctx("DescribeScalableTargets", rid)?;
    Ok(o.scalable_targets().first().cloned())
}

async fn policies(cx: &StepCx, rid: &str) -> Result<Vec<aas::ScalingPolicy>, StepError> {
    let req = cx.aws.autoscaling.describe_scaling_policies().service_namespace(ECS).resource_id(rid);
    let o = req.send().await.ctx("DescribeScalingPolicies", rid)?;
    Ok(o.scaling_policies().to_vec())
}

/// The desired count's bounds: the configured count (a floor, so a deploy
/// never scales the site below it) to the maximum.
fn bounds(cx: &StepCx) -> (i32, i32) {
    (cx.cfg.service.desired_count as i32, cx.cfg.service.max_count as i32)
}

pub(crate) struct AutoscalingStep;

#[async_trait]
impl Step<StepCx> for AutoscalingStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let rid = resource_id(cx);
        let (min, max) = bounds(cx);
        let target = cx.cfg.service.cpu_target_percent as f64;
        let mut out = match find_target(cx, &rid).await? {
            Some(t) if (t.min_capacity(), t.max_capacity()) == (min, max) => Outcome::Unchanged,
            Some(t) => Outcome::Updated(vec![change(
                "autoscaling bounds",
                format!("{}..{}", t.min_capacity(), t.max_capacity()),
                format!("{min}..{max}"),
            )]),
            None => Outcome::Created,
        };
        if out != Outcome::Unchanged && !cx.dry_run {
            let req = cx.aws.autoscaling.register_scalable_target().service_namespace(ECS).resource_id(&rid);
            let req = req.scalable_dimension(DESIRED_COUNT).min_capacity(min).max_capacity(max);
            retry(cx, "RegisterScalableTarget", &rid, &transient::SCALABLE_TARGET, || req.clone().send()).await?;
        }
        let scalable = Resource::new("autoscaling:scalable-target", &rid);
        // Created (or, in a plan, to be created) is not "found by tag".
        if out == Outcome::Created {
            cx.record_new(SCALING, scalable)?;
        } else {
            cx.record(SCALING, scalable)?;
        }
        let live_target = policies(cx, &rid)
            .await?
            .iter()
            .find(|p| p.policy_name() == policy_name(cx))
            .and_then(|p| p.target_tracking_scaling_policy_configuration())
            .map(|c| c.target_value());
        if live_target == Some(target) {
            return Ok(out);
        }
        if out == Outcome::Unchanged {
            let live = live_target.map(|v| v.to_string()).unwrap_or("none".into());
            out = Outcome::Updated(vec![change("cpu_target_percent", live, target)]);
        }
        dry_run!(cx, out);
        let metric = aas::PredefinedMetricSpecification::builder()
            .predefined_metric_type(aas::MetricType::EcsServiceAverageCpuUtilization)
            .build()
            .expect("metric type set");
        let cfg = aas::TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(target)
            .predefined_metric_specification(metric)
            .build()
            .expect("target value set");
        let req = cx.aws.autoscaling.put_scaling_policy().policy_name(policy_name(cx)).service_namespace(ECS);
        let req = req.resource_id(&rid).scalable_dimension(DESIRED_COUNT);
        let req =
            req.policy_type(aas::PolicyType::TargetTrackingScaling).target_tracking_scaling_policy_configuration(cfg);
        retry(cx, "PutScalingPolicy", &rid, &transient::SCALING_POLICY, || req.clone().send()).await?;
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let rid = resource_id(cx);
        let mut out = Outcome::AlreadyAbsent;
        if find_target(cx, &rid).await?.is_some() {
            for pol in policies(cx, &rid).await? {
                let req = cx.aws.autoscaling.delete_scaling_policy().policy_name(pol.policy_name());
                let req = req.service_namespace(ECS).resource_id(&rid).scalable_dimension(DESIRED_COUNT);
                deleted("DeleteScalingPolicy", &rid, req.send().await)?;
            }
            let req = cx.aws.autoscaling.deregister_scalable_target().service_namespace(ECS).resource_id(&rid);
            out = deleted("DeregisterScalableTarget", &rid, req.scalable_dimension(DESIRED_COUNT).send().await)?;
        }
        cx.forget(SCALING)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let rid = resource_id(cx);
        Ok(vec![match find_target(cx, &rid).await? {
            Some(t) => {
                let (min, max) = (t.min_capacity(), t.max_capacity());
                let mut i = Inspection::new(
                    "autoscaling:scalable-target",
                    &rid,
                    Some(rid.clone()),
                    format!("min {min} max {max}"),
                    true,
                );
                if (min, max) != bounds(cx) {
                    i.drift = Some("bounds differ from config".into());
                }
                i
            }
            None => Inspection::missing("autoscaling:scalable-target", &rid, cx.state.id(SCALING)),
        }])
    }
}
