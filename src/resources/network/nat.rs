//! Elastic IPs and the NAT gateway in each public subnet.
//!
//! A NAT gateway needs its EIP, its public subnet and an attached IGW; both
//! gateways are created at once and read with one call per poll. On delete
//! an EIP can be released only once its NAT gateway is gone.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{DomainType, ResourceType};
use futures::future::try_join_all;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- Elastic IPs

pub(crate) struct EipsStep;

pub(crate) const EIPS_STEP: Node = Node { id: ids::NETWORK_EIPS, deps: &[], step: &EipsStep };

#[async_trait]
impl Step<StepCx> for EipsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = eip_key(az);
            let name = cx.cfg.name(&format!("nat-{az}-eip"));
            match ec2::find::<Address>(cx, &key, None).await? {
                Some(a) => {
                    cx.record(
                        &key,
                        Resource::new("ec2:elastic-ip", a.allocation_id().unwrap_or_default())
                            .with("public_ip", a.public_ip().unwrap_or_default()),
                    )?;
                    Ok::<_, StepError>(Outcome::Unchanged)
                }
                None if cx.dry_run => Ok(Outcome::Created),
                None => {
                    let o = cx
                        .aws
                        .ec2
                        .allocate_address()
                        .domain(DomainType::Vpc)
                        .tag_specifications(ec2_tag_spec(cx, ResourceType::ElasticIp, &key, &name))
                        .send()
                        .await
                        .map_err(|e| aws_err("AllocateAddress", &name, e))?;
                    cx.record_new(
                        &key,
                        Resource::new("ec2:elastic-ip", o.allocation_id().unwrap_or_default())
                            .with("public_ip", o.public_ip().unwrap_or_default()),
                    )?;
                    Ok(Outcome::Created)
                }
            }
        });
        Ok(try_join_all(futs).await?.into_iter().fold(Outcome::Unchanged, Outcome::merge))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = eip_key(az);
            let Some(a) = ec2::find::<Address>(cx, &key, None).await? else {
                cx.forget(&key)?;
                return Ok::<_, StepError>(Outcome::AlreadyAbsent);
            };
            let id = a.allocation_id().unwrap_or_default().to_string();
            // The NAT gateway's deletion releases the association, possibly a
            // little after the NAT reports `deleted`.
            let o = retry_in_use(cx, "ReleaseAddress", &id, || cx.aws.ec2.release_address().allocation_id(&id).send())
                .await?;
            cx.forget(&key)?;
            Ok(o)
        });
        Ok(try_join_all(futs).await?.into_iter().fold(Outcome::AlreadyAbsent, Outcome::merge))
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for az in AZS {
            let key = eip_key(az);
            let name = cx.cfg.name(&format!("nat-{az}-eip"));
            rows.push(match ec2::find::<Address>(cx, &key, None).await? {
                Some(a) => Inspection::new(
                    "ec2:elastic-ip",
                    name,
                    a.allocation_id().map(str::to_string),
                    if a.association_id().is_some() { "associated" } else { "unassociated" },
                    true,
                )
                .detail("public_ip", a.public_ip().unwrap_or_default()),
                None => Inspection::missing("ec2:elastic-ip", name, cx.state.id(&key)),
            });
        }
        Ok(rows)
    }
}

// ---------------------------------------------------------------- NAT gateways

pub(crate) struct NatStep;

/// The states of NAT gateways `ids`, in one call (`None`: one is unknown).
pub(crate) async fn nat_states(cx: &StepCx, ids: Vec<String>) -> Result<Option<BTreeMap<String, String>>, StepError> {
    let r = absent_ok(
        "DescribeNatGateways",
        &ids.join(","),
        cx.aws.ec2.describe_nat_gateways().set_nat_gateway_ids(Some(ids.clone())).send().await,
    )?;
    Ok(r.map(|o| {
        o.nat_gateways()
            .iter()
            .filter_map(|n| Some((n.nat_gateway_id()?.to_string(), n.state()?.as_str().to_string())))
            .collect()
    }))
}

pub(crate) const NAT_STEP: Node =
    Node { id: ids::NETWORK_NAT, deps: &[ids::NETWORK_SUBNETS, ids::NETWORK_EIPS, ids::NETWORK_IGW], step: &NatStep };

#[async_trait]
impl Step<StepCx> for NatStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
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
                    let o = cx
                        .aws
                        .ec2
                        .create_nat_gateway()
                        .subnet_id(&subnet)
                        .allocation_id(&eip)
                        .client_token(cx.token(&key))
                        .tag_specifications(ec2_tag_spec(cx, ResourceType::Natgateway, &key, &name))
                        .send()
                        .await
                        .map_err(|e| aws_err("CreateNatGateway", &name, e))?;
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
        let futs = AZS.iter().map(|az| async move {
            let key = nat_key(az);
            let mut out = Outcome::AlreadyAbsent;
            // A NAT caught in `deleting` by a previous (killed) run is not
            // returned by find_nat; wait for it through the recorded ID.
            let id = match ec2::find::<NatGateway>(cx, &key, None).await? {
                Some(n) => {
                    let id = n.nat_gateway_id().unwrap_or_default().to_string();
                    out = deleted(
                        "DeleteNatGateway",
                        &id,
                        cx.aws.ec2.delete_nat_gateway().nat_gateway_id(&id).send().await,
                    )?;
                    Some(id)
                }
                None => cx.state.id(&key),
            };
            Ok::<_, StepError>((id, out))
        });
        let deleted = try_join_all(futs).await?;
        let out =
            gone_all(cx, "NAT gateway deletion", deleted, &["deleted", "failed"], |ids| nat_states(cx, ids)).await?;
        for az in AZS {
            cx.forget(&nat_key(az))?;
        }
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for az in AZS {
            let key = nat_key(az);
            let name = cx.cfg.name(&format!("nat-{az}"));
            rows.push(match ec2::find::<NatGateway>(cx, &key, None).await? {
                Some(n) => {
                    let st = n.state().map(|s| s.as_str().to_string()).unwrap_or_default();
                    Inspection::new(
                        "ec2:nat-gateway",
                        name,
                        n.nat_gateway_id().map(str::to_string),
                        st.clone(),
                        st == "available",
                    )
                }
                None => Inspection::missing("ec2:nat-gateway", name, cx.state.id(&key)),
            });
        }
        Ok(rows)
    }
}
