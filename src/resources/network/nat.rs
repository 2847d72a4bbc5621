//! Elastic IPs and the NAT gateways: one in each public subnet, or one in the
//! first AZ shared by both private subnets (`network.nat_gateways = 1`).
//!
//! A NAT gateway needs its EIP, its public subnet and an attached IGW; the
//! gateways are created at once and read with one call per poll. On delete
//! an EIP can be released only once its NAT gateway is gone. A gateway the
//! configuration no longer wants is removed by the routes step
//! ([`remove_surplus`]) once no route uses it: deleting it first would leave
//! its AZ's private subnet without a way out.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{DomainType, ResourceType};
use futures::future::try_join_all;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- Elastic IPs

/// What the state keeps of an Elastic IP: its allocation and address.
fn eip(allocation: Option<&str>, ip: Option<&str>) -> Resource {
    Resource::new("ec2:elastic-ip", allocation.unwrap_or_default()).with("public_ip", ip.unwrap_or_default())
}

pub(crate) struct EipsStep;

#[async_trait]
impl Step<StepCx> for EipsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        for_these_azs(nat_azs(&cx.cfg), Outcome::Unchanged, |az| async move {
            let key = eip_key(az);
            let name = cx.cfg.name(&format!("nat-{az}-eip"));
            match ec2::find::<Address>(cx, &key, None).await? {
                Some(a) => {
                    cx.record(&key, eip(a.allocation_id(), a.public_ip()))?;
                    Ok(Outcome::Unchanged)
                }
                None if cx.dry_run => Ok(Outcome::Created),
                None => {
                    let call = cx.aws.ec2.allocate_address().domain(DomainType::Vpc);
                    let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::ElasticIp, &key, &name));
                    let o = cx.create(&key, "AllocateAddress", &name, &transient::NONE, || call.clone().send()).await?;
                    cx.record_new(&key, eip(o.allocation_id(), o.public_ip()))?;
                    Ok(Outcome::Created)
                }
            }
        })
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        for_azs(Outcome::AlreadyAbsent, |az| release_eip(cx, az)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for az in nat_azs(&cx.cfg) {
            let key = eip_key(az);
            let name = cx.cfg.name(&format!("nat-{az}-eip"));
            rows.extend(cx.inspect_one(
                &key,
                "ec2:elastic-ip",
                &name,
                ec2::find::<Address>(cx, &key, None).await?,
                |i, a| {
                    let state = if a.association_id().is_some() { "associated" } else { "unassociated" };
                    i.status(a.allocation_id(), state, true).detail("public_ip", a.public_ip().unwrap_or_default())
                },
            )?);
        }
        Ok(rows)
    }
}

/// Release the Elastic IP of `az`'s NAT gateway (after the gateway is gone).
async fn release_eip(cx: &StepCx, az: &str) -> Result<Outcome, StepError> {
    let key = eip_key(az);
    let Some(a) = ec2::find::<Address>(cx, &key, None).await? else {
        cx.forget(&key)?;
        return Ok(Outcome::AlreadyAbsent);
    };
    let id = a.allocation_id().unwrap_or_default().to_string();
    // The NAT gateway's deletion releases the association, possibly a
    // little after the NAT reports `deleted`.
    let o = retry_in_use(cx, "ReleaseAddress", &id, || cx.aws.ec2.release_address().allocation_id(&id).send()).await?;
    cx.forget(&key)?;
    Ok(o)
}

// ---------------------------------------------------------------- NAT gateways

pub(crate) struct NatStep;

/// The states of NAT gateways `ids`, in one call (`None`: one is unknown).
pub(crate) async fn nat_states(cx: &StepCx, ids: Vec<String>) -> Result<Option<BTreeMap<String, String>>, StepError> {
    let call = cx.aws.ec2.describe_nat_gateways().set_nat_gateway_ids(Some(ids.clone()));
    let r = call.send().await.or_absent("DescribeNatGateways", &ids.join(","))?;
    Ok(r.map(|o| {
        o.nat_gateways()
            .iter()
            .filter_map(|n| Some((n.nat_gateway_id()?.to_string(), n.state()?.as_str().to_string())))
            .collect()
    }))
}

