//! Network tier: VPC, subnets, gateways, routes, VPC endpoints, flow log.
//!
//! Ordering constraints this module encodes (AWS refuses otherwise):
//! - subnets, the IGW, route tables and endpoints need the VPC;
//! - a NAT gateway needs its public subnet, its Elastic IP, and the IGW
//!   attached (a public NAT without a route to an IGW never works);
//! - the private default routes need the NAT gateways, the S3 gateway
//!   endpoint needs the private route tables;
//! - teardown: NAT gateways and interface endpoints must be fully gone (their
//!   network interfaces released) before subnets and the VPC can be deleted,
//!   and Elastic IPs are released only after their NAT gateway is deleted.
//!   The engine derives all of that from `deps()` in reverse.
//!
//! Every resource is created with its tags in the create call itself
//! (`TagSpecifications`), so a crash right after a create can always be
//! recovered by finding the resource by tag.

use super::{
    deleted, ec2_filters, ec2_stack_filter, ec2_tag, ec2_tag_spec, ec2_tagged, ec2_tags,
    retry_while_in_use, same_policy,
};
use crate::aws::{gone_all, ready_all};
use crate::engine::{change, Inspection, Outcome, Step, StepCx};
use crate::error::{absent_ok, aws_err, StepError};
use crate::state::Resource;
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, Filter, FlowLogsResourceType, IpPermission, IpRange,
    LogDestinationType, ResourceType, TrafficType, VpcAttributeName, VpcEndpointType,
};
use futures::future::try_join_all;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const VPC: &str = "vpc";
pub const IGW: &str = "igw";
pub const RTB_PUBLIC: &str = "rtb/public";
pub const SG_ENDPOINTS: &str = "sg/endpoints";
pub const VPCE_S3: &str = "vpce/s3";
pub const FLOW_ROLE: &str = "iam-role/flow-logs";
pub const FLOW_LOG_GROUP: &str = "log-group/flow-logs";
pub const FLOW_LOG: &str = "flow-log";

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
pub const INTERFACE_ENDPOINTS: [(&str, &str); 4] = [
    ("ecr-api", "ecr.api"),
    ("ecr-dkr", "ecr.dkr"),
    ("secretsmanager", "secretsmanager"),
    ("logs", "logs"),
];

pub fn steps() -> Vec<Arc<dyn Step>> {
    vec![
        Arc::new(VpcStep),
        Arc::new(VpcDnsStep),
        Arc::new(SubnetsStep),
        Arc::new(PublicSubnetIpStep),
        Arc::new(EipsStep),
        Arc::new(IgwStep),
        Arc::new(NatStep),
        Arc::new(EndpointSgStep),
        Arc::new(InterfaceEndpointsStep),
        Arc::new(PublicRoutesStep),
        Arc::new(PrivateRouteTablesStep),
        Arc::new(NatRoutesStep),
        Arc::new(S3EndpointStep),
        Arc::new(FlowLogRoleStep),
        Arc::new(FlowLogGroupStep),
        Arc::new(FlowLogStep),
    ]
}

/// The private subnet IDs (for the data and compute tiers).
pub fn private_subnet_ids(cx: &StepCx) -> Result<Vec<String>, StepError> {
    AZS.iter()
        .map(|az| cx.require(&subnet_key(false, az), "network.subnets"))
        .collect()
}

pub fn public_subnet_ids(cx: &StepCx) -> Result<Vec<String>, StepError> {
    AZS.iter()
        .map(|az| cx.require(&subnet_key(true, az), "network.subnets"))
        .collect()
}

fn ec2_err<'a, E>(
    op: &'a str,
    what: &'a str,
) -> impl FnOnce(
    aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> StepError
       + 'a
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    move |e| aws_err(op, what, e)
}

// ---------------------------------------------------------------- VPC

struct VpcStep;

