//! The VPC's default security group, stripped of its rules.
//!
//! EC2 gives every VPC a default group that admits all traffic from its own
//! members and lets everything out; a resource launched without a group of
//! its own lands in it. Nothing of the stack uses it, so it keeps no rule
//! (CIS AWS Foundations 5.4). It cannot be deleted: it goes with the VPC, so
//! teardown has nothing to do.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{Filter, SecurityGroup};

/// The VPC may be milliseconds old: EC2 can answer its ID not found for a
/// while (`transient::EC2_FRESH_ID`).
async fn find_default(cx: &StepCx, vpc: &str) -> Result<Option<SecurityGroup>, StepError> {
    let o = retry(cx, "DescribeSecurityGroups", vpc, &transient::EC2_FRESH_ID, || {
        let call = cx.aws.ec2.describe_security_groups();
        let call = call.filters(Filter::builder().name("vpc-id").values(vpc).build());
        call.filters(Filter::builder().name("group-name").values("default").build()).send()
    })
    .await?;
    Ok(o.security_groups().first().cloned())
}

fn rule_count(g: &SecurityGroup) -> usize {
    g.ip_permissions().len() + g.ip_permissions_egress().len()
}

pub(crate) struct DefaultSgStep;

#[async_trait]
impl Step<StepCx> for DefaultSgStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(vpc) = cx.dependency(VPC, ids::NETWORK_VPC)? else { return Ok(Outcome::Created) };
        let Some(g) = find_default(cx, &vpc).await? else { return Ok(Outcome::Unchanged) };
        let id = g.group_id().unwrap_or_default().to_string();
        if rule_count(&g) == 0 {
            return Ok(Outcome::Unchanged);
        }
        if !cx.dry_run {
            if !g.ip_permissions().is_empty() {
                let call = cx.aws.ec2.revoke_security_group_ingress().group_id(&id);
                call.set_ip_permissions(Some(g.ip_permissions().to_vec()))
                    .send()
                    .await
                    .ctx("RevokeSecurityGroupIngress", &id)?;
            }
            if !g.ip_permissions_egress().is_empty() {
                let call = cx.aws.ec2.revoke_security_group_egress().group_id(&id);
                let call = call.set_ip_permissions(Some(g.ip_permissions_egress().to_vec()));
                call.send().await.ctx("RevokeSecurityGroupEgress", &id)?;
            }
        }
        Ok(Outcome::Updated(vec![format!("{id} (default): {} rule(s) removed", rule_count(&g))]))
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // deleted with the VPC
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let Some(vpc) = cx.state.id(VPC) else { return Ok(vec![]) };
        let Some(g) = find_default(cx, &vpc).await? else { return Ok(vec![]) };
        let id = g.group_id().map(str::to_string);
        let mut i = Inspection::new("ec2:security-group", "default", id, "exists", true)
            .detail("rules", rule_count(&g).to_string());
        if rule_count(&g) > 0 {
            i.drift = Some(format!("{} rule(s) on the VPC's default group", rule_count(&g)));
        }
        Ok(vec![i])
    }
}
