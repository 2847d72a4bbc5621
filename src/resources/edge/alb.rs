//! The ALB and its security group.
//!
//! The ALB needs the public subnets, its security group and the attached IGW
//! (an internet-facing ALB without one is refused).

use super::*;
use crate::resources::network::public_subnet_ids;
use crate::resources::prelude::*;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerSchemeEnum, LoadBalancerTypeEnum};

/// The ALB admits 443 from CloudFront's origin-facing prefix list only (or
/// 80/443 from anywhere with `cdn.restrict_alb = false`).
pub(crate) const ALB_SG: SecurityGroupStep = SecurityGroupStep {
    key: SG_ALB,
    suffix: "alb-sg",
    description: "moodlectl: application load balancer",
    rules: Rules::Own(|cx| Box::pin(alb_ingress(cx))),
};

pub(crate) const ALB_SG_STEP: Node = Node { id: ids::EDGE_ALB_SG, deps: &[ids::NETWORK_VPC], step: &ALB_SG };

pub async fn find_alb(cx: &StepCx) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>, StepError> {
    let name = alb_name(cx);
    let r =
        absent_ok("DescribeLoadBalancers", &name, cx.aws.elbv2.describe_load_balancers().names(&name).send().await)?;
    Ok(r.and_then(|o| o.load_balancers().first().cloned()))
}

pub(crate) struct AlbStep;

pub(crate) const ALB_STEP: Node =
    Node { id: ids::EDGE_ALB, deps: &[ids::NETWORK_SUBNETS, ids::NETWORK_IGW, ids::EDGE_ALB_SG], step: &AlbStep };

#[async_trait]
impl Step<StepCx> for AlbStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = alb_name(cx);
        let (arn, out) = match find_alb(cx).await? {
            Some(lb) => {
                let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                cx.record(
                    ALB,
                    Resource::new("elbv2:load-balancer", &arn)
                        .with("dns", lb.dns_name().unwrap_or_default())
                        .with("zone", lb.canonical_hosted_zone_id().unwrap_or_default()),
                )?;
                let sg = cx.state.id(SG_ALB);
                let mut changes = vec![];
                if let Some(sg) = sg.filter(|sg| lb.security_groups() != [sg.clone()]) {
                    changes.push(change("security_groups", lb.security_groups().join(","), &sg));
                    if !cx.dry_run {
                        cx.aws
                            .elbv2
                            .set_security_groups()
                            .load_balancer_arn(&arn)
                            .security_groups(sg)
                            .send()
                            .await
                            .map_err(|e| aws_err("SetSecurityGroups", &name, e))?;
                    }
                }
                (arn, if changes.is_empty() { Outcome::Unchanged } else { Outcome::Updated(changes) })
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let o = cx
                    .aws
                    .elbv2
                    .create_load_balancer()
                    .name(&name)
                    .set_subnets(Some(public_subnet_ids(cx)?))
                    .security_groups(cx.require(SG_ALB, ids::EDGE_ALB_SG)?)
                    .scheme(LoadBalancerSchemeEnum::InternetFacing)
                    .r#type(LoadBalancerTypeEnum::Application)
                    .set_tags(Some(Tags::named(cx, ALB, &name).render()))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateLoadBalancer", &name, e))?;
                let lb = o
                    .load_balancers()
                    .first()
                    .cloned()
                    .unwrap_or_else(|| aws_sdk_elasticloadbalancingv2::types::LoadBalancer::builder().build());
                let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                cx.record_new(
                    ALB,
                    Resource::new("elbv2:load-balancer", &arn)
                        .with("dns", lb.dns_name().unwrap_or_default())
                        .with("zone", lb.canonical_hosted_zone_id().unwrap_or_default()),
                )?;
                (arn, Outcome::Created)
            }
        };
        if !cx.dry_run {
            wait_for(cx, &format!("ALB {name}"), cx.wait_timeout, || async {
                let lb = find_alb(cx).await?;
                match lb.as_ref().and_then(|l| l.state()).and_then(|s| s.code()).map(|c| c.as_str().to_string()) {
                    Some(c) if c == "active" => Ok(Poll::Ready(())),
                    Some(c) if c == "failed" => {
                        Err(StepError::BadState { resource: format!("ALB {arn}"), state: c, wanted: "active".into() })
                    }
                    c => Ok(Poll::Pending(c.unwrap_or("provisioning".into()))),
                }
            })
            .await?;
        }
        Ok(out)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(lb) = find_alb(cx).await? else {
            cx.forget(ALB)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        let out = deleted(
            "DeleteLoadBalancer",
            &arn,
            cx.aws.elbv2.delete_load_balancer().load_balancer_arn(&arn).send().await,
        )?;
        wait_for(cx, &format!("ALB {} deletion", alb_name(cx)), cx.wait_timeout, || async {
            Ok(if find_alb(cx).await?.is_none() { Poll::Ready(()) } else { Poll::Pending("deleting".into()) })
        })
        .await?;
        cx.forget(ALB)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = alb_name(cx);
        Ok(vec![match find_alb(cx).await? {
            Some(lb) => {
                let st = lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string()).unwrap_or_default();
                Inspection::new(
                    "elbv2:load-balancer",
                    &name,
                    lb.load_balancer_arn().map(str::to_string),
                    &st,
                    st == "active",
                )
                .detail("dns", lb.dns_name().unwrap_or_default())
                .detail("scheme", lb.scheme().map(|s| s.as_str()).unwrap_or_default())
            }
            None => Inspection::missing("elbv2:load-balancer", &name, cx.state.id(ALB)),
        }])
    }
}

pub async fn find_tg(cx: &StepCx) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::TargetGroup>, StepError> {
    let name = tg_name(cx);
    let r = absent_ok("DescribeTargetGroups", &name, cx.aws.elbv2.describe_target_groups().names(&name).send().await)?;
    Ok(r.and_then(|o| o.target_groups().first().cloned()))
}