async fn find_vpc(cx: &StepCx) -> Result<Option<aws_sdk_ec2::types::Vpc>, StepError> {
    if let Some(id) = cx.state.id(VPC) {
        let r = absent_ok(
            "DescribeVpcs",
            &id,
            cx.aws.ec2.describe_vpcs().vpc_ids(&id).send().await,
        )?;
        if let Some(v) = r.and_then(|o| o.vpcs().first().cloned()) {
            return Ok(Some(v));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_vpcs()
        .set_filters(Some(ec2_filters(cx, VPC)))
        .send()
        .await
        .map_err(ec2_err("DescribeVpcs", "VPC"))?;
    Ok(o.vpcs()
        .iter()
        .find(|v| v.is_default() != Some(true) && ec2_tagged(cx, v.tags(), VPC))
        .cloned())
}

async fn vpc_attr(cx: &StepCx, id: &str, attr: VpcAttributeName) -> Result<bool, StepError> {
    let o = cx
        .aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(attr.clone())
        .send()
        .await
        .map_err(ec2_err("DescribeVpcAttribute", id))?;
    let v = match attr {
        VpcAttributeName::EnableDnsSupport => o.enable_dns_support(),
        _ => o.enable_dns_hostnames(),
    };
    Ok(v.and_then(|b| b.value()).unwrap_or(false))
}

#[async_trait]
impl Step for VpcStep {
    fn id(&self) -> &'static str {
        "network.vpc"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("vpc");
        match find_vpc(cx).await? {
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
                let o = cx
                    .aws
                    .ec2
                    .create_vpc()
                    .cidr_block(&cx.cfg.network.vpc_cidr)
                    .tag_specifications(ec2_tag_spec(cx, ResourceType::Vpc, VPC, &name))
                    .send()
                    .await
                    .map_err(ec2_err("CreateVpc", &name))?;
                let id = o
                    .vpc()
                    .and_then(|v| v.vpc_id())
                    .unwrap_or_default()
                    .to_string();
                cx.record_new(VPC, Resource::new("ec2:vpc", &id))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(v) = find_vpc(cx).await? else {
            cx.forget(VPC)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = v.vpc_id().unwrap_or_default().to_string();
        // Security groups created by other tiers are gone by now; the default
        // SG and main route table go with the VPC.
        let out = retry_while_in_use(cx, "DeleteVpc", &id, || {
            cx.aws.ec2.delete_vpc().vpc_id(&id).send()
        })
        .await?;
        cx.forget(VPC)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("vpc");
        Ok(vec![match find_vpc(cx).await? {
            Some(v) => Inspection::new(
                "ec2:vpc",
                name,
                v.vpc_id().map(str::to_string),
                v.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                v.state().map(|s| s.as_str()) == Some("available"),
            )
            .detail("cidr", v.cidr_block().unwrap_or_default()),
            None => Inspection::missing("ec2:vpc", name, cx.state.id(VPC)),
        }])
    }
}

/// DNS support and hostnames on the VPC, which interface endpoints' private
/// DNS needs. A step of its own so that the subnets, and the database behind
/// them (the stack's critical path), do not wait for this call.
struct VpcDnsStep;

#[async_trait]
impl Step for VpcDnsStep {
    fn id(&self) -> &'static str {
        "network.vpc-dns"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(id) = cx.state.id(VPC) else {
            return if cx.dry_run {
                Ok(Outcome::Created)
            } else {
                Err(StepError::MissingDependency {
                    step: "network.vpc",
                    what: "VPC ID".into(),
                })
            };
        };
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
            [
                (VpcAttributeName::EnableDnsSupport, support?),
                (VpcAttributeName::EnableDnsHostnames, hostnames?),
            ]
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
            Outcome::Updated(
                missing
                    .iter()
                    .map(|a| change(a.as_str(), false, true))
                    .collect(),
            )
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
                async move { req.send().await.map_err(ec2_err("ModifyVpcAttribute", &id)) }
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

// ---------------------------------------------------------------- Subnets

struct SubnetsStep;

/// The /18 for subnet `i` of the VPC's /16 (CDK's default split for 4 subnets).
pub fn subnet_cidr(vpc_cidr: &str, public: bool, az_index: usize) -> String {
    let prefix: Vec<&str> = vpc_cidr.split('.').take(2).collect();
    let i = if public { az_index } else { 2 + az_index };
    format!("{}.{}.{}.0/18", prefix[0], prefix[1], i * 64)
}

async fn find_subnet(
    cx: &StepCx,
    key: &str,
) -> Result<Option<aws_sdk_ec2::types::Subnet>, StepError> {
    if !cx.created.may_preexist(key, VPC) {
        return Ok(None);
    }
    if let Some(id) = cx.state.id(key) {
        let r = absent_ok(
            "DescribeSubnets",
            &id,
            cx.aws.ec2.describe_subnets().subnet_ids(&id).send().await,
        )?;
        if let Some(s) = r.and_then(|o| o.subnets().first().cloned()) {
            return Ok(Some(s));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_subnets()
        .set_filters(Some(ec2_filters(cx, key)))
        .send()
        .await
        .map_err(ec2_err("DescribeSubnets", key))?;
    Ok(o.subnets()
        .iter()
        .find(|s| ec2_tagged(cx, s.tags(), key))
        .cloned())
}

async fn pick_azs(cx: &StepCx) -> Result<Vec<String>, StepError> {
    let o = cx
        .aws
        .ec2
        .describe_availability_zones()
        .filters(Filter::builder().name("state").values("available").build())
        .send()
        .await
        .map_err(ec2_err("DescribeAvailabilityZones", &cx.aws.region))?;
    let mut zones: Vec<String> = o
        .availability_zones()
        .iter()
        .filter(|z| {
            z.zone_type()
                .map(|t| t == "availability-zone")
                .unwrap_or(true)
        })
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    zones.sort();
    if zones.len() < 2 {
        return Err(StepError::Refused(format!(
            "region {} offers {} availability zone(s); the stack needs 2",
            cx.aws.region,
            zones.len()
        )));
    }
    zones.truncate(2);
    Ok(zones)
}

async fn ensure_subnet(
    cx: &StepCx,
    public: bool,
    ai: usize,
    found: Option<aws_sdk_ec2::types::Subnet>,
    zones: &[String],
) -> Result<Outcome, StepError> {
    let key = subnet_key(public, AZS[ai]);
    let name = cx.cfg.name(&key.replace("subnet/", ""));
    let cidr = subnet_cidr(&cx.cfg.network.vpc_cidr, public, ai);
    match found {
        Some(s) => {
            cx.record(
                &key,
                Resource::new("ec2:subnet", s.subnet_id().unwrap_or_default())
                    .with("az", s.availability_zone().unwrap_or_default())
                    .with("cidr", s.cidr_block().unwrap_or_default()),
            )?;
            Ok(Outcome::Unchanged)
        }
        None if cx.dry_run => Ok(Outcome::Created),
        None => {
            let vpc = cx.require(VPC, "network.vpc")?;
            let az = &zones[ai];
            let o = cx
                .aws
                .ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(&cidr)
                .availability_zone(az)
                .tag_specifications(ec2_tag_spec(cx, ResourceType::Subnet, &key, &name))
                .send()
                .await
                .map_err(ec2_err("CreateSubnet", &name))?;
            let id = o.subnet().and_then(|s| s.subnet_id()).unwrap_or_default();
            cx.record_new(
                &key,
                Resource::new("ec2:subnet", id)
                    .with("az", az)
                    .with("cidr", &cidr),
            )?;
            Ok(Outcome::Created)
        }
    }
}

#[async_trait]
impl Step for SubnetsStep {
    fn id(&self) -> &'static str {
        "network.subnets"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let all_recorded = [true, false].iter().all(|p| {
            AZS.iter()
                .all(|az| cx.state.id(&subnet_key(*p, az)).is_some())
        });
        let slots: Vec<(bool, usize)> = [true, false]
            .into_iter()
            .flat_map(|p| (0..2).map(move |i| (p, i)))
            .collect();
        // AZs are only needed to create; skip the call when nothing is missing,
        // and otherwise look them up alongside the subnets, not before them.
        let azs = async {
            if all_recorded || cx.dry_run {
                Ok(vec![])
            } else {
                pick_azs(cx).await
            }
        };
        let keys: Vec<String> = slots.iter().map(|(p, i)| subnet_key(*p, AZS[*i])).collect();
        let finds = try_join_all(keys.iter().map(|k| find_subnet(cx, k)));
        let (zones, found) = tokio::try_join!(azs, finds)?;
        let futs = slots
            .iter()
            .zip(found)
            .map(|((p, i), f)| ensure_subnet(cx, *p, *i, f, &zones));
        let outs = try_join_all(futs).await?;
        Ok(outs.into_iter().fold(Outcome::Unchanged, Outcome::merge))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = [true, false]
            .into_iter()
            .flat_map(|p| AZS.iter().map(move |az| subnet_key(p, az)))
            .map(|key| async move {
                let Some(s) = find_subnet(cx, &key).await? else {
                    cx.forget(&key)?;
                    return Ok::<_, StepError>(Outcome::AlreadyAbsent);
                };
                let id = s.subnet_id().unwrap_or_default().to_string();
                let o = retry_while_in_use(cx, "DeleteSubnet", &id, || {
                    cx.aws.ec2.delete_subnet().subnet_id(&id).send()
                })
                .await?;
                cx.forget(&key)?;
                Ok(o)
            });
        Ok(try_join_all(futs)
            .await?
            .into_iter()
            .fold(Outcome::AlreadyAbsent, Outcome::merge))
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for p in [true, false] {
            for az in AZS {
                let key = subnet_key(p, az);
                let name = cx.cfg.name(&key.replace("subnet/", ""));
                rows.push(match find_subnet(cx, &key).await? {
                    Some(s) => Inspection::new(
                        "ec2:subnet",
                        name,
                        s.subnet_id().map(str::to_string),
                        s.state()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        s.state().map(|s| s.as_str()) == Some("available"),
                    )
                    .detail("az", s.availability_zone().unwrap_or_default())
                    .detail("cidr", s.cidr_block().unwrap_or_default())
                    .detail(
                        "map_public_ip_on_launch",
                        s.map_public_ip_on_launch().unwrap_or(false).to_string(),
                    ),
                    None => Inspection::missing("ec2:subnet", name, cx.state.id(&key)),
                });
            }
        }
        Ok(rows)
    }
}

/// Public subnets map a public IP on launch (the reference's setting). A step
/// of its own: nothing in the stack needs it to start (the ALB and the NAT
/// gateways bring their own addresses), so the private subnets' dependants —
/// the database first — do not wait for these calls.
struct PublicSubnetIpStep;

#[async_trait]
impl Step for PublicSubnetIpStep {
    fn id(&self) -> &'static str {
        "network.public-subnet-ip"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.subnets"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = subnet_key(true, az);
            // A subnet this run created maps no public IP yet (AWS default):
            // no need to read it first.
            let (id, outcome) = if cx.created.contains(&key) {
                (cx.require(&key, "network.subnets")?, Outcome::Created)
            } else {
                match find_subnet(cx, &key).await? {
                    None if cx.dry_run => return Ok(Outcome::Created),
                    None => {
                        return Err(StepError::MissingDependency {
                            step: "network.subnets",
                            what: key,
                        })
                    }
                    Some(s) if s.map_public_ip_on_launch() == Some(true) => {
                        return Ok(Outcome::Unchanged)
                    }
                    Some(s) => (
                        s.subnet_id().unwrap_or_default().to_string(),
                        Outcome::Updated(vec![change(
                            &format!("{key}.map_public_ip_on_launch"),
                            false,
                            true,
                        )]),
                    ),
                }
            };
            if !cx.dry_run {
                cx.aws
                    .ec2
                    .modify_subnet_attribute()
                    .subnet_id(&id)
                    .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
                    .send()
                    .await
                    .map_err(ec2_err("ModifySubnetAttribute", &id))?;
            }
            Ok::<_, StepError>(outcome)
        });
        Ok(try_join_all(futs)
            .await?
            .into_iter()
            .fold(Outcome::Unchanged, Outcome::merge))
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // the attribute goes with the subnet
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![]) // the subnets' rows carry it (`status` puts drift there)
    }
}

// ---------------------------------------------------------------- Internet gateway

struct IgwStep;

async fn find_igw(cx: &StepCx) -> Result<Option<aws_sdk_ec2::types::InternetGateway>, StepError> {
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
        .find(|g| ec2_tagged(cx, g.tags(), IGW))
        .cloned())
}

