//! The internet gateway, attached to the VPC.
//!
//! Teardown detaches before deleting; the detach is refused while public
//! addresses (NAT gateways' EIPs, the ALB's) are still mapped, so it waits.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::ResourceType;

// ---------------------------------------------------------------- Internet gateway

pub(crate) struct IgwStep;

#[async_trait]
impl Step<StepCx> for IgwStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("igw");
        let (id, attached, outcome) = match ec2::find::<InternetGateway>(cx, IGW, None).await? {
            Some(g) => {
                let id = g.internet_gateway_id().unwrap_or_default().to_string();
                cx.record(IGW, Resource::new("ec2:internet-gateway", &id))?;
                let vpc = cx.state.id(VPC);
                let attached = g.attachments().iter().any(|a| a.vpc_id().map(str::to_string) == vpc);
                let out = if attached {
                    Outcome::Unchanged
                } else {
                    Outcome::Updated(vec!["attachment: none → vpc".into()])
                };
                (id, attached, out)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let call = cx.aws.ec2.create_internet_gateway();
                let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::InternetGateway, IGW, &name));
                let o =
                    cx.create(IGW, "CreateInternetGateway", &name, &transient::NONE, || call.clone().send()).await?;
                let id = o.internet_gateway().and_then(|g| g.internet_gateway_id()).unwrap_or_default().to_string();
                cx.record_new(IGW, Resource::new("ec2:internet-gateway", &id))?;
                (id, false, Outcome::Created)
            }
        };
        if !attached && !cx.dry_run {
            let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
            let call = cx.aws.ec2.attach_internet_gateway().internet_gateway_id(&id).vpc_id(&vpc);
            retry::fresh(cx, "AttachInternetGateway", &id, || call.clone().send()).await?;
        }
        Ok(outcome)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(g) = ec2::find::<InternetGateway>(cx, IGW, None).await? else {
            cx.forget(IGW)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = g.internet_gateway_id().unwrap_or_default().to_string();
        for a in g.attachments() {
            if let Some(vpc) = a.vpc_id() {
                // Fails while public addresses (NAT, ALB) are still mapped in the VPC.
                retry_in_use(cx, "DetachInternetGateway", &id, || {
                    cx.aws.ec2.detach_internet_gateway().internet_gateway_id(&id).vpc_id(vpc).send()
                })
                .await?;
            }
        }
        let out = deleted(
            "DeleteInternetGateway",
            &id,
            cx.aws.ec2.delete_internet_gateway().internet_gateway_id(&id).send().await,
        )?;
        cx.forget(IGW)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("igw");
        Ok(vec![match ec2::find::<InternetGateway>(cx, IGW, None).await? {
            Some(g) => {
                let state = g
                    .attachments()
                    .first()
                    .and_then(|a| a.state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "detached".into());
                let ok = state == "available" || state == "attached";
                Inspection::new("ec2:internet-gateway", name, g.internet_gateway_id().map(str::to_string), state, ok)
            }
            None => Inspection::missing("ec2:internet-gateway", name, cx.state.id(IGW)),
        }])
    }
}
