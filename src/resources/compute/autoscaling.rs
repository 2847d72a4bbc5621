//! Application Auto Scaling for the service: a scalable target (min =
//! desired count, max) and a CPU target-tracking policy.
//!
//! It needs the service; the desired count is left to the autoscaler within
//! its bounds, so `up` does not fight it.

use super::*;
use crate::resources::prelude::*;

// ---------------------------------------------------------------- autoscaling

pub(crate) fn resource_id(cx: &StepCx) -> String {
    format!("service/{}/{}", cluster_name(cx), service_name(cx))
}
pub(crate) fn policy_name(cx: &StepCx) -> String {
    cx.cfg.name("cpu-target")
}

pub(crate) struct AutoscalingStep;

#[async_trait]
impl Step<StepCx> for AutoscalingStep {
    fn id(&self) -> StepId {
        ids::COMPUTE_AUTOSCALING
    }
    fn deps(&self) -> &'static [StepId] {
        &[ids::COMPUTE_SERVICE]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        use aws_sdk_applicationautoscaling::types as aas;
        let rid = resource_id(cx);
        let (min, max) = (
            cx.cfg.service.desired_count as i32,
            cx.cfg.service.max_count as i32,
        );
        let target = cx.cfg.service.cpu_target_percent as f64;
        let t = cx
            .aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_ids(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalableTargets", &rid, e))?;
        let live = t.scalable_targets().first();
        let mut out = match live {
            Some(t) if t.min_capacity() == min && t.max_capacity() == max => Outcome::Unchanged,
            Some(t) => Outcome::Updated(vec![change(
                "autoscaling bounds",
                format!("{}..{}", t.min_capacity(), t.max_capacity()),
                format!("{min}..{max}"),
            )]),
            None => Outcome::Created,
        };
        if out != Outcome::Unchanged && !cx.dry_run {
            cx.aws
                .autoscaling
                .register_scalable_target()
                .service_namespace(aas::ServiceNamespace::Ecs)
                .resource_id(&rid)
                .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                .min_capacity(min)
                .max_capacity(max)
                .send()
                .await
                .map_err(|e| aws_err("RegisterScalableTarget", &rid, e))?;
        }
        cx.record(SCALING, Resource::new("autoscaling:scalable-target", &rid))?;
        let p = cx
            .aws
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_id(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalingPolicies", &rid, e))?;
        let live_target = p
            .scaling_policies()
            .iter()
            .find(|p| p.policy_name() == policy_name(cx))
            .and_then(|p| p.target_tracking_scaling_policy_configuration())
            .map(|c| c.target_value());
        if live_target != Some(target) {
            if out == Outcome::Unchanged {
                out = Outcome::Updated(vec![change(
                    "cpu_target_percent",
                    live_target.map(|v| v.to_string()).unwrap_or("none".into()),
                    target,
                )]);
            }
            if !cx.dry_run {
                let cfg = aas::TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(target)
                    .predefined_metric_specification(
                        aas::PredefinedMetricSpecification::builder()
                            .predefined_metric_type(
                                aas::MetricType::EcsServiceAverageCpuUtilization,
                            )
                            .build()
                            .expect("metric"),
                    )
                    .build()
                    .expect("target");
                cx.aws
                    .autoscaling
                    .put_scaling_policy()
                    .policy_name(policy_name(cx))
                    .service_namespace(aas::ServiceNamespace::Ecs)
                    .resource_id(&rid)
                    .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                    .policy_type(aas::PolicyType::TargetTrackingScaling)
                    .target_tracking_scaling_policy_configuration(cfg)
                    .send()
                    .await
                    .map_err(|e| aws_err("PutScalingPolicy", &rid, e))?;
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        use aws_sdk_applicationautoscaling::types as aas;
        let rid = resource_id(cx);
        let t = cx
            .aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_ids(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalableTargets", &rid, e))?;
        let mut out = Outcome::AlreadyAbsent;
        if !t.scalable_targets().is_empty() {
            let p = cx
                .aws
                .autoscaling
                .describe_scaling_policies()
                .service_namespace(aas::ServiceNamespace::Ecs)
                .resource_id(&rid)
                .send()
                .await
                .map_err(|e| aws_err("DescribeScalingPolicies", &rid, e))?;
            for pol in p.scaling_policies() {
                deleted(
                    "DeleteScalingPolicy",
                    &rid,
                    cx.aws
                        .autoscaling
                        .delete_scaling_policy()
                        .policy_name(pol.policy_name())
                        .service_namespace(aas::ServiceNamespace::Ecs)
                        .resource_id(&rid)
                        .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                        .send()
                        .await,
                )?;
            }
            out = deleted(
                "DeregisterScalableTarget",
                &rid,
                cx.aws
                    .autoscaling
                    .deregister_scalable_target()
                    .service_namespace(aas::ServiceNamespace::Ecs)
                    .resource_id(&rid)
                    .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                    .send()
                    .await,
            )?;
        }
        cx.forget(SCALING)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        use aws_sdk_applicationautoscaling::types as aas;
        let rid = resource_id(cx);
        let t = cx
            .aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_ids(&rid)
            .send()
            .await
            .map_err(|e| aws_err("DescribeScalableTargets", &rid, e))?;
        Ok(vec![match t.scalable_targets().first() {
            Some(t) => {
                let mut i = Inspection::new(
                    "autoscaling:scalable-target",
                    &rid,
                    Some(rid.clone()),
                    format!("min {} max {}", t.min_capacity(), t.max_capacity()),
                    true,
                );
                if (t.min_capacity(), t.max_capacity())
                    != (
                        cx.cfg.service.desired_count as i32,
                        cx.cfg.service.max_count as i32,
                    )
                {
                    i.drift = Some("bounds differ from config".into());
                }
                i
            }
            None => Inspection::missing("autoscaling:scalable-target", &rid, cx.state.id(SCALING)),
        }])
    }
}