#[async_trait]
impl Step for IgwStep {
    fn id(&self) -> &'static str {
        "network.igw"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
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
            let vpc = cx.require(VPC, "network.vpc")?;
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
                retry_while_in_use(cx, "DetachInternetGateway", &id, || {
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

// ---------------------------------------------------------------- Elastic IPs

struct EipsStep;

async fn find_eip(
    cx: &StepCx,
    key: &str,
) -> Result<Option<aws_sdk_ec2::types::Address>, StepError> {
    if let Some(id) = cx.state.id(key) {
        let r = absent_ok(
            "DescribeAddresses",
            &id,
            cx.aws
                .ec2
                .describe_addresses()
                .allocation_ids(&id)
                .send()
                .await,
        )?;
        if let Some(a) = r.and_then(|o| o.addresses().first().cloned()) {
            return Ok(Some(a));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_addresses()
        .set_filters(Some(ec2_filters(cx, key)))
        .send()
        .await
        .map_err(ec2_err("DescribeAddresses", key))?;
    Ok(o.addresses()
        .iter()
        .find(|a| ec2_tagged(cx, a.tags(), key))
        .cloned())
}

#[async_trait]
impl Step for EipsStep {
    fn id(&self) -> &'static str {
        "network.eips"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = eip_key(az);
            let name = cx.cfg.name(&format!("nat-{az}-eip"));
            match find_eip(cx, &key).await? {
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
                        .map_err(ec2_err("AllocateAddress", &name))?;
                    cx.record_new(
                        &key,
                        Resource::new("ec2:elastic-ip", o.allocation_id().unwrap_or_default())
                            .with("public_ip", o.public_ip().unwrap_or_default()),
                    )?;
                    Ok(Outcome::Created)
                }
            }
        });
        Ok(try_join_all(futs)
            .await?
            .into_iter()
            .fold(Outcome::Unchanged, Outcome::merge))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = eip_key(az);
            let Some(a) = find_eip(cx, &key).await? else {
                cx.forget(&key)?;
                return Ok::<_, StepError>(Outcome::AlreadyAbsent);
            };
            let id = a.allocation_id().unwrap_or_default().to_string();
            // The NAT gateway's deletion releases the association, possibly a
            // little after the NAT reports `deleted`.
            let o = retry_while_in_use(cx, "ReleaseAddress", &id, || {
                cx.aws.ec2.release_address().allocation_id(&id).send()
            })
            .await?;
            cx.forget(&key)?;
            Ok(o)
        });
        Ok(try_join_all(futs)
            .await?
            .into_iter()
            .fold(Outcome::AlreadyAbsent, Outcome::merge))
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for az in AZS {
            let key = eip_key(az);
            let name = cx.cfg.name(&format!("nat-{az}-eip"));
            rows.push(match find_eip(cx, &key).await? {
                Some(a) => Inspection::new(
                    "ec2:elastic-ip",
                    name,
                    a.allocation_id().map(str::to_string),
                    if a.association_id().is_some() {
                        "associated"
                    } else {
                        "unassociated"
                    },
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

struct NatStep;

async fn find_nat(
    cx: &StepCx,
    key: &str,
) -> Result<Option<aws_sdk_ec2::types::NatGateway>, StepError> {
    let live = |n: &aws_sdk_ec2::types::NatGateway| {
        !matches!(
            n.state().map(|s| s.as_str()),
            Some("deleted") | Some("deleting") | Some("failed")
        )
    };
    if let Some(id) = cx.state.id(key) {
        let r = absent_ok(
            "DescribeNatGateways",
            &id,
            cx.aws
                .ec2
                .describe_nat_gateways()
                .nat_gateway_ids(&id)
                .send()
                .await,
        )?;
        if let Some(n) = r.and_then(|o| o.nat_gateways().iter().find(|n| live(n)).cloned()) {
            return Ok(Some(n));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_nat_gateways()
        .set_filter(Some(ec2_filters(cx, key)))
        .send()
        .await
        .map_err(ec2_err("DescribeNatGateways", key))?;
    Ok(o.nat_gateways()
        .iter()
        .find(|n| live(n) && ec2_tagged(cx, n.tags(), key))
        .cloned())
}

/// The states of NAT gateways `ids`, in one call (`None`: one is unknown).
async fn nat_states(
    cx: &StepCx,
    ids: Vec<String>,
) -> Result<Option<BTreeMap<String, String>>, StepError> {
    let r = absent_ok(
        "DescribeNatGateways",
        &ids.join(","),
        cx.aws
            .ec2
            .describe_nat_gateways()
            .set_nat_gateway_ids(Some(ids.clone()))
            .send()
            .await,
    )?;
    Ok(r.map(|o| {
        o.nat_gateways()
            .iter()
            .filter_map(|n| {
                Some((
                    n.nat_gateway_id()?.to_string(),
                    n.state()?.as_str().to_string(),
                ))
            })
            .collect()
    }))
}

#[async_trait]
impl Step for NatStep {
    fn id(&self) -> &'static str {
        "network.nat"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.subnets", "network.eips", "network.igw"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = nat_key(az);
            let name = cx.cfg.name(&format!("nat-{az}"));
            let (id, out) = match find_nat(cx, &key).await? {
                Some(n) => {
                    let id = n.nat_gateway_id().unwrap_or_default().to_string();
                    cx.record(&key, Resource::new("ec2:nat-gateway", &id))?;
                    (id, Outcome::Unchanged)
                }
                None if cx.dry_run => (String::new(), Outcome::Created),
                None => {
                    let subnet = cx.require(&subnet_key(true, az), "network.subnets")?;
                    let eip = cx.require(&eip_key(az), "network.eips")?;
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
                        .map_err(ec2_err("CreateNatGateway", &name))?;
                    let id = o
                        .nat_gateway()
                        .and_then(|n| n.nat_gateway_id())
                        .unwrap_or_default()
                        .to_string();
                    // Recorded before waiting: a crash during the wait resumes here.
                    cx.record_new(&key, Resource::new("ec2:nat-gateway", &id))?;
                    (id, Outcome::Created)
                }
            };
            Ok::<_, StepError>((id, out))
        });
        let found = try_join_all(futs).await?;
        let failed = ["failed", "deleting", "deleted"];
        ready_all(cx, "NAT gateway", found, "available", &failed, |ids| {
            nat_states(cx, ids)
        })
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = nat_key(az);
            let mut out = Outcome::AlreadyAbsent;
            // A NAT caught in `deleting` by a previous (killed) run is not
            // returned by find_nat; wait for it through the recorded ID.
            let id = match find_nat(cx, &key).await? {
                Some(n) => {
                    let id = n.nat_gateway_id().unwrap_or_default().to_string();
                    out = deleted(
                        "DeleteNatGateway",
                        &id,
                        cx.aws
                            .ec2
                            .delete_nat_gateway()
                            .nat_gateway_id(&id)
                            .send()
                            .await,
                    )?;
                    Some(id)
                }
                None => cx.state.id(&key),
            };
            Ok::<_, StepError>((id, out))
        });
        let deleted = try_join_all(futs).await?;
        let out = gone_all(
            cx,
            "NAT gateway deletion",
            deleted,
            &["deleted", "failed"],
            |ids| nat_states(cx, ids),
        )
        .await?;
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
            rows.push(match find_nat(cx, &key).await? {
                Some(n) => {
                    let st = n
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default();
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

// ---------------------------------------------------------------- Route tables

async fn find_rtb(
    cx: &StepCx,
    key: &str,
) -> Result<Option<aws_sdk_ec2::types::RouteTable>, StepError> {
    if !cx.created.may_preexist(key, VPC) {
        return Ok(None);
    }
    if let Some(id) = cx.state.id(key) {
        let r = absent_ok(
            "DescribeRouteTables",
            &id,
            cx.aws
                .ec2
                .describe_route_tables()
                .route_table_ids(&id)
                .send()
                .await,
        )?;
        if let Some(t) = r.and_then(|o| o.route_tables().first().cloned()) {
            return Ok(Some(t));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_route_tables()
        .set_filters(Some(ec2_filters(cx, key)))
        .send()
        .await
        .map_err(ec2_err("DescribeRouteTables", key))?;
    Ok(o.route_tables()
        .iter()
        .find(|t| ec2_tagged(cx, t.tags(), key))
        .cloned())
}

/// Find or create a route table and associate it with `subnets`.
async fn ensure_rtb(
    cx: &StepCx,
    key: &str,
    subnets: &[String],
) -> Result<(Option<String>, Outcome), StepError> {
    let name = cx.cfg.name(&key.replace("rtb/", "rtb-"));
    let (id, live_assoc, mut out) = match find_rtb(cx, key).await? {
        Some(t) => {
            let id = t.route_table_id().unwrap_or_default().to_string();
            cx.record(key, Resource::new("ec2:route-table", &id))?;
            let assoc: Vec<String> = t
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_string))
                .collect();
            (id, assoc, Outcome::Unchanged)
        }
        None if cx.dry_run => return Ok((None, Outcome::Created)),
        None => {
            let vpc = cx.require(VPC, "network.vpc")?;
            let o = cx
                .aws
                .ec2
                .create_route_table()
                .vpc_id(&vpc)
                .tag_specifications(ec2_tag_spec(cx, ResourceType::RouteTable, key, &name))
                .send()
                .await
                .map_err(ec2_err("CreateRouteTable", &name))?;
            let id = o
                .route_table()
                .and_then(|t| t.route_table_id())
                .unwrap_or_default()
                .to_string();
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
            cx.aws
                .ec2
                .associate_route_table()
                .route_table_id(&id)
                .subnet_id(s)
                .send()
                .await
                .map_err(ec2_err("AssociateRouteTable", &id))?;
        }
    }
    Ok((Some(id), out))
}

/// Ensure `0.0.0.0/0` in table `rtb` goes to `target` (an IGW or NAT ID).
async fn ensure_default_route(
    cx: &StepCx,
    key: &str,
    rtb: Option<&aws_sdk_ec2::types::RouteTable>,
    rtb_id: &str,
    target: &str,
) -> Result<Outcome, StepError> {
    let current = rtb.and_then(|t| {
        t.routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .map(|r| {
                r.gateway_id()
                    .or(r.nat_gateway_id())
                    .unwrap_or("")
                    .to_string()
            })
    });
    let is_nat = target.starts_with("nat-");
    match current {
        Some(c) if c == target => Ok(Outcome::Unchanged),
        _ if cx.dry_run => Ok(Outcome::Updated(vec![format!(
            "{key}: 0.0.0.0/0 → {target}"
        )])),
        Some(c) => {
            let req = cx
                .aws
                .ec2
                .replace_route()
                .route_table_id(rtb_id)
                .destination_cidr_block("0.0.0.0/0");
            let req = if is_nat {
                req.nat_gateway_id(target)
            } else {
                req.gateway_id(target)
            };
            req.send().await.map_err(ec2_err("ReplaceRoute", rtb_id))?;
            Ok(Outcome::Updated(vec![change(
                &format!("{key} 0.0.0.0/0"),
                c,
                target,
            )]))
        }
        None => {
            let req = cx
                .aws
                .ec2
                .create_route()
                .route_table_id(rtb_id)
                .destination_cidr_block("0.0.0.0/0");
            let req = if is_nat {
                req.nat_gateway_id(target)
            } else {
                req.gateway_id(target)
            };
            req.send().await.map_err(ec2_err("CreateRoute", rtb_id))?;
            Ok(Outcome::Updated(vec![format!(
                "{key}: add 0.0.0.0/0 → {target}"
            )]))
        }
    }
}

async fn destroy_rtb(cx: &StepCx, key: &str) -> Result<Outcome, StepError> {
    let Some(t) = find_rtb(cx, key).await? else {
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
                cx.aws
                    .ec2
                    .disassociate_route_table()
                    .association_id(aid)
                    .send()
                    .await,
            )?;
        }
    }
    let out = retry_while_in_use(cx, "DeleteRouteTable", &id, || {
        cx.aws.ec2.delete_route_table().route_table_id(&id).send()
    })
    .await?;
    cx.forget(key)?;
    Ok(out)
}

async fn inspect_rtb(
    cx: &StepCx,
    key: &str,
    want_target: Option<String>,
) -> Result<Inspection, StepError> {
    let name = cx.cfg.name(&key.replace("rtb/", "rtb-"));
    Ok(match find_rtb(cx, key).await? {
        Some(t) => {
            let default = t
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .map(|r| {
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
                format!(
                    "{} association(s)",
                    t.associations()
                        .iter()
                        .filter(|a| a.subnet_id().is_some())
                        .count()
                ),
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

struct PublicRoutesStep;

#[async_trait]
impl Step for PublicRoutesStep {
    fn id(&self) -> &'static str {
        "network.public-routes"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.subnets", "network.igw"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let subnets = if cx.dry_run {
            AZS.iter()
                .filter_map(|az| cx.state.id(&subnet_key(true, az)))
                .collect()
        } else {
            public_subnet_ids(cx)?
        };
        let (id, out) = ensure_rtb(cx, RTB_PUBLIC, &subnets).await?;
        let Some(id) = id else { return Ok(out) };
        let Some(igw) = cx.state.id(IGW) else {
            return Ok(out.merge(Outcome::Updated(vec!["default route".into()])));
        };
        let table = find_rtb(cx, RTB_PUBLIC).await?;
        let r = ensure_default_route(cx, RTB_PUBLIC, table.as_ref(), &id, &igw).await?;
        Ok(if out == Outcome::Created {
            out
        } else {
            out.merge(r)
        })
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_rtb(cx, RTB_PUBLIC).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![inspect_rtb(cx, RTB_PUBLIC, cx.state.id(IGW)).await?])
    }
}

struct PrivateRouteTablesStep;

#[async_trait]
impl Step for PrivateRouteTablesStep {
    fn id(&self) -> &'static str {
        "network.private-route-tables"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.subnets"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let subnets: Vec<String> = cx.state.id(&subnet_key(false, az)).into_iter().collect();
            if subnets.is_empty() && !cx.dry_run {
                cx.require(&subnet_key(false, az), "network.subnets")?;
            }
            Ok::<_, StepError>(ensure_rtb(cx, &private_rtb_key(az), &subnets).await?.1)
        });
        Ok(try_join_all(futs)
            .await?
            .into_iter()
            .fold(Outcome::Unchanged, Outcome::merge))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let outs = try_join_all(
            AZS.iter()
                .map(|az| async move { destroy_rtb(cx, &private_rtb_key(az)).await }),
        )
        .await?;
        Ok(outs
            .into_iter()
            .fold(Outcome::AlreadyAbsent, Outcome::merge))
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for az in AZS {
            rows.push(inspect_rtb(cx, &private_rtb_key(az), cx.state.id(&nat_key(az))).await?);
        }
        Ok(rows)
    }
}

/// The private tables' default routes, split from the tables themselves so
/// the S3 endpoint need not wait for the NAT gateways.
struct NatRoutesStep;

#[async_trait]
impl Step for NatRoutesStep {
    fn id(&self) -> &'static str {
        "network.nat-routes"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.private-route-tables", "network.nat"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let key = private_rtb_key(az);
            let (Some(rtb), Some(nat)) = (cx.state.id(&key), cx.state.id(&nat_key(az))) else {
                if cx.dry_run {
                    return Ok(Outcome::Created);
                }
                return Err(StepError::MissingDependency {
                    step: "network.nat",
                    what: nat_key(az),
                });
            };
            let table = find_rtb(cx, &key).await?;
            let o = ensure_default_route(cx, &key, table.as_ref(), &rtb, &nat).await?;
            // A route has no identity of its own: adding it is creating it.
            Ok(match o {
                Outcome::Updated(c) if c.iter().all(|c| c.contains(": add ")) => Outcome::Created,
                o => o,
            })
        });
        Ok(try_join_all(futs)
            .await?
            .into_iter()
            .fold(Outcome::Unchanged, Outcome::merge))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = AZS.iter().map(|az| async move {
            let Some(rtb) = find_rtb(cx, &private_rtb_key(az)).await? else {
                return Ok::<_, StepError>(Outcome::AlreadyAbsent);
            };
            let id = rtb.route_table_id().unwrap_or_default();
            if !rtb
                .routes()
                .iter()
                .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            {
                return Ok(Outcome::AlreadyAbsent);
            }
            deleted(
                "DeleteRoute",
                id,
                cx.aws
                    .ec2
                    .delete_route()
                    .route_table_id(id)
                    .destination_cidr_block("0.0.0.0/0")
                    .send()
                    .await,
            )
        });
        Ok(try_join_all(futs)
            .await?
            .into_iter()
            .fold(Outcome::AlreadyAbsent, Outcome::merge))
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        // Reported on the private route tables' rows (default_route).
        Ok(vec![])
    }
}

// ---------------------------------------------------------------- Security group for endpoints

struct EndpointSgStep;

/// Find a security group by logical key (recorded ID first, then tag).
pub async fn find_sg(
    cx: &StepCx,
    key: &str,
) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, StepError> {
    if !cx.created.may_preexist(key, VPC) {
        return Ok(None);
    }
    if let Some(id) = cx.state.id(key) {
        let r = absent_ok(
            "DescribeSecurityGroups",
            &id,
            cx.aws
                .ec2
                .describe_security_groups()
                .group_ids(&id)
                .send()
                .await,
        )?;
        if let Some(g) = r.and_then(|o| o.security_groups().first().cloned()) {
            return Ok(Some(g));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_security_groups()
        .set_filters(Some(ec2_filters(cx, key)))
        .send()
        .await
        .map_err(ec2_err("DescribeSecurityGroups", key))?;
    Ok(o.security_groups()
        .iter()
        .find(|g| ec2_tagged(cx, g.tags(), key))
        .cloned())
}

/// One desired ingress rule, compared by (protocol, port, source).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ingress {
    pub port: i32,
    pub source: IngressSource,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IngressSource {
    Cidr(String),
    Group(String),
    PrefixList(String),
}

impl Ingress {
    fn permission(&self) -> IpPermission {
        let b = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(self.port)
            .to_port(self.port);
        match &self.source {
            IngressSource::Cidr(c) => b.ip_ranges(
                IpRange::builder()
                    .cidr_ip(c)
                    .description(&self.description)
                    .build(),
            ),
            IngressSource::Group(g) => b.user_id_group_pairs(
                aws_sdk_ec2::types::UserIdGroupPair::builder()
                    .group_id(g)
                    .description(&self.description)
                    .build(),
            ),
            IngressSource::PrefixList(p) => b.prefix_list_ids(
                aws_sdk_ec2::types::PrefixListId::builder()
                    .prefix_list_id(p)
                    .description(&self.description)
                    .build(),
            ),
        }
        .build()
    }
    fn key(&self) -> (i32, IngressSource) {
        (self.port, self.source.clone())
    }
}

/// Flatten a group's live ingress into (port, source) pairs; non-TCP or
/// port-range rules are kept with port -1 so they show up as drift.
pub fn live_ingress(
    g: &aws_sdk_ec2::types::SecurityGroup,
) -> Vec<(i32, IngressSource, IpPermission)> {
    let mut out = vec![];
    for p in g.ip_permissions() {
        let port = if p.ip_protocol() == Some("tcp") && p.from_port() == p.to_port() {
            p.from_port().unwrap_or(-1)
        } else {
            -1
        };
        let base = || {
            IpPermission::builder()
                .set_ip_protocol(p.ip_protocol().map(str::to_string))
                .set_from_port(p.from_port())
                .set_to_port(p.to_port())
        };
        // Revocation must name the rule as it is stored: reuse the live entries.
        for r in p.ip_ranges() {
            let c = r.cidr_ip().unwrap_or_default().to_string();
            out.push((
                port,
                IngressSource::Cidr(c),
                base().ip_ranges(r.clone()).build(),
            ));
        }
        for r in p.ipv6_ranges() {
            let c = r.cidr_ipv6().unwrap_or_default().to_string();
            out.push((
                port,
                IngressSource::Cidr(c),
                base().ipv6_ranges(r.clone()).build(),
            ));
        }
        for u in p.user_id_group_pairs() {
            let gid = u.group_id().unwrap_or_default().to_string();
            out.push((
                port,
                IngressSource::Group(gid),
                base().user_id_group_pairs(u.clone()).build(),
            ));
        }
        for l in p.prefix_list_ids() {
            let id = l.prefix_list_id().unwrap_or_default().to_string();
            out.push((
                port,
                IngressSource::PrefixList(id),
                base().prefix_list_ids(l.clone()).build(),
            ));
        }
    }
    out
}

/// Ensure a security group exists. With `Some(desired)` its ingress is made
/// exactly `desired`; with `None` ingress is left to the step that owns the
/// rules (the compute tier adds DB/EFS/cache rules once both groups exist).
/// Egress stays AWS's default allow-all.
pub async fn ensure_sg(
    cx: &StepCx,
    key: &str,
    suffix: &str,
    description: &str,
    desired: Option<&[Ingress]>,
) -> Result<Outcome, StepError> {
    let name = cx.cfg.name(suffix);
    let (id, live, created) = match find_sg(cx, key).await? {
        Some(g) => {
            let id = g.group_id().unwrap_or_default().to_string();
            cx.record(key, Resource::new("ec2:security-group", &id))?;
            (id, live_ingress(&g), false)
        }
        None if cx.dry_run => return Ok(Outcome::Created),
        None => {
            let vpc = cx.require(VPC, "network.vpc")?;
            let o = cx
                .aws
                .ec2
                .create_security_group()
                .group_name(&name)
                .description(description)
                .vpc_id(&vpc)
                .tag_specifications(ec2_tag_spec(cx, ResourceType::SecurityGroup, key, &name))
                .send()
                .await
                .map_err(ec2_err("CreateSecurityGroup", &name))?;
            let id = o.group_id().unwrap_or_default().to_string();
            cx.record_new(key, Resource::new("ec2:security-group", &id))?;
            (id, vec![], true)
        }
    };
    let Some(desired) = desired else {
        return Ok(if created {
            Outcome::Created
        } else {
            Outcome::Unchanged
        });
    };
    let changes = apply_ingress(cx, &id, &name, &live, desired).await?;
    Ok(if created {
        Outcome::Created
    } else if changes.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated(changes)
    })
}

/// Make group `key`'s ingress exactly `desired` (the group must exist).
pub async fn sync_ingress(
    cx: &StepCx,
    key: &str,
    suffix: &str,
    desired: &[Ingress],
) -> Result<Outcome, StepError> {
    let name = cx.cfg.name(suffix);
    let Some(g) = find_sg(cx, key).await? else {
        return if cx.dry_run {
            Ok(Outcome::Created)
        } else {
            Err(StepError::MissingDependency {
                step: "security group",
                what: key.to_string(),
            })
        };
    };
    let changes = apply_ingress(
        cx,
        g.group_id().unwrap_or_default(),
        &name,
        &live_ingress(&g),
        desired,
    )
    .await?;
    Ok(if changes.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated(changes)
    })
}

/// Authorize what is missing, revoke what is unexpected; returns the changes.
async fn apply_ingress(
    cx: &StepCx,
    id: &str,
    name: &str,
    live: &[(i32, IngressSource, IpPermission)],
    desired: &[Ingress],
) -> Result<Vec<String>, StepError> {
    let live_keys: Vec<(i32, IngressSource)> =
        live.iter().map(|(p, s, _)| (*p, s.clone())).collect();
    let missing: Vec<&Ingress> = desired
        .iter()
        .filter(|d| !live_keys.contains(&d.key()))
        .collect();
    let extra: Vec<&(i32, IngressSource, IpPermission)> = live
        .iter()
        .filter(|(p, s, _)| !desired.iter().any(|d| d.key() == (*p, s.clone())))
        .collect();
    let mut changes = vec![];
    for m in &missing {
        changes.push(format!("{name}: allow tcp/{} from {:?}", m.port, m.source));
    }
    for (p, s, _) in &extra {
        changes.push(format!("{name}: revoke unexpected tcp/{p} from {s:?}"));
    }
    if !cx.dry_run {
        if !missing.is_empty() {
            cx.aws
                .ec2
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(missing.iter().map(|m| m.permission()).collect()))
                .send()
                .await
                .map_err(ec2_err("AuthorizeSecurityGroupIngress", id))?;
        }
        if !extra.is_empty() {
            cx.aws
                .ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(extra.iter().map(|(_, _, p)| p.clone()).collect()))
                .send()
                .await
                .map_err(ec2_err("RevokeSecurityGroupIngress", id))?;
        }
    }
    Ok(changes)
}

