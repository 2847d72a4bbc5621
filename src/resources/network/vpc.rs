//! The VPC, and its DNS attributes as a step of their own.
//!
//! Interface endpoints' private DNS needs DNS support and hostnames on, but
//! nothing on the critical path to the database does: the attributes are set
//! beside the subnets rather than before them. A VPC's CIDR cannot change in
//! place; a mismatch is refused, never "fixed" by replacement.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use futures::future::try_join_all;

// ---------------------------------------------------------------- VPC

pub(crate) struct VpcStep;

pub(crate) async fn vpc_attr(cx: &StepCx, id: &str, attr: VpcAttributeName) -> Result<bool, StepError> {
    let call = cx.aws.ec2.describe_vpc_attribute().vpc_id(id).attribute(attr.clone());
    let o = call.send().await.ctx("DescribeVpcAttribute", id)?;
    let v = match attr {
        VpcAttributeName::EnableDnsSupport => o.enable_dns_support(),
        _ => o.enable_dns_hostnames(),
    };
    Ok(v.and_then(|b| b.value()).unwrap_or(false))
}

#[async_trait]
impl Step<StepCx> for VpcStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("vpc");
        match ec2::find::<Vpc>(cx, VPC, None).await? {
            Some(v) => {
                let id = v.vpc_id().unwrap_or_default().to_string();
                cx.record(VPC, Resource::new("ec2:vpc", &id))?;
                let live = v.cidr_block().unwrap_or_default();
                if live != cx.cfg.network.vpc_cidr {
                    return Err(StepError::Refused(format!(
                        "VPC {id} has CIDR {live} but network.vpc_cidr is {}; a VPC's CIDR cannot be changed in place (run `moodlectl down` first)",
                        cx.cfg.network.vpc_cidr
                    )));
                }
                Ok(Outcome::Unchanged)
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let call = cx.aws.ec2.create_vpc().cidr_block(&cx.cfg.network.vpc_cidr);
                let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::Vpc, VPC, &name));
                let o = cx.create(VPC, "CreateVpc", &name, &transient::NONE, || call.clone().send()).await?;
                let id = o.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string();
                cx.record_new(VPC, Resource::new("ec2:vpc", &id))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        cx.remove(VPC, ec2::find::<Vpc>(cx, VPC, None).await?, |v| async move {
            let id = v.vpc_id().unwrap_or_default();
            // Security groups created by other tiers are gone by now; the default
            // SG and main route table go with the VPC.
            retry_in_use(cx, "DeleteVpc", id, || cx.aws.ec2.delete_vpc().vpc_id(id).send()).await
        })
        .await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        cx.inspect_one(VPC, "ec2:vpc", &cx.cfg.name("vpc"), ec2::find::<Vpc>(cx, VPC, None).await?, |i, v| {
            let st = v.state().map(|s| s.as_str()).unwrap_or_default();
            i.status(v.vpc_id(), st, st == "available").detail("cidr", v.cidr_block().unwrap_or_default())
        })
    }
}

/// DNS support and hostnames on the VPC, which interface endpoints' private
/// DNS needs. A step of its own so that the subnets, and the database behind
/// them (the stack's critical path), do not wait for this call.
pub(crate) struct VpcDnsStep;

#[async_trait]
impl Step<StepCx> for VpcDnsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(id) = cx.dependency(VPC, ids::NETWORK_VPC)? else { return Ok(Outcome::Created) };
        // A VPC this run created has DNS support on already (AWS default), so
        // a create costs one call and no reads; an existing VPC is read.
        let created = cx.created.contains(VPC);
        let missing: Vec<VpcAttributeName> = if created {
            vec![VpcAttributeName::EnableDnsHostnames]
        } else {
            let (support, hostnames) = tokio::join!(
                vpc_attr(cx, &id, VpcAttributeName::EnableDnsSupport),
                vpc_attr(cx, &id, VpcAttributeName::EnableDnsHostnames)
            );
            [(VpcAttributeName::EnableDnsSupport, support?), (VpcAttributeName::EnableDnsHostnames, hostnames?)]
                .into_iter()
                .filter(|(_, on)| !on)
                .map(|(a, _)| a)
                .collect()
        };
        let outcome = if created {
            Outcome::Created
        } else if missing.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Updated(missing.iter().map(|a| change(a.as_str(), false, true)).collect())
        };
        if !cx.dry_run {
            // AWS takes one attribute per ModifyVpcAttribute call.
            try_join_all(missing.into_iter().map(|attr| {
                let t = AttributeBooleanValue::builder().value(true).build();
                let req = cx.aws.ec2.modify_vpc_attribute().vpc_id(&id);
                let req = match attr {
                    VpcAttributeName::EnableDnsSupport => req.enable_dns_support(t),
                    _ => req.enable_dns_hostnames(t),
                };
                let id = id.clone();
                async move { retry::fresh(cx, "ModifyVpcAttribute", &id, || req.clone().send()).await }
            }))
            .await?;
        }
        Ok(outcome)
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // attributes go with the VPC
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![]) // `status` shows a change here as drift through its dry run
    }
}
