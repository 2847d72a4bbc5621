//! The internet gateway, attached to the VPC.
//!
//! Teardown detaches before deleting; the detach is refused while public
//! addresses (NAT gateways' EIPs, the ALB's) are still mapped, so it waits.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::ResourceType;

// ---------------------------------------------------------------- Internet gateway

pub(crate) struct IgwStep;

pub(crate) async fn find_igw(
    cx: &StepCx,
) -> Result<Option<aws_sdk_ec2::types::InternetGateway>, StepError> {
    if let Some(id) = cx.state.id(IGW) {
        let r = absent_ok(
            "DescribeInternetGateways",
            &id,
            cx.aws
                .ec2
                .describe_internet_gateways()
                .internet_gateway_ids(&id)
                .send()
                .await,
        )?;
        if let Some(g) = r.and_then(|o| o.internet_gateways().first().cloned()) {
            return Ok(Some(g));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_internet_gateways()
        .set_filters(Some(ec2_filters(cx, IGW)))
        .send()
        .await
        .map_err(ec2_err("DescribeInternetGateways", "internet gateway"))?;
    Ok(o.internet_gateways()
        .iter()
        .find(|g| is_ours(cx, g.tags(), IGW))
        .cloned())
}

#[async_trait]
impl Step<StepCx> for IgwStep {
    fn id(&self) -> StepId {
        ids::NETWORK_IGW
    }
    fn deps(&self) -> &'static [StepId] {
        &[ids::NETWORK_VPC]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("igw");
        let (id, attached, outcome) = match find_igw(cx).await? {
            Some(g) => {
                let id = g.internet_gateway_id().unwrap_or_default().to_string();
                cx.record(IGW, Resource::new("ec2:internet-gateway", &id))?;
                let vpc = cx.state.id(VPC);
                let attached = g
                    .attachments()
                    .iter()
                    .any(|a| a.vpc_id().map(str::to_string) == vpc);
                let out = if attached {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated(vec!["attachment: none → vpc".into()])
                };
                (id, attached, out)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let o = cx
                    .aws
                    .ec2
                    .create_internet_gateway()
                    .tag_specifications(ec2_tag_spec(cx, ResourceType::InternetGateway, IGW, &name))
                    .send()
                    .await
                    .map_err(ec2_err("CreateInternetGateway", &name))?;
                let id = o
                    .internet_gateway()
                    .and_then(|g| g.internet_gateway_id())
                    .unwrap_or_default()
                    .to_string();
                cx.record_new(IGW, Resource::new("ec2:internet-gateway", &id))?;
                (id, false, Outcome::Created)
            }
        };
        if !attached && !cx.dry_run {
            let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
            cx.aws
                .ec2
                .attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(&vpc)
                .send()
                .await
                .map_err(ec2_err("AttachInternetGateway", &id))?;
        }
        Ok(outcome)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(g) = find_igw(cx).await? else {
            cx.forget(IGW)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = g.internet_gateway_id().unwrap_or_default().to_string();
        for a in g.attachments() {
            if let Some(vpc) = a.vpc_id() {
                // Fails while public addresses (NAT, ALB) are still mapped in the VPC.
                retry_in_use(cx, "DetachInternetGateway", &id, || {
                    cx.aws
                        .ec2
                        .detach_internet_gateway()
                        .internet_gateway_id(&id)
                        .vpc_id(vpc)
                        .send()
                })
                .await?;
            }
        }
        let out = deleted(
            "DeleteInternetGateway",
            &id,
            cx.aws
                .ec2
                .delete_internet_gateway()
                .internet_gateway_id(&id)
                .send()
                .await,
        )?;
        cx.forget(IGW)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("igw");
        Ok(vec![match find_igw(cx).await? {
            Some(g) => {
                let state = g
                    .attachments()
                    .first()
                    .and_then(|a| a.state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "detached".into());
                let ok = state == "available" || state == "attached";
                Inspection::new(
                    "ec2:internet-gateway",
                    name,
                    g.internet_gateway_id().map(str::to_string),
                    state,
                    ok,
                )
            }
            None => Inspection::missing("ec2:internet-gateway", name, cx.state.id(IGW)),
        }])
    }
}