pub async fn destroy_sg(cx: &StepCx, key: &str) -> Result<Outcome, StepError> {
    let Some(g) = find_sg(cx, key).await? else {
        cx.forget(key)?;
        return Ok(Outcome::AlreadyAbsent);
    };
    let id = g.group_id().unwrap_or_default().to_string();
    // ENIs of deleted endpoints/tasks can hold the group for a while.
    let out = retry_while_in_use(cx, "DeleteSecurityGroup", &id, || {
        cx.aws.ec2.delete_security_group().group_id(&id).send()
    })
    .await?;
    cx.forget(key)?;
    Ok(out)
}

pub async fn inspect_sg(
    cx: &StepCx,
    key: &str,
    suffix: &str,
    desired: &[Ingress],
) -> Result<Inspection, StepError> {
    let name = cx.cfg.name(suffix);
    Ok(match find_sg(cx, key).await? {
        Some(g) => {
            let live = live_ingress(&g);
            let extra = live
                .iter()
                .filter(|(p, s, _)| !desired.iter().any(|d| d.key() == (*p, s.clone())))
                .count();
            let missing = desired
                .iter()
                .filter(|d| !live.iter().any(|(p, s, _)| (*p, s.clone()) == d.key()))
                .count();
            let mut i = Inspection::new(
                "ec2:security-group",
                name,
                g.group_id().map(str::to_string),
                format!("{} ingress rule(s)", live.len()),
                true,
            );
            if extra + missing > 0 {
                i.drift = Some(format!(
                    "{extra} unexpected, {missing} missing ingress rule(s)"
                ));
                i.healthy = false;
            }
            i
        }
        None => Inspection::missing("ec2:security-group", name, cx.state.id(key)),
    })
}

