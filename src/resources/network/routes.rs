//! Route tables: the public one (default route to the IGW) and one private
//! table per AZ (default route to that AZ's NAT gateway, or to the first
//! AZ's when the stack has a single one). Moving a route between gateways is
//! `ReplaceRoute`, in place.
//!
//! A table is associated with its subnets when created; teardown
//! disassociates before deleting, since AWS refuses to delete an associated
//! table.
//!
//! Eventual consistency: a fresh VPC, route table, gateway or subnet ID may
//! be `Invalid*.NotFound` for a moment (`transient::EC2_FRESH_ID`, through
//! `fresh()`/`cx.create`).

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::ResourceType;

// ---------------------------------------------------------------- Route tables

/// Find or create a route table and associate it with `subnets`.
pub(crate) async fn ensure_rtb(
    cx: &StepCx,
    key: &str,
    subnets: &[String],
) -> Result<(Option<String>, Outcome), StepError> {
    let name = cx.cfg.name(&key.replace("rtb/", "rtb-"));
    let (id, live_assoc, mut out) = match ec2::find::<RouteTable>(cx, key, Some(VPC)).await? {
        Some(t) => {
            let id = t.route_table_id().unwrap_or_default().to_string();
            cx.record(key, Resource::new("ec2:route-table", &id))?;
            let assoc: Vec<String> =
                t.associations().iter().filter_map(|a| a.subnet_id().map(str::to_string)).collect();
            (id, assoc, Outcome::Unchanged)
        }
        None if cx.dry_run => return Ok((None, Outcome::Created)),
        None => {
            let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
            let call = cx.aws.ec2.create_route_table().vpc_id(&vpc);
            let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::RouteTable, key, &name));
            let o = cx.create(key, "CreateRouteTable", &name, &transient::EC2_FRESH_ID, || call.clone().send()).await?;
            let id = o.route_table().and_then(|t| t.route_table_id()).unwrap_or_default().to_string();
            cx.record_new(key, Resource::new("ec2:route-table", &id))?;
            (id, vec![], Outcome::Created)
        }
    };
    for s in subnets {
        if live_assoc.contains(s) {
            continue;
        }
        if out != Outcome::Created {
            out = out.merge(Outcome::Updated(vec![format!("{key}: associate {s}")]));
        }
        if !cx.dry_run {
            let call = cx.aws.ec2.associate_route_table().route_table_id(&id).subnet_id(s);
            retry::fresh(cx, "AssociateRouteTable", &id, || call.clone().send()).await?;
        }
    }
    Ok((Some(id), out))
}

/// Ensure `0.0.0.0/0` in table `rtb` goes to `target` (an IGW or NAT ID).
pub(crate) async fn ensure_default_route(
    cx: &StepCx,
    key: &str,
    rtb: Option<&RouteTable>,
    rtb_id: &str,
    target: &str,
) -> Result<Outcome, StepError> {
    let current = rtb.and_then(|t| {
        t.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .map(|r| r.gateway_id().or(r.nat_gateway_id()).unwrap_or("").to_string())
    });
    let is_nat = target.starts_with("nat-");
    match current {
        Some(c) if c == target => Ok(Outcome::Unchanged),
        _ if cx.dry_run => Ok(Outcome::Updated(vec![format!("{key}: 0.0.0.0/0 → {target}")])),
        Some(c) => {
            let req = cx.aws.ec2.replace_route().route_table_id(rtb_id).destination_cidr_block("0.0.0.0/0");
            let req = if is_nat { req.nat_gateway_id(target) } else { req.gateway_id(target) };
            retry::fresh(cx, "ReplaceRoute", rtb_id, || req.clone().send()).await?;
            Ok(Outcome::Updated(vec![change(&format!("{key} 0.0.0.0/0"), c, target)]))
        }
        None => {
            let req = cx.aws.ec2.create_route().route_table_id(rtb_id).destination_cidr_block("0.0.0.0/0");
            let req = if is_nat { req.nat_gateway_id(target) } else { req.gateway_id(target) };
            retry::fresh(cx, "CreateRoute", rtb_id, || req.clone().send()).await?;
            Ok(Outcome::Updated(vec![format!("{key}: add 0.0.0.0/0 → {target}")]))
        }
    }
}

pub(crate) async fn destroy_rtb(cx: &StepCx, key: &str) -> Result<Outcome, StepError> {
    let Some(t) = ec2::find::<RouteTable>(cx, key, Some(VPC)).await? else {
        cx.forget(key)?;
        return Ok(Outcome::AlreadyAbsent);
    };
    let id = t.route_table_id().unwrap_or_default().to_string();
    for a in t.associations() {
        if a.main() == Some(true) {
            continue;
        }
        if let Some(aid) = a.route_table_association_id() {
            deleted(
                "DisassociateRouteTable",
                aid,
                cx.aws.ec2.disassociate_route_table().association_id(aid).send().await,
            )?;
        }
    }
    let out = retry_in_use(cx, "DeleteRouteTable", &id, || cx.aws.ec2.delete_route_table().route_table_id(&id).send())
        .await?;
    cx.forget(key)?;
    Ok(out)
}

