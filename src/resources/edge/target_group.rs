//! The target group the service registers its tasks in, with the health check
//! on the image's health endpoint.
//!
//! It needs only the VPC; on teardown it goes after the ECS service (which
//! depends on the listeners that use it).

use super::*;
use crate::resources::network::VPC;
use crate::resources::prelude::*;
use aws_sdk_elasticloadbalancingv2::types as elbv2;
use aws_sdk_elasticloadbalancingv2::types::{Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum};

pub(crate) struct TargetGroupStep;

#[async_trait]
impl Step<StepCx> for TargetGroupStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = tg_name(cx);
        let delay = cx.cfg.cdn.deregistration_delay_seconds.to_string();
        let (arn, mut out) = match find_tg(cx).await? {
            Some(tg) => {
                let arn = tg.target_group_arn().unwrap_or_default().to_string();
                cx.record(TARGET_GROUP, Resource::new("elbv2:target-group", &arn))?;
                let mut changes = vec![];
                let codes = tg.matcher().and_then(|m| m.http_code()).unwrap_or_default();
                if tg.health_check_path() != Some(HEALTH_PATH)
                    || tg.health_check_timeout_seconds() != Some(20)
                    || codes != HEALTH_CODES
                {
                    changes.push(change(
                        "health_check",
                        format!(
                            "{} {}s {codes}",
                            tg.health_check_path().unwrap_or("?"),
                            tg.health_check_timeout_seconds().unwrap_or(0)
                        ),
                        format!("{HEALTH_PATH} 20s {HEALTH_CODES}"),
                    ));
                    if !cx.dry_run {
                        let call = cx.aws.elbv2.modify_target_group().target_group_arn(&arn);
                        let call = call.health_check_path(HEALTH_PATH).health_check_timeout_seconds(20);
                        let call = call.health_check_interval_seconds(30);
                        let call = call.matcher(Matcher::builder().http_code(HEALTH_CODES).build());
                        call.send().await.ctx("ModifyTargetGroup", &name)?;
                    }
                }
                (arn, Outcome::of_changes(changes))
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let call = cx.aws.elbv2.create_target_group().name(&name).protocol(ProtocolEnum::Http);
                let call = call.port(CONTAINER_PORT).vpc_id(cx.require(VPC, ids::NETWORK_VPC)?);
                let call = call.target_type(TargetTypeEnum::Ip).health_check_path(HEALTH_PATH);
                let call = call.health_check_timeout_seconds(20).health_check_interval_seconds(30);
                let call = call.matcher(Matcher::builder().http_code(HEALTH_CODES).build());
                let call = call.set_tags(Some(Tags::named(cx, TARGET_GROUP, &name).render()));
                let o = call.send().await.ctx("CreateTargetGroup", &name)?;
                let arn = o.target_groups().first().and_then(|t| t.target_group_arn()).unwrap_or_default().to_string();
                cx.record_new(TARGET_GROUP, Resource::new("elbv2:target-group", &arn))?;
                (arn, Outcome::Created)
            }
        };
        let live = if out == Outcome::Created && !cx.dry_run {
            None
        } else {
            let call = cx.aws.elbv2.describe_target_group_attributes().target_group_arn(&arn);
            let a = call.send().await.ctx("DescribeTargetGroupAttributes", &name)?;
            a.attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value().map(str::to_string))
        };
        if live.as_deref() != Some(delay.as_str()) {
            if out != Outcome::Created {
                out = out.merge(Outcome::Updated(vec![change(
                    "deregistration_delay",
                    live.unwrap_or("?".into()),
                    &delay,
                )]));
            }
            if !cx.dry_run {
                cx.aws
                    .elbv2
                    .modify_target_group_attributes()
                    .target_group_arn(&arn)
                    .attributes(
                        TargetGroupAttribute::builder()
                            .key("deregistration_delay.timeout_seconds")
                            .value(&delay)
                            .build(),
                    )
                    .send()
                    .await
                    .ctx("ModifyTargetGroupAttributes", &name)?;
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let arn = find_tg(cx).await?.map(|tg| tg.target_group_arn().unwrap_or_default().to_string());
        cx.remove(TARGET_GROUP, arn, |arn| async move {
            retry_in_use(cx, "DeleteTargetGroup", &arn, || {
                cx.aws.elbv2.delete_target_group().target_group_arn(&arn).send()
            })
            .await
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = tg_name(cx);
        let found = match find_tg(cx).await? {
            Some(tg) => {
                let arn = tg.target_group_arn().unwrap_or_default().to_string();
                let h = cx.aws.elbv2.describe_target_health().target_group_arn(&arn).send().await;
                Some((arn, h.ctx("DescribeTargetHealth", &name)?))
            }
            None => None,
        };
        cx.inspect_one(TARGET_GROUP, "elbv2:target-group", &name, found, |i, (arn, h)| {
            let state = |d: &elbv2::TargetHealthDescription| {
                d.target_health().and_then(|t| t.state()).map(|s| s.as_str().to_string()).unwrap_or("?".into())
            };
            let all = h.target_health_descriptions();
            let targets: Vec<String> = all
                .iter()
                .map(|d| format!("{}={}", d.target().and_then(|t| t.id()).unwrap_or("?"), state(d)))
                .collect();
            let healthy = all.iter().filter(|d| state(d) == "healthy").count();
            // Honest: no healthy target means the ALB has nowhere to send a
            // request (a deploy's draining or initial targets are not faults).
            let ok = healthy > 0 && !all.iter().any(|d| state(d) == "unhealthy");
            i.status(Some(&arn), format!("{healthy}/{} healthy", all.len()), ok)
                .detail("targets", targets.join(","))
                .detail("healthy", healthy.to_string())
                .detail("total", all.len().to_string())
        })
    }
}