/// Security groups of other tiers whose ingress is opened from another group.
pub const SG_SERVICE: &str = "sg/service";
pub const SG_ALB: &str = "sg/alb";

/// The one list of cross-tier ingress rules, read by the step that creates
/// them (compute) and by `status` on every group involved: DB 3306, EFS 2049
/// and cache 6379 from the service; the service's 8080 from the ALB. A rule
/// is expected once both of its groups exist.
pub fn expected_ingress(cx: &StepCx, key: &str) -> Vec<Ingress> {
    let rule = |port: i32, from: &str, what: &str| {
        cx.state.id(from).map(|g| Ingress {
            port,
            source: IngressSource::Group(g),
            description: what.to_string(),
        })
    };
    let r = match key {
        "sg/db" => rule(3306, SG_SERVICE, "MySQL from the Moodle service"),
        "sg/efs" => rule(2049, SG_SERVICE, "NFS from the Moodle service"),
        "sg/cache" => rule(6379, SG_SERVICE, "Redis from the Moodle service"),
        SG_SERVICE => rule(8080, SG_ALB, "HTTP from the load balancer"),
        _ => None,
    };
    r.into_iter().collect()
}

fn endpoint_ingress(cx: &StepCx) -> Vec<Ingress> {
    vec![Ingress {
        port: 443,
        source: IngressSource::Cidr(cx.cfg.network.vpc_cidr.clone()),
        description: "HTTPS from the VPC to interface endpoints".into(),
    }]
}

#[async_trait]
impl Step for EndpointSgStep {
    fn id(&self) -> &'static str {
        "network.endpoint-sg"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.vpc"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        ensure_sg(
            cx,
            SG_ENDPOINTS,
            "endpoints-sg",
            "moodlectl: VPC interface endpoints",
            Some(&endpoint_ingress(cx)),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_sg(cx, SG_ENDPOINTS).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            inspect_sg(cx, SG_ENDPOINTS, "endpoints-sg", &endpoint_ingress(cx)).await?,
        ])
    }
}

