//! The four /18 subnets (public and private in two AZs), none of which maps
//! a public IP on launch.
//!
//! The AZs are the region's first two that offer every service the stack
//! uses; a subnet is found again by its recorded ID or its tags, never by
//! CIDR alone (another VPC may use the same range).
//!
//! Eventual consistency: calls naming the VPC just created may answer
//! `InvalidVpcID.NotFound`; `cx.create` retries them
//! (`transient::EC2_FRESH_ID`) and, having no client token, notes the create
//! so a crashed run's subnet is found by tag even while `Describe*` filters
//! still omit it.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType};
use futures::future::try_join_all;

// ---------------------------------------------------------------- Subnets

pub(crate) struct SubnetsStep;

/// The /18 for subnet `i` of the VPC's /16 (CDK's default split for 4 subnets).
pub fn subnet_cidr(vpc_cidr: &str, public: bool, az_index: usize) -> String {
    let prefix: Vec<&str> = vpc_cidr.split('.').take(2).collect();
    let i = if public { az_index } else { 2 + az_index };
    format!("{}.{}.{}.0/18", prefix[0], prefix[1], i * 64)
}

pub(crate) async fn pick_azs(cx: &StepCx) -> Result<Vec<String>, StepError> {
    let call = cx.aws.ec2.describe_availability_zones();
    let call = call.filters(Filter::builder().name("state").values("available").build());
    let o = call.send().await.ctx("DescribeAvailabilityZones", &cx.aws.region)?;
    let mut zones: Vec<String> = o
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().map(|t| t == "availability-zone").unwrap_or(true))
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

pub(crate) async fn ensure_subnet(
    cx: &StepCx,
    public: bool,
    ai: usize,
    found: Option<Subnet>,
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
            let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
            // The zones were not read when every subnet was recorded; one of
            // them is gone (or not visible yet and its window passed).
            let zones = if zones.is_empty() { pick_azs(cx).await? } else { zones.to_vec() };
            let az = &zones[ai];
            let call = cx.aws.ec2.create_subnet().vpc_id(&vpc).cidr_block(&cidr).availability_zone(az);
            let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::Subnet, &key, &name));
            let o = cx.create(&key, "CreateSubnet", &name, &transient::EC2_FRESH_ID, || call.clone().send()).await?;
            let id = o.subnet().and_then(|s| s.subnet_id()).unwrap_or_default();
            cx.record_new(&key, Resource::new("ec2:subnet", id).with("az", az).with("cidr", &cidr))?;
            Ok(Outcome::Created)
        }
    }
}

#[async_trait]
impl Step<StepCx> for SubnetsStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let all_recorded =
            [true, false].iter().all(|p| AZS.iter().all(|az| cx.state.id(&subnet_key(*p, az)).is_some()));
        let slots: Vec<(bool, usize)> = [true, false].into_iter().flat_map(|p| (0..2).map(move |i| (p, i))).collect();
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
        let finds = try_join_all(keys.iter().map(|k| ec2::find::<Subnet>(cx, k, Some(VPC))));
        let (zones, found) = tokio::try_join!(azs, finds)?;
        let futs = slots.iter().zip(found).map(|((p, i), f)| ensure_subnet(cx, *p, *i, f, &zones));
        let outs = try_join_all(futs).await?;
        Ok(outs.into_iter().fold(Outcome::Unchanged, Outcome::merge))
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        // AWS-managed endpoints in the subnets (GuardDuty) hold them too.
        if let Some(vpc) = ec2::find::<Vpc>(cx, VPC, None).await? {
            leftovers::remove_guardduty(cx, vpc.vpc_id().unwrap_or_default()).await?;
        }
        let futs =
            [true, false].into_iter().flat_map(|p| AZS.iter().map(move |az| subnet_key(p, az))).map(|key| async move {
                let Some(s) = ec2::find::<Subnet>(cx, &key, Some(VPC)).await? else {
                    cx.forget(&key)?;
                    return Ok::<_, StepError>(Outcome::AlreadyAbsent);
                };
                let id = s.subnet_id().unwrap_or_default().to_string();
                let o =
                    retry_in_use(cx, "DeleteSubnet", &id, || cx.aws.ec2.delete_subnet().subnet_id(&id).send()).await?;
                cx.forget(&key)?;
                Ok(o)
            });
        Ok(try_join_all(futs).await?.into_iter().fold(Outcome::AlreadyAbsent, Outcome::merge))
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let mut rows = vec![];
        for p in [true, false] {
            for az in AZS {
                let key = subnet_key(p, az);
                let name = cx.cfg.name(&key.replace("subnet/", ""));
                let found = ec2::find::<Subnet>(cx, &key, Some(VPC)).await?;
                rows.extend(cx.inspect_one(&key, "ec2:subnet", &name, found, |i, s| {
                    let st = s.state().map(|s| s.as_str()).unwrap_or_default();
                    let public_ip = s.map_public_ip_on_launch().unwrap_or(false);
                    i.status(s.subnet_id(), st, st == "available")
                        .detail("az", s.availability_zone().unwrap_or_default())
                        .detail("cidr", s.cidr_block().unwrap_or_default())
                        .detail("map_public_ip_on_launch", public_ip.to_string())
                })?);
            }
        }
        Ok(rows)
    }
}

/// No subnet maps a public IP on launch — the public ones included, unlike
/// the reference deployment. Nothing the stack runs there needs one: the load
/// balancer and the NAT gateways bring their own addresses (Elastic IPs), so
/// an automatic public IP could only ever expose something launched there by
/// hand (prowler's `vpc_subnet_no_public_ip_by_default`).
///
/// A subnet this run created already has AWS's default (off), so this step
/// makes no call for it; it exists to turn the attribute off on stacks built
/// by earlier versions and to repair it when someone switches it on (drift on
/// the subnet's `status` row). A step of its own so that the private subnets'
/// dependants — the database first — do not wait for these reads.
pub(crate) struct PublicSubnetIpStep;

#[async_trait]
impl Step<StepCx> for PublicSubnetIpStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        for_azs(Outcome::Unchanged, |az| async move {
            let key = subnet_key(true, az);
            if cx.created.contains(&key) {
                return Ok(Outcome::Unchanged);
            }
            let id = match ec2::find::<Subnet>(cx, &key, Some(VPC)).await? {
                None if cx.dry_run => return Ok(Outcome::Unchanged),
                None => return Err(StepError::MissingDependency { step: ids::NETWORK_SUBNETS, what: key }),
                Some(s) if s.map_public_ip_on_launch() != Some(true) => return Ok(Outcome::Unchanged),
                Some(s) => s.subnet_id().unwrap_or_default().to_string(),
            };
            if !cx.dry_run {
                let call = cx.aws.ec2.modify_subnet_attribute().subnet_id(&id);
                let call = call.map_public_ip_on_launch(AttributeBooleanValue::builder().value(false).build());
                retry::fresh(cx, "ModifySubnetAttribute", &id, || call.clone().send()).await?;
            }
            Ok(Outcome::Updated(vec![change(&format!("{key}.map_public_ip_on_launch"), true, false)]))
        })
        .await
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // the attribute goes with the subnet
    }
    async fn inspect(&self, _cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        Ok(vec![]) // the subnets' rows carry it (`status` puts drift there)
    }
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
