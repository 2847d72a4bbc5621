//! The ALB and its security group.
//!
//! The ALB needs the public subnets, its security group and the attached IGW
//! (an internet-facing ALB without one is refused). It drops request header
//! fields that are not valid HTTP (`routing.http.drop_invalid_header_fields`,
//! off by default on AWS): a header smuggled past CloudFront never reaches
//! Apache and Moodle.
//!
//! Access logs go to the stack's logs bucket under `alb/`: the bucket and its
//! policy (the region's ELB log-delivery principal) must exist first — AWS
//! checks it can write when access logging is turned on and refuses with
//! `InvalidConfigurationRequest` ("Access Denied for bucket") otherwise.
//! With `cdn.alb_deletion_protection`, `DeleteLoadBalancer` is refused
//! (`OperationNotPermitted`) until the attribute is turned off, which
//! `down` does first.

use super::*;
use crate::resources::network::public_subnet_ids;
use crate::resources::prelude::*;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerTypeEnum};

/// The ALB admits 443 from CloudFront's origin-facing prefix list only (or
/// 80/443 from anywhere with `cdn.restrict_alb = false`).
pub(crate) const ALB_SG: SecurityGroupStep = SecurityGroupStep {
    key: SG_ALB,
    suffix: "alb-sg",
    description: "moodlectl: application load balancer",
    rules: Rules::Own(|cx| Box::pin(alb_ingress(cx))),
};

pub async fn find_alb(cx: &StepCx) -> Result<Option<LoadBalancer>, StepError> {
    let name = alb_name(cx);
    let r =
        cx.aws.elbv2.describe_load_balancers().names(&name).send().await.or_absent("DescribeLoadBalancers", &name)?;
    Ok(r.and_then(|o| o.load_balancers().first().cloned()))
}

/// What the state keeps of the ALB: its ARN, and the DNS name and hosted
/// zone that CloudFront's origin and `outputs` use.
fn recorded(lb: &LoadBalancer) -> Resource {
    Resource::new("elbv2:load-balancer", lb.load_balancer_arn().unwrap_or_default())
        .with("dns", lb.dns_name().unwrap_or_default())
        .with("zone", lb.canonical_hosted_zone_id().unwrap_or_default())
}

pub(crate) struct AlbStep;

#[async_trait]
impl Step<StepCx> for AlbStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = alb_name(cx);
        let (arn, out) = match find_alb(cx).await? {
            Some(lb) => {
                let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                cx.record(ALB, recorded(&lb))?;
                let sg = cx.state.id(SG_ALB);
                let mut changes = vec![];
                if let Some(sg) = sg.filter(|sg| lb.security_groups() != [sg.clone()]) {
                    changes.push(change("security_groups", lb.security_groups().join(","), &sg));
                    if !cx.dry_run {
                        let call = cx.aws.elbv2.set_security_groups().load_balancer_arn(&arn).security_groups(sg);
                        call.send().await.ctx("SetSecurityGroups", &name)?;
                    }
                }
                (arn, Outcome::of_changes(changes))
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let call = cx.aws.elbv2.create_load_balancer().name(&name).set_subnets(Some(public_subnet_ids(cx)?));
                let call = call.security_groups(cx.require(SG_ALB, ids::EDGE_ALB_SG)?);
                let call = call.scheme(LoadBalancerSchemeEnum::InternetFacing);
                let call = call.r#type(LoadBalancerTypeEnum::Application);
                let call = call.set_tags(Some(Tags::named(cx, ALB, &name).render()));
                let o = call.send().await.ctx("CreateLoadBalancer", &name)?;
                let lb = o.load_balancers().first().cloned().unwrap_or_else(|| LoadBalancer::builder().build());
                let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
                cx.record_new(ALB, recorded(&lb))?;
                (arn, Outcome::Created)
            }
        };
        let out = out.merge(ensure_attributes(cx, &arn, &name).await?);
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
        cx.remove(ALB, find_alb(cx).await?, |lb| async move {
            let arn = lb.load_balancer_arn().unwrap_or_default();
            // Deletion protection refuses the delete: `down` means it. Access
            // logs go off in the same call: ELB checks the logs bucket on a
            // change of attributes while logging is on, and refuses ("Access
            // Denied for bucket") if someone deleted that bucket by hand. The
            // delete follows at once, so at most its last seconds go unlogged.
            let off = [(PROTECTION, "false"), ("access_logs.s3.enabled", "false")].map(|(k, v)| (k.into(), v.into()));
            set_attributes(cx, arn, &alb_name(cx), &off).await?;
            let out = deleted(
                "DeleteLoadBalancer",
                arn,
                cx.aws.elbv2.delete_load_balancer().load_balancer_arn(arn).send().await,
            )?;
            wait_gone(cx, &format!("ALB {}", alb_name(cx)), || find_alb(cx), |_| "deleting".into()).await?;
            Ok(out)
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(ALB, "elbv2:load-balancer", &alb_name(cx), find_alb(cx).await?, |i, lb| {
            let st = lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string()).unwrap_or_default();
            i.status(lb.load_balancer_arn(), &st, st == "active")
                .detail("dns", lb.dns_name().unwrap_or_default())
                .detail("scheme", lb.scheme().map(|s| s.as_str()).unwrap_or_default())
        })
    }
}

const PROTECTION: &str = "deletion_protection.enabled";

/// The load balancer attributes the stack sets (key, value).
pub fn attributes(cx: &StepCx) -> Vec<(String, String)> {
    let bucket = cx.state.id(LOGS_BUCKET).unwrap_or_default();
    [
        ("routing.http.drop_invalid_header_fields.enabled", "true".to_string()),
        (PROTECTION, cx.cfg.cdn.alb_deletion_protection.to_string()),
        ("access_logs.s3.enabled", "true".to_string()),
        ("access_logs.s3.bucket", bucket),
        ("access_logs.s3.prefix", crate::resources::audit::ALB_LOG_PREFIX.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn set_attributes(cx: &StepCx, arn: &str, name: &str, attrs: &[(String, String)]) -> Result<(), StepError> {
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
    let attrs = attrs.iter().map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build()).collect();
    let call = cx.aws.elbv2.modify_load_balancer_attributes().load_balancer_arn(arn).set_attributes(Some(attrs));
    call.send().await.ctx("ModifyLoadBalancerAttributes", name)?;
    Ok(())
}

async fn ensure_attributes(cx: &StepCx, arn: &str, name: &str) -> Result<Outcome, StepError> {
    if arn.is_empty() {
        return Ok(Outcome::Unchanged); // a plan of an ALB yet to be created
    }
    let call = cx.aws.elbv2.describe_load_balancer_attributes().load_balancer_arn(arn);
    let live = call.send().await.ctx("DescribeLoadBalancerAttributes", name)?;
    let value = |k: &str| live.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value()).unwrap_or("");
    let wrong: Vec<(String, String)> = attributes(cx).into_iter().filter(|(k, v)| value(k) != v).collect();
    if wrong.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    let changes = wrong.iter().map(|(k, v)| change(k, value(k), v)).collect();
    if !cx.dry_run {
        set_attributes(cx, arn, name, &wrong).await?;
    }
    Ok(Outcome::of_changes(changes))
}

pub async fn find_tg(cx: &StepCx) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::TargetGroup>, StepError> {
    let name = tg_name(cx);
    let r = cx.aws.elbv2.describe_target_groups().names(&name).send().await.or_absent("DescribeTargetGroups", &name)?;
    Ok(r.and_then(|o| o.target_groups().first().cloned()))
}