// ---------------------------------------------------------------- VPC endpoints

async fn find_endpoint(
    cx: &StepCx,
    key: &str,
) -> Result<Option<aws_sdk_ec2::types::VpcEndpoint>, StepError> {
    if !cx.created.may_preexist(key, VPC) {
        return Ok(None);
    }
    let live = |e: &aws_sdk_ec2::types::VpcEndpoint| {
        !matches!(
            e.state()
                .map(|s| s.as_str().to_ascii_lowercase())
                .as_deref(),
            Some("deleted") | Some("deleting") | Some("failed") | Some("rejected")
        )
    };
    if let Some(id) = cx.state.id(key) {
        let r = absent_ok(
            "DescribeVpcEndpoints",
            &id,
            cx.aws
                .ec2
                .describe_vpc_endpoints()
                .vpc_endpoint_ids(&id)
                .send()
                .await,
        )?;
        if let Some(e) = r.and_then(|o| o.vpc_endpoints().iter().find(|e| live(e)).cloned()) {
            return Ok(Some(e));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_vpc_endpoints()
        .set_filters(Some(ec2_filters(cx, key)))
        .send()
        .await
        .map_err(ec2_err("DescribeVpcEndpoints", key))?;
    Ok(o.vpc_endpoints()
        .iter()
        .find(|e| live(e) && ec2_tagged(cx, e.tags(), key))
        .cloned())
}

/// The states of VPC endpoints `ids`, in one call (`None`: one is unknown).
async fn endpoint_states(
    cx: &StepCx,
    ids: Vec<String>,
) -> Result<Option<BTreeMap<String, String>>, StepError> {
    let r = absent_ok(
        "DescribeVpcEndpoints",
        &ids.join(","),
        cx.aws
            .ec2
            .describe_vpc_endpoints()
            .set_vpc_endpoint_ids(Some(ids.clone()))
            .send()
            .await,
    )?;
    Ok(r.map(|o| {
        o.vpc_endpoints()
            .iter()
            .filter_map(|e| {
                Some((
                    e.vpc_endpoint_id()?.to_string(),
                    e.state()?.as_str().to_ascii_lowercase(),
                ))
            })
            .collect()
    }))
}

/// Wait until VPC endpoints `ids` are gone: subnets can only be deleted once
/// the endpoints' network interfaces are released.
async fn wait_endpoints_deleted(
    cx: &StepCx,
    deleted: Vec<(Option<String>, Outcome)>,
) -> Result<Outcome, StepError> {
    gone_all(cx, "endpoint deletion", deleted, &["deleted"], |ids| {
        endpoint_states(cx, ids)
    })
    .await
}

/// Delete the endpoint `key` (without waiting); its ID if there is one to wait for.
async fn delete_endpoint(cx: &StepCx, key: &str) -> Result<(Option<String>, Outcome), StepError> {
    Ok(match find_endpoint(cx, key).await? {
        Some(e) => {
            let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
            let r = cx
                .aws
                .ec2
                .delete_vpc_endpoints()
                .vpc_endpoint_ids(&id)
                .send()
                .await;
            let out = deleted("DeleteVpcEndpoints", &id, r)?;
            (Some(id), out)
        }
        None => (cx.state.id(key), Outcome::AlreadyAbsent),
    })
}

async fn destroy_endpoint(cx: &StepCx, key: &str) -> Result<Outcome, StepError> {
    let out = wait_endpoints_deleted(cx, vec![delete_endpoint(cx, key).await?]).await?;
    cx.forget(key)?;
    Ok(out)
}

fn inspect_endpoint(
    cx: &StepCx,
    key: &str,
    e: Option<aws_sdk_ec2::types::VpcEndpoint>,
) -> Inspection {
    let name = cx.cfg.name(&key.replace("vpce/", "vpce-"));
    match e {
        Some(e) => {
            let st = e
                .state()
                .map(|s| s.as_str().to_ascii_lowercase())
                .unwrap_or_default();
            Inspection::new(
                "ec2:vpc-endpoint",
                name,
                e.vpc_endpoint_id().map(str::to_string),
                st.clone(),
                st == "available",
            )
            .detail("service", e.service_name().unwrap_or_default())
        }
        None => Inspection::missing("ec2:vpc-endpoint", name, cx.state.id(key)),
    }
}

struct InterfaceEndpointsStep;

#[async_trait]
impl Step for InterfaceEndpointsStep {
    fn id(&self) -> &'static str {
        "network.interface-endpoints"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.subnets", "network.endpoint-sg", "network.vpc-dns"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let futs = INTERFACE_ENDPOINTS.iter().map(|(suffix, svc)| async move {
            let key = format!("vpce/{suffix}");
            let name = cx.cfg.name(&format!("vpce-{suffix}"));
            let (id, out) = match find_endpoint(cx, &key).await? {
                Some(e) => {
                    let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
                    cx.record(&key, Resource::new("ec2:vpc-endpoint", &id))?;
                    let mut changes = vec![];
                    if e.private_dns_enabled() != Some(true) {
                        changes.push(change(&format!("{key}.private_dns"), false, true));
                        if !cx.dry_run {
                            cx.aws
                                .ec2
                                .modify_vpc_endpoint()
                                .vpc_endpoint_id(&id)
                                .private_dns_enabled(true)
                                .send()
                                .await
                                .map_err(ec2_err("ModifyVpcEndpoint", &id))?;
                        }
                    }
                    (
                        id,
                        if changes.is_empty() {
                            Outcome::Unchanged
                        } else {
                            Outcome::Updated(changes)
                        },
                    )
                }
                None if cx.dry_run => (String::new(), Outcome::Created),
                None => {
                    let vpc = cx.require(VPC, "network.vpc")?;
                    let sg = cx.require(SG_ENDPOINTS, "network.endpoint-sg")?;
                    let o = cx
                        .aws
                        .ec2
                        .create_vpc_endpoint()
                        .vpc_id(&vpc)
                        .vpc_endpoint_type(VpcEndpointType::Interface)
                        .service_name(format!("com.amazonaws.{}.{svc}", cx.aws.region))
                        .set_subnet_ids(Some(private_subnet_ids(cx)?))
                        .security_group_ids(sg)
                        .private_dns_enabled(true)
                        .client_token(cx.token(&key))
                        .tag_specifications(ec2_tag_spec(
                            cx,
                            ResourceType::VpcEndpoint,
                            &key,
                            &name,
                        ))
                        .send()
                        .await
                        .map_err(ec2_err("CreateVpcEndpoint", &name))?;
                    let id = o
                        .vpc_endpoint()
                        .and_then(|e| e.vpc_endpoint_id())
                        .unwrap_or_default()
                        .to_string();
                    cx.record_new(&key, Resource::new("ec2:vpc-endpoint", &id))?;
                    (id, Outcome::Created)
                }
            };
            Ok::<_, StepError>((id, out))
        });
        let found = try_join_all(futs).await?;
        let failed = ["failed", "rejected", "deleting", "deleted"];
        ready_all(cx, "endpoint", found, "available", &failed, |ids| {
            endpoint_states(cx, ids)
        })
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let keys: Vec<String> = INTERFACE_ENDPOINTS
            .iter()
            .map(|(suffix, _)| format!("vpce/{suffix}"))
            .collect();
        let deleted = try_join_all(keys.iter().map(|k| delete_endpoint(cx, k))).await?;
        let out = wait_endpoints_deleted(cx, deleted).await?;
        for k in &keys {
            cx.forget(k)?;
        }
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for (suffix, _) in INTERFACE_ENDPOINTS {
            let key = format!("vpce/{suffix}");
            rows.push(inspect_endpoint(cx, &key, find_endpoint(cx, &key).await?));
        }
        Ok(rows)
    }
}

struct S3EndpointStep;