#[async_trait]
impl Step<StepCx> for NatStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = nat_azs(&cx.cfg).iter().map(|az| async move {
            let key = nat_key(az);
            let name = cx.cfg.name(&format!("nat-{az}"));
            let (id, out) = match ec2::find::<NatGateway>(cx, &key, None).await? {
                Some(n) => {
                    let id = n.nat_gateway_id().unwrap_or_default().to_string();
                    cx.record(&key, Resource::new("ec2:nat-gateway", &id))?;
                    (id, Outcome::Unchanged)
                }
                None if cx.dry_run => (String::new(), Outcome::Created),
                None => {
                    let subnet = cx.require(&subnet_key(true, az), ids::NETWORK_SUBNETS)?;
                    let eip = cx.require(&eip_key(az), ids::NETWORK_EIPS)?;
                    let call = cx.aws.ec2.create_nat_gateway().subnet_id(&subnet).allocation_id(&eip);
                    let call = call.client_token(cx.token(&key)?);
                    let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::Natgateway, &key, &name));
                    let o = retry::fresh(cx, "CreateNatGateway", &name, || call.clone().send()).await?;
                    let id = o.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap_or_default().to_string();
                    // Recorded before waiting: a crash during the wait resumes here.
                    cx.record_new(&key, Resource::new("ec2:nat-gateway", &id))?;
                    (id, Outcome::Created)
                }
            };
            Ok::<_, StepError>((id, out))
        });
        let found = try_join_all(futs).await?;
        let failed = ["failed", "deleting", "deleted"];
        ready_all(cx, "NAT gateway", found, "available", &failed, |ids| nat_states(cx, ids)).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        delete_nats(cx, &AZS).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for az in nat_azs(&cx.cfg) {
            let key = nat_key(az);
            let name = cx.cfg.name(&format!("nat-{az}"));
            let found = ec2::find::<NatGateway>(cx, &key, None).await?;
            rows.extend(cx.inspect_one(&key, "ec2:nat-gateway", &name, found, |i, n| {
                let st = n.state().map(|s| s.as_str()).unwrap_or_default();
                i.status(n.nat_gateway_id(), st, st == "available")
            })?);
        }
        Ok(rows)
    }
}

/// Delete the NAT gateways of `azs` and wait until they are gone.
async fn delete_nats(cx: &StepCx, azs: &[&'static str]) -> Result<Outcome, StepError> {
    let futs = azs.iter().map(|az| async move {
        let key = nat_key(az);
        let mut out = Outcome::AlreadyAbsent;
        // A NAT caught in `deleting` by a previous (killed) run is not
        // returned by find_nat; wait for it through the recorded ID.
        let id = match ec2::find::<NatGateway>(cx, &key, None).await? {
            Some(n) => {
                let id = n.nat_gateway_id().unwrap_or_default().to_string();
                out =
                    deleted("DeleteNatGateway", &id, cx.aws.ec2.delete_nat_gateway().nat_gateway_id(&id).send().await)?;
                Some(id)
            }
            None => cx.state.id(&key),
        };
        Ok::<_, StepError>((id, out))
    });
    let deleted = try_join_all(futs).await?;
    let out = gone_all(cx, "NAT gateway deletion", deleted, &["deleted", "failed"], |ids| nat_states(cx, ids)).await?;
    for az in azs {
        cx.forget(&nat_key(az))?;
    }
    Ok(out)
}

/// Remove the NAT gateways (and their Elastic IPs) of AZs that no longer
/// have one (`network.nat_gateways` lowered). Called once every private
/// route goes to a wanted gateway.
pub(crate) async fn remove_surplus(cx: &StepCx) -> Result<Outcome, StepError> {
    let wanted = nat_azs(&cx.cfg);
    let mut surplus = vec![];
    for az in AZS.iter().filter(|az| !wanted.contains(az)) {
        let present = cx.state.id(&nat_key(az)).is_some()
            || cx.state.id(&eip_key(az)).is_some()
            || ec2::find::<NatGateway>(cx, &nat_key(az), None).await?.is_some();
        if present {
            surplus.push(*az);
        }
    }
    if surplus.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    let what: Vec<String> =
        surplus.iter().map(|az| format!("{}: delete (network.nat_gateways = {})", nat_key(az), wanted.len())).collect();
    if cx.dry_run {
        return Ok(Outcome::Updated(what));
    }
    delete_nats(cx, &surplus).await?;
    for az in &surplus {
        release_eip(cx, az).await?;
    }
    Ok(Outcome::Updated(what))
}