pub(crate) async fn inspect_rtb(cx: &StepCx, key: &str, want_target: Option<String>) -> Result<Inspection, StepError> {
    let name = cx.cfg.name(&key.replace("rtb/", "rtb-"));
    Ok(match ec2::find::<RouteTable>(cx, key, Some(VPC)).await? {
        Some(t) => {
            let default = t.routes().iter().find(|r| r.destination_cidr_block() == Some("0.0.0.0/0")).map(|r| {
                format!(
                    "{} ({})",
                    r.gateway_id().or(r.nat_gateway_id()).unwrap_or("-"),
                    r.state().map(|s| s.as_str()).unwrap_or("?")
                )
            });
            let mut i = Inspection::new(
                "ec2:route-table",
                name,
                t.route_table_id().map(str::to_string),
                format!("{} association(s)", t.associations().iter().filter(|a| a.subnet_id().is_some()).count()),
                true,
            );
            if let Some(d) = &default {
                i = i.detail("default_route", d);
            }
            if let Some(w) = want_target {
                if !default.as_deref().unwrap_or("").starts_with(&w) {
                    i.healthy = false;
                    i.drift = Some(format!("0.0.0.0/0 should go to {w}"));
                }
            }
            i
        }
        None => Inspection::missing("ec2:route-table", name, cx.state.id(key)),
    })
}

pub(crate) struct PublicRoutesStep;

#[async_trait]
impl Step<StepCx> for PublicRoutesStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let subnets = if cx.dry_run {
            AZS.iter().filter_map(|az| cx.state.id(&subnet_key(true, az))).collect()
        } else {
            public_subnet_ids(cx)?
        };
        let (id, out) = ensure_rtb(cx, RTB_PUBLIC, &subnets).await?;
        let Some(id) = id else { return Ok(out) };
        let Some(igw) = cx.state.id(IGW) else {
            return Ok(out.merge(Outcome::Updated(vec!["default route".into()])));
        };
        let table = ec2::find::<RouteTable>(cx, RTB_PUBLIC, Some(VPC)).await?;
        let r = ensure_default_route(cx, RTB_PUBLIC, table.as_ref(), &id, &igw).await?;
        Ok(if out == Outcome::Created { out } else { out.merge(r) })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_rtb(cx, RTB_PUBLIC).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![inspect_rtb(cx, RTB_PUBLIC, cx.state.id(IGW)).await?])
    }
}

pub(crate) struct PrivateRouteTablesStep;

#[async_trait]
impl Step<StepCx> for PrivateRouteTablesStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        for_azs(Outcome::Unchanged, |az| async move {
            let subnets: Vec<String> = cx.state.id(&subnet_key(false, az)).into_iter().collect();
            if subnets.is_empty() && !cx.dry_run {
                cx.require(&subnet_key(false, az), ids::NETWORK_SUBNETS)?;
            }
            Ok(ensure_rtb(cx, &private_rtb_key(az), &subnets).await?.1)
        })
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        for_azs(Outcome::AlreadyAbsent, |az| async move { destroy_rtb(cx, &private_rtb_key(az)).await }).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for az in AZS {
            rows.push(inspect_rtb(cx, &private_rtb_key(az), cx.state.id(&nat_key(nat_for(&cx.cfg, az)))).await?);
        }
        Ok(rows)
    }
}

/// The private tables' default routes, split from the tables themselves so
/// the S3 endpoint need not wait for the NAT gateways.
pub(crate) struct NatRoutesStep;

#[async_trait]
impl Step<StepCx> for NatRoutesStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let routes = for_azs(Outcome::Unchanged, |az| async move {
            let key = private_rtb_key(az);
            let nat_az = nat_for(&cx.cfg, az);
            let (Some(rtb), Some(nat)) = (cx.state.id(&key), cx.state.id(&nat_key(nat_az))) else {
                if cx.dry_run {
                    // A table that exists will have its route moved to a gateway yet to be made.
                    return Ok(match cx.state.id(&key) {
                        Some(_) => Outcome::Updated(vec![format!("{key} 0.0.0.0/0 → the new {}", nat_key(nat_az))]),
                        None => Outcome::Created,
                    });
                }
                return Err(StepError::MissingDependency { step: ids::NETWORK_NAT, what: nat_key(nat_az) });
            };
            let table = ec2::find::<RouteTable>(cx, &key, Some(VPC)).await?;
            let o = ensure_default_route(cx, &key, table.as_ref(), &rtb, &nat).await?;
            // A route has no identity of its own: adding it is creating it.
            Ok(match o {
                Outcome::Updated(c) if c.iter().all(|c| c.contains(": add ")) => Outcome::Created,
                o => o,
            })
        })
        .await?;
        // Only now is a gateway the configuration dropped unused.
        Ok(routes.merge(remove_surplus(cx).await?))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        for_azs(Outcome::AlreadyAbsent, |az| async move {
            let Some(rtb) = ec2::find::<RouteTable>(cx, &private_rtb_key(az), Some(VPC)).await? else {
                return Ok(Outcome::AlreadyAbsent);
            };
            let id = rtb.route_table_id().unwrap_or_default();
            if !rtb.routes().iter().any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")) {
                return Ok(Outcome::AlreadyAbsent);
            }
            deleted(
                "DeleteRoute",
                id,
                cx.aws.ec2.delete_route().route_table_id(id).destination_cidr_block("0.0.0.0/0").send().await,
            )
        })
        .await
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        // Reported on the private route tables' rows (default_route).
        Ok(vec![])
    }
}