#[async_trait]
impl Step for S3EndpointStep {
    fn id(&self) -> &'static str {
        "network.s3-endpoint"
    }
    fn deps(&self) -> &'static [&'static str] {
        &["network.private-route-tables"]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("vpce-s3");
        let tables: Vec<String> = AZS
            .iter()
            .filter_map(|az| cx.state.id(&private_rtb_key(az)))
            .collect();
        match find_endpoint(cx, VPCE_S3).await? {
            Some(e) => {
                let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
                cx.record(VPCE_S3, Resource::new("ec2:vpc-endpoint", &id))?;
                let missing: Vec<String> = tables
                    .iter()
                    .filter(|t| !e.route_table_ids().contains(t))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    return Ok(Outcome::Unchanged);
                }
                if !cx.dry_run {
                    cx.aws
                        .ec2
                        .modify_vpc_endpoint()
                        .vpc_endpoint_id(&id)
                        .set_add_route_table_ids(Some(missing.clone()))
                        .send()
                        .await
                        .map_err(ec2_err("ModifyVpcEndpoint", &id))?;
                }
                Ok(Outcome::Updated(vec![format!(
                    "route tables: add {}",
                    missing.join(",")
                )]))
            }
            None if cx.dry_run => Ok(Outcome::Created),
            None => {
                let vpc = cx.require(VPC, "network.vpc")?;
                if tables.len() != AZS.len() {
                    cx.require(&private_rtb_key("a"), "network.private-route-tables")?;
                    cx.require(&private_rtb_key("b"), "network.private-route-tables")?;
                }
                let o = cx
                    .aws
                    .ec2
                    .create_vpc_endpoint()
                    .vpc_id(&vpc)
                    .vpc_endpoint_type(VpcEndpointType::Gateway)
                    .service_name(format!("com.amazonaws.{}.s3", cx.aws.region))
                    .set_route_table_ids(Some(tables))
                    .client_token(cx.token(VPCE_S3))
                    .tag_specifications(ec2_tag_spec(cx, ResourceType::VpcEndpoint, VPCE_S3, &name))
                    .send()
                    .await
                    .map_err(ec2_err("CreateVpcEndpoint", &name))?;
                let id = o
                    .vpc_endpoint()
                    .and_then(|e| e.vpc_endpoint_id())
                    .unwrap_or_default()
                    .to_string();
                cx.record_new(VPCE_S3, Resource::new("ec2:vpc-endpoint", &id))?;
                Ok(Outcome::Created)
            }
        }
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_endpoint(cx, VPCE_S3).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![inspect_endpoint(
            cx,
            VPCE_S3,
            find_endpoint(cx, VPCE_S3).await?,
        )])
    }
}

// ---------------------------------------------------------------- Flow log

pub fn flow_log_group_name(cx: &StepCx) -> String {
    format!("/moodlectl/{}/vpc-flow-logs", cx.cfg.stack.name)
}

fn flow_role_name(cx: &StepCx) -> String {
    cx.cfg.name("vpc-flow-logs")
}

fn flow_trust_policy() -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

fn flow_permissions(log_group_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
            "Resource": [log_group_arn, format!("{log_group_arn}:*")]
        }]
    })
}

/// IAM role helpers shared with the compute tier.
pub mod iam {
    use super::*;

    pub fn tags(cx: &StepCx, key: &str) -> Vec<aws_sdk_iam::types::Tag> {
        ec2_tags(cx, key, key)
            .into_iter()
            .filter(|t| t.key() != Some("Name"))
            .map(|t| {
                aws_sdk_iam::types::Tag::builder()
                    .key(t.key().unwrap_or_default())
                    .value(t.value().unwrap_or_default())
                    .build()
                    .expect("tag has key and value")
            })
            .collect()
    }

    pub async fn get_role(
        cx: &StepCx,
        name: &str,
    ) -> Result<Option<aws_sdk_iam::types::Role>, StepError> {
        let r = absent_ok(
            "GetRole",
            name,
            cx.aws.iam.get_role().role_name(name).send().await,
        )?;
        Ok(r.and_then(|o| o.role().cloned()))
    }

    /// Ensure role `name` with `trust` and one inline policy `policy`.
    pub async fn ensure_role(
        cx: &StepCx,
        key: &str,
        name: &str,
        trust: &serde_json::Value,
        policy_name: &str,
        policy: &serde_json::Value,
    ) -> Result<Outcome, StepError> {
        let mut out = match get_role(cx, name).await? {
            Some(r) => {
                cx.record(key, Resource::new("iam:role", name).with("arn", r.arn()))?;
                let mut o = Outcome::Unchanged;
                if !same_policy(r.assume_role_policy_document().unwrap_or_default(), trust) {
                    o = Outcome::Updated(vec![format!("{name}: trust policy")]);
                    if !cx.dry_run {
                        cx.aws
                            .iam
                            .update_assume_role_policy()
                            .role_name(name)
                            .policy_document(trust.to_string())
                            .send()
                            .await
                            .map_err(|e| aws_err("UpdateAssumeRolePolicy", name, e))?;
                    }
                }
                o
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let o = cx
                    .aws
                    .iam
                    .create_role()
                    .role_name(name)
                    .assume_role_policy_document(trust.to_string())
                    .description(format!("moodlectl stack {}", cx.cfg.stack.name))
                    .set_tags(Some(tags(cx, key)))
                    .send()
                    .await
                    .map_err(|e| aws_err("CreateRole", name, e))?;
                cx.record_new(
                    key,
                    Resource::new("iam:role", name)
                        .with("arn", o.role().map(|r| r.arn()).unwrap_or_default()),
                )?;
                Outcome::Created
            }
        };
        let live = absent_ok(
            "GetRolePolicy",
            name,
            cx.aws
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .send()
                .await,
        )?;
        let same = live
            .map(|p| same_policy(p.policy_document(), policy))
            .unwrap_or(false);
        if !same {
            if out == Outcome::Unchanged {
                out = Outcome::Updated(vec![format!("{name}: inline policy {policy_name}")]);
            }
            if !cx.dry_run {
                cx.aws
                    .iam
                    .put_role_policy()
                    .role_name(name)
                    .policy_name(policy_name)
                    .policy_document(policy.to_string())
                    .send()
                    .await
                    .map_err(|e| aws_err("PutRolePolicy", name, e))?;
            }
        }
        Ok(out)
    }

    pub async fn destroy_role(cx: &StepCx, key: &str, name: &str) -> Result<Outcome, StepError> {
        if get_role(cx, name).await?.is_none() {
            cx.forget(key)?;
            return Ok(Outcome::AlreadyAbsent);
        }
        let policies = cx
            .aws
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| aws_err("ListRolePolicies", name, e))?;
        for p in policies.policy_names() {
            deleted(
                "DeleteRolePolicy",
                name,
                cx.aws
                    .iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await,
            )?;
        }
        let attached = cx
            .aws
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| aws_err("ListAttachedRolePolicies", name, e))?;
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                deleted(
                    "DetachRolePolicy",
                    name,
                    cx.aws
                        .iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                        .await,
                )?;
            }
        }
        let out = deleted(
            "DeleteRole",
            name,
            cx.aws.iam.delete_role().role_name(name).send().await,
        )?;
        cx.forget(key)?;
        Ok(out)
    }

    pub async fn inspect_role(cx: &StepCx, key: &str, name: &str) -> Result<Inspection, StepError> {
        Ok(match get_role(cx, name).await? {
            Some(r) => Inspection::new("iam:role", name, Some(r.arn().to_string()), "exists", true),
            None => Inspection::missing("iam:role", name, cx.state.get(key).map(|r| r.id)),
        })
    }
}

struct FlowLogRoleStep;

#[async_trait]
impl Step for FlowLogRoleStep {
    fn id(&self) -> &'static str {
        "network.flow-log-role"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let arn = log_group_arn(cx);
        iam::ensure_role(
            cx,
            FLOW_ROLE,
            &flow_role_name(cx),
            &flow_trust_policy(),
            "flow-logs-to-cloudwatch",
            &flow_permissions(&arn),
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        iam::destroy_role(cx, FLOW_ROLE, &flow_role_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            iam::inspect_role(cx, FLOW_ROLE, &flow_role_name(cx)).await?,
        ])
    }
}

/// The log group ARN is derivable without a call once the account is known;
/// a wildcard account keeps the role step independent of the group step.
fn log_group_arn(cx: &StepCx) -> String {
    format!(
        "arn:aws:logs:{}:*:log-group:{}",
        cx.aws.region,
        flow_log_group_name(cx)
    )
}

/// Log group helpers shared with the compute tier.
pub mod loggroup {
    use super::*;

    pub async fn find(
        cx: &StepCx,
        name: &str,
    ) -> Result<Option<aws_sdk_cloudwatchlogs::types::LogGroup>, StepError> {
        let o = cx
            .aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .map_err(|e| aws_err("DescribeLogGroups", name, e))?;
        Ok(o.log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
            .cloned())
    }

