//! Network tier: VPC, subnets, gateways, routes, VPC endpoints, flow log.
//!
//! Ordering constraints this tier encodes (AWS refuses otherwise):
//! - subnets, the IGW, route tables and endpoints need the VPC;
//! - a NAT gateway needs its public subnet, its Elastic IP, and the IGW
//!   attached (a public NAT without a route to an IGW never works);
//! - the private default routes need the NAT gateways, the S3 gateway
//!   endpoint needs the private route tables;
//! - teardown: NAT gateways and interface endpoints must be fully gone (their
//!   network interfaces released) before subnets and the VPC can be deleted,
//!   and Elastic IPs are released only after their NAT gateway is deleted.
//!   The engine derives all of that from the dependencies in `resources::steps`, in reverse.
//!
//! Every resource is created with its tags in the create call itself
//! (`TagSpecifications`), so a crash right after a create can always be
//! recovered by finding the resource by tag. This file holds what the tier's
//! resources share: their state keys, the AZ layout, and the step list.

mod default_nacl;
mod default_sg;
mod endpoints;
mod flow_log;
mod igw;
mod leftovers;
mod nat;
mod routes;
mod subnets;
mod vpc;
pub(crate) use self::{
    default_nacl::*, default_sg::*, endpoints::*, flow_log::*, igw::*, nat::*, routes::*, subnets::*, vpc::*,
};
pub use crate::resources::keys::*;
pub use crate::resources::names::*;

use crate::resources::prelude::*;
use aws_sdk_ec2::types::{Address, FlowLog, InternetGateway, NatGateway, RouteTable, Subnet, Vpc, VpcEndpoint};

/// The two AZ suffixes; resource keys end in them.
pub const AZS: [&str; 2] = ["a", "b"];

pub fn subnet_key(public: bool, az: &str) -> String {
    format!("subnet/{}-{az}", if public { "public" } else { "private" })
}
pub fn eip_key(az: &str) -> String {
    format!("eip/{az}")
}
pub fn nat_key(az: &str) -> String {
    format!("nat/{az}")
}
pub fn private_rtb_key(az: &str) -> String {
    format!("rtb/private-{az}")
}

/// Interface endpoints: (logical suffix, service suffix).
pub const INTERFACE_ENDPOINTS: [(&str, &str); 4] =
    [("ecr-api", "ecr.api"), ("ecr-dkr", "ecr.dkr"), ("secretsmanager", "secretsmanager"), ("logs", "logs")];

/// The AZs that have a NAT gateway: both, or the first alone
/// (`network.nat_gateways = 1`, the `small` profile).
pub fn nat_azs(cfg: &crate::config::Config) -> &'static [&'static str] {
    &AZS[..usize::from(cfg.network.nat_gateways).clamp(1, AZS.len())]
}

/// The AZ whose NAT gateway the private subnet in `az` leaves through.
pub fn nat_for(cfg: &crate::config::Config, az: &'static str) -> &'static str {
    if nat_azs(cfg).contains(&az) {
        az
    } else {
        AZS[0]
    }
}

/// Run `f` for both AZs at once and merge their outcomes, starting from
/// `none` (`Unchanged` for `up`, `AlreadyAbsent` for `down`).
pub(crate) async fn for_azs<F, Fut>(none: Outcome, f: F) -> Result<Outcome, StepError>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, StepError>>,
{
    for_these_azs(&AZS, none, f).await
}

/// [`for_azs`] over some of the AZs (those with a NAT gateway, say).
pub(crate) async fn for_these_azs<F, Fut>(azs: &[&'static str], none: Outcome, f: F) -> Result<Outcome, StepError>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, StepError>>,
{
    Ok(futures::future::try_join_all(azs.iter().map(|az| f(az))).await?.into_iter().fold(none, Outcome::merge))
}

/// The private subnet IDs (for the data and compute tiers).
pub fn private_subnet_ids(cx: &StepCx) -> Result<Vec<String>, StepError> {
    AZS.iter().map(|az| cx.require(&subnet_key(false, az), ids::NETWORK_SUBNETS)).collect()
}

pub fn public_subnet_ids(cx: &StepCx) -> Result<Vec<String>, StepError> {
    AZS.iter().map(|az| cx.require(&subnet_key(true, az), ids::NETWORK_SUBNETS)).collect()
}

/// Resources tagged for this stack that the state does not know (`status` drift).
pub async fn untracked(cx: &StepCx) -> Result<Vec<(String, String)>, StepError> {
    let mut out = vec![];
    let key_of = |tags: &[aws_sdk_ec2::types::Tag]| tag_value(tags, TAG_RESOURCE).unwrap_or("?").to_string();
    for v in ec2::all_of_stack::<Vpc>(cx).await? {
        out.push((key_of(v.tags()), v.vpc_id().unwrap_or_default().to_string()));
    }
    for n in ec2::all_of_stack::<NatGateway>(cx).await? {
        out.push((key_of(n.tags()), n.nat_gateway_id().unwrap_or_default().to_string()));
    }
    out.retain(|(key, id)| cx.state.id(key).as_deref() != Some(id.as_str()));
    Ok(out)
}
