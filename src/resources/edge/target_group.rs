//! The target group the service registers its tasks in, with the health check
//! on the image's health endpoint.
//!
//! It needs only the VPC; on teardown it goes after the ECS service (which
//! depends on the listeners that use it).

use super::*;
use crate::resources::network::VPC;
use crate::resources::prelude::*;
use aws_sdk_elasticloadbalancingv2::types::{Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum};

pub(crate) struct TargetGroupStep;

pub(crate) const TARGET_GROUP_STEP: Node =
    Node { id: ids::EDGE_TARGET_GROUP, deps: &[ids::NETWORK_VPC], step: &TargetGroupStep };

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
                        cx.aws
                            .elbv2
                            .modify_target_group()
                            .target_group_arn(&arn)
                            .health_check_path(HEALTH_PATH)
                            .health_check_timeout_seconds(20)
                            .health_check_interval_seconds(30)
                            .matcher(Matcher::builder().http_code(HEALTH_CODES).build())
                            .send()
                            .await
                            .map_err(|e| aws_err("ModifyTargetGroup", &name, e))?;
                    }
                }
                (arn, if changes.is_empty() { Outcome::Unchanged } else { Outcome::Updated(changes) })
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let o = cx
                    .aws
                    .elbv2
                    .create_target_group()
                    .name(&name)
                    .protocol(ProtocolEnum::Http)
                    .port(CONTAINER_PORT)
                    .vpc_id(cx.require(VPC, ids::NETWORK_VPC)?)
                    .target_type(TargetTypeEnum::Ip)
                    .health_check_path(HEALTH_PATH)
                    .health_check_timeout_seconds(20)
                    .health_check_interval_seconds(30)
                    .matcher(Matcher::builder().http_code(HEALTH_CODES).build())
                    .set_tags(Some(Tags::named(cx, TARGET_GROUP, &name).render()))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateTargetGroup", &name, e))?;
                let arn = o.target_groups().first().and_then(|t| t.target_group_arn()).unwrap_or_default().to_string();
                cx.record_new(TARGET_GROUP, Resource::new("elbv2:target-group", &arn))?;
                (arn, Outcome::Created)
            }
        };
        let live = if out == Outcome::Created && !cx.dry_run {
            None
        } else {
            let a = cx
                .aws
                .elbv2
                .describe_target_group_attributes()
                .target_group_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_err("DescribeTargetGroupAttributes", &name, e))?;
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
                    .map_err(|e| aws_err("ModifyTargetGroupAttributes", &name, e))?;
            }
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let out = match find_tg(cx).await? {
            Some(tg) => {
                let arn = tg.target_group_arn().unwrap_or_default().to_string();
                retry_in_use(cx, "DeleteTargetGroup", &arn, || {
                    cx.aws.elbv2.delete_target_group().target_group_arn(&arn).send()
                })
                .await?
            }
            None => Outcome::AlreadyAbsent,
        };
        cx.forget(TARGET_GROUP)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = tg_name(cx);
        Ok(vec![match find_tg(cx).await? {
            Some(tg) => {
                let arn = tg.target_group_arn().unwrap_or_default().to_string();
                let h = cx
                    .aws
                    .elbv2
                    .describe_target_health()
                    .target_group_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| aws_err("DescribeTargetHealth", &name, e))?;
                let targets: Vec<String> = h
                    .target_health_descriptions()
                    .iter()
                    .map(|d| {
                        format!(
                            "{}={}",
                            d.target().and_then(|t| t.id()).unwrap_or("?"),
                            d.target_health().and_then(|t| t.state()).map(|s| s.as_str()).unwrap_or("?")
                        )
                    })
                    .collect();
                let healthy = h
                    .target_health_descriptions()
                    .iter()
                    .filter(|d| d.target_health().and_then(|t| t.state()).map(|s| s.as_str()) == Some("healthy"))
                    .count();
                Inspection::new(
                    "elbv2:target-group",
                    &name,
                    Some(arn),
                    format!("{healthy}/{} healthy", targets.len()),
                    true,
                )
                .detail("targets", targets.join(","))
                .detail("healthy", healthy.to_string())
                .detail("total", targets.len().to_string())
            }
            None => Inspection::missing("elbv2:target-group", &name, cx.state.id(TARGET_GROUP)),
        }])
    }
}