    pub async fn ensure(
        cx: &StepCx,
        key: &str,
        name: &str,
        retention: i32,
    ) -> Result<Outcome, StepError> {
        let (live, out) = match find(cx, name).await? {
            Some(g) => {
                cx.record(key, Resource::new("logs:log-group", name))?;
                (g.retention_in_days(), Outcome::Unchanged)
            }
            None if cx.dry_run => return Ok(Outcome::Created),
            None => {
                let tags = std::collections::HashMap::from([
                    (
                        super::super::TAG_STACK.to_string(),
                        cx.cfg.stack.name.clone(),
                    ),
                    (super::super::TAG_RESOURCE.to_string(), key.to_string()),
                ]);
                match cx
                    .aws
                    .logs
                    .create_log_group()
                    .log_group_name(name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                {
                    Ok(_) => {}
                    // Created by a run killed before it could record it.
                    Err(e)
                        if e.as_service_error()
                            .map(|s| s.is_resource_already_exists_exception())
                            .unwrap_or(false) => {}
                    Err(e) => return Err(aws_err("CreateLogGroup", name, e)),
                }
                cx.record_new(key, Resource::new("logs:log-group", name))?;
                (None, Outcome::Created)
            }
        };
        if live == Some(retention) {
            return Ok(out);
        }
        if !cx.dry_run {
            cx.aws
                .logs
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(retention)
                .send()
                .await
                .map_err(|e| aws_err("PutRetentionPolicy", name, e))?;
        }
        Ok(if out == Outcome::Created {
            out
        } else {
            Outcome::Updated(vec![change(
                "retention_in_days",
                live.map(|d| d.to_string()).unwrap_or("never expire".into()),
                retention,
            )])
        })
    }

    pub async fn destroy(cx: &StepCx, key: &str, name: &str) -> Result<Outcome, StepError> {
        if find(cx, name).await?.is_none() {
            cx.forget(key)?;
            return Ok(Outcome::AlreadyAbsent);
        }
        let out = deleted(
            "DeleteLogGroup",
            name,
            cx.aws
                .logs
                .delete_log_group()
                .log_group_name(name)
                .send()
                .await,
        )?;
        cx.forget(key)?;
        Ok(out)
    }

    pub async fn inspect(
        cx: &StepCx,
        key: &str,
        name: &str,
        retention: i32,
    ) -> Result<Inspection, StepError> {
        Ok(match find(cx, name).await? {
            Some(g) => {
                let live = g.retention_in_days();
                let mut i = Inspection::new(
                    "logs:log-group",
                    name,
                    Some(name.to_string()),
                    "exists",
                    true,
                )
                .detail(
                    "retention_days",
                    live.map(|d| d.to_string()).unwrap_or("never".into()),
                );
                if live != Some(retention) {
                    i.drift = Some(format!("retention {live:?} (config: {retention})"));
                }
                i
            }
            None => Inspection::missing("logs:log-group", name, cx.state.id(key)),
        })
    }
}

struct FlowLogGroupStep;

#[async_trait]
impl Step for FlowLogGroupStep {
    fn id(&self) -> &'static str {
        "network.flow-log-group"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        loggroup::ensure(
            cx,
            FLOW_LOG_GROUP,
            &flow_log_group_name(cx),
            cx.cfg.network.flow_log_retention_days,
        )
        .await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        loggroup::destroy(cx, FLOW_LOG_GROUP, &flow_log_group_name(cx)).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![
            loggroup::inspect(
                cx,
                FLOW_LOG_GROUP,
                &flow_log_group_name(cx),
                cx.cfg.network.flow_log_retention_days,
            )
            .await?,
        ])
    }
}

struct FlowLogStep;

async fn find_flow_log(cx: &StepCx) -> Result<Option<aws_sdk_ec2::types::FlowLog>, StepError> {
    if !cx.created.may_preexist(FLOW_LOG, VPC) {
        return Ok(None);
    }
    if let Some(id) = cx.state.id(FLOW_LOG) {
        let r = absent_ok(
            "DescribeFlowLogs",
            &id,
            cx.aws
                .ec2
                .describe_flow_logs()
                .flow_log_ids(&id)
                .send()
                .await,
        )?;
        if let Some(f) = r.and_then(|o| o.flow_logs().first().cloned()) {
            return Ok(Some(f));
        }
    }
    let o = cx
        .aws
        .ec2
        .describe_flow_logs()
        .set_filter(Some(ec2_filters(cx, FLOW_LOG)))
        .send()
        .await
        .map_err(ec2_err("DescribeFlowLogs", "flow log"))?;
    Ok(o.flow_logs()
        .iter()
        .find(|f| ec2_tagged(cx, f.tags(), FLOW_LOG))
        .cloned())
}

#[async_trait]
impl Step for FlowLogStep {
    fn id(&self) -> &'static str {
        "network.flow-log"
    }
    fn deps(&self) -> &'static [&'static str] {
        &[
            "network.vpc",
            "network.flow-log-role",
            "network.flow-log-group",
        ]
    }
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let name = cx.cfg.name("vpc-flow-log");
        if let Some(f) = find_flow_log(cx).await? {
            let id = f.flow_log_id().unwrap_or_default().to_string();
            cx.record(FLOW_LOG, Resource::new("ec2:flow-log", &id))?;
            let ok = f.traffic_type().map(|t| t.as_str()) == Some("ALL")
                && f.log_group_name() == Some(flow_log_group_name(cx).as_str());
            if ok {
                return Ok(Outcome::Unchanged);
            }
            // Flow logs cannot be modified: replace.
            if cx.dry_run {
                return Ok(Outcome::Updated(vec!["flow log settings (replace)".into()]));
            }
            deleted(
                "DeleteFlowLogs",
                &id,
                cx.aws.ec2.delete_flow_logs().flow_log_ids(&id).send().await,
            )?;
            cx.forget(FLOW_LOG)?;
        } else if cx.dry_run {
            return Ok(Outcome::Created);
        }
        let vpc = cx.require(VPC, "network.vpc")?;
        let role = cx.require_attr(FLOW_ROLE, "arn", "network.flow-log-role")?;
        let o = cx
            .aws
            .ec2
            .create_flow_logs()
            .resource_type(FlowLogsResourceType::Vpc)
            .resource_ids(&vpc)
            .traffic_type(TrafficType::All)
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(flow_log_group_name(cx))
            .deliver_logs_permission_arn(role)
            .client_token(cx.token(FLOW_LOG))
            .tag_specifications(ec2_tag_spec(cx, ResourceType::VpcFlowLog, FLOW_LOG, &name))
            .send()
            .await
            .map_err(ec2_err("CreateFlowLogs", &name))?;
        if let Some(u) = o.unsuccessful().first() {
            let err = u.error();
            return Err(StepError::Aws {
                op: "CreateFlowLogs".into(),
                resource: name,
                code: err.and_then(|e| e.code()).unwrap_or("Unsuccessful").into(),
                message: err.and_then(|e| e.message()).unwrap_or_default().into(),
            });
        }
        let id = o.flow_log_ids().first().cloned().unwrap_or_default();
        cx.record_new(FLOW_LOG, Resource::new("ec2:flow-log", &id))?;
        Ok(Outcome::Created)
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(f) = find_flow_log(cx).await? else {
            cx.forget(FLOW_LOG)?;
            return Ok(Outcome::AlreadyAbsent);
        };
        let id = f.flow_log_id().unwrap_or_default().to_string();
        let out = deleted(
            "DeleteFlowLogs",
            &id,
            cx.aws.ec2.delete_flow_logs().flow_log_ids(&id).send().await,
        )?;
        cx.forget(FLOW_LOG)?;
        Ok(out)
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let name = cx.cfg.name("vpc-flow-log");
        Ok(vec![match find_flow_log(cx).await? {
            Some(f) => Inspection::new(
                "ec2:flow-log",
                name,
                f.flow_log_id().map(str::to_string),
                f.flow_log_status().unwrap_or("unknown").to_lowercase(),
                f.flow_log_status()
                    .map(|s| s.eq_ignore_ascii_case("active"))
                    .unwrap_or(false),
            )
            .detail(
                "traffic_type",
                f.traffic_type().map(|t| t.as_str()).unwrap_or_default(),
            ),
            None => Inspection::missing("ec2:flow-log", name, cx.state.id(FLOW_LOG)),
        }])
    }
}

/// Resources tagged for this stack that the state does not know (`status` drift).
pub async fn untracked(cx: &StepCx) -> Result<Vec<(String, String)>, StepError> {
    let mut out = vec![];
    let vpcs = cx
        .aws
        .ec2
        .describe_vpcs()
        .filters(ec2_stack_filter(cx))
        .send()
        .await
        .map_err(ec2_err("DescribeVpcs", "VPC"))?;
    for v in vpcs.vpcs() {
        let key = ec2_tag(v.tags(), super::TAG_RESOURCE)
            .unwrap_or("?")
            .to_string();
        let id = v.vpc_id().unwrap_or_default().to_string();
        if cx.state.id(&key).as_deref() != Some(id.as_str()) {
            out.push((key, id));
        }
    }
    let nats = cx
        .aws
        .ec2
        .describe_nat_gateways()
        .filter(ec2_stack_filter(cx))
        .send()
        .await
        .map_err(ec2_err("DescribeNatGateways", "NAT"))?;
    for n in nats.nat_gateways() {
        if matches!(
            n.state().map(|s| s.as_str()),
            Some("deleted") | Some("deleting")
        ) {
            continue;
        }
        let key = ec2_tag(n.tags(), super::TAG_RESOURCE)
            .unwrap_or("?")
            .to_string();
        let id = n.nat_gateway_id().unwrap_or_default().to_string();
        if cx.state.id(&key).as_deref() != Some(id.as_str()) {
            out.push((key, id));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_cidrs_split_the_vpc_in_quarters() {
        assert_eq!(subnet_cidr("10.0.0.0/16", true, 0), "10.0.0.0/18");
        assert_eq!(subnet_cidr("10.0.0.0/16", true, 1), "10.0.64.0/18");
        assert_eq!(subnet_cidr("10.0.0.0/16", false, 0), "10.0.128.0/18");
        assert_eq!(subnet_cidr("10.1.0.0/16", false, 1), "10.1.192.0/18");
    }
}
