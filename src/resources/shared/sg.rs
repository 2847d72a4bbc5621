//! Security groups: find, create, reconcile ingress, delete, inspect.
//!
//! Every tier's group goes through here. A group's ingress is made exactly
//! what the config asks (missing rules authorized, unexpected ones revoked),
//! except groups whose rules another tier owns (`None`). Deleting a group
//! waits while network interfaces of deleted endpoints or tasks still hold it.
//!
//! Eventual consistency: a group just created may be
//! `InvalidGroup.NotFound` to the next call (`transient::EC2_FRESH_ID`).

use crate::resources::network::VPC;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType};
use futures::future::BoxFuture;

/// Find a security group by logical key (recorded ID first, then tag); a
/// group inside a VPC this run created cannot exist yet.
pub async fn find_sg(cx: &StepCx, key: &str) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, StepError> {
    ec2::find(cx, key, Some(VPC)).await
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

/// How a person reads a rule's source in a plan: `from sg-0abc`.
impl std::fmt::Display for IngressSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngressSource::Cidr(c) => write!(f, "{c}"),
            IngressSource::Group(g) => write!(f, "security group {g}"),
            IngressSource::PrefixList(p) => write!(f, "prefix list {p}"),
        }
    }
}

impl Ingress {
    fn permission(&self) -> IpPermission {
        let b = IpPermission::builder().ip_protocol("tcp").from_port(self.port).to_port(self.port);
        match &self.source {
            IngressSource::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).description(&self.description).build()),
            IngressSource::Group(g) => b.user_id_group_pairs(
                aws_sdk_ec2::types::UserIdGroupPair::builder().group_id(g).description(&self.description).build(),
            ),
            IngressSource::PrefixList(p) => b.prefix_list_ids(
                aws_sdk_ec2::types::PrefixListId::builder().prefix_list_id(p).description(&self.description).build(),
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
pub fn live_ingress(g: &aws_sdk_ec2::types::SecurityGroup) -> Vec<(i32, IngressSource, IpPermission)> {
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
        let id = |v: Option<&str>| v.unwrap_or_default().to_string();
        let v4 = p.ip_ranges().iter().map(|r| (IngressSource::Cidr(id(r.cidr_ip())), base().ip_ranges(r.clone())));
        let v6 =
            p.ipv6_ranges().iter().map(|r| (IngressSource::Cidr(id(r.cidr_ipv6())), base().ipv6_ranges(r.clone())));
        let groups = p.user_id_group_pairs().iter();
        let groups = groups.map(|u| (IngressSource::Group(id(u.group_id())), base().user_id_group_pairs(u.clone())));
        let lists = p.prefix_list_ids().iter();
        let lists =
            lists.map(|l| (IngressSource::PrefixList(id(l.prefix_list_id())), base().prefix_list_ids(l.clone())));
        out.extend(v4.chain(v6).chain(groups).chain(lists).map(|(source, perm)| (port, source, perm.build())));
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
            let vpc = cx.require(VPC, ids::NETWORK_VPC)?;
            let call = cx.aws.ec2.create_security_group().group_name(&name).description(description).vpc_id(&vpc);
            let call = call.tag_specifications(ec2_tag_spec(cx, ResourceType::SecurityGroup, key, &name));
            let o =
                cx.create(key, "CreateSecurityGroup", &name, &transient::EC2_FRESH_ID, || call.clone().send()).await?;
            let id = o.group_id().unwrap_or_default().to_string();
            cx.record_new(key, Resource::new("ec2:security-group", &id))?;
            (id, vec![], true)
        }
    };
    let Some(desired) = desired else {
        return Ok(if created { Outcome::Created } else { Outcome::Unchanged });
    };
    let changes = apply_ingress(cx, &id, &name, &live, desired).await?;
    Ok(if created { Outcome::Created } else { Outcome::of_changes(changes) })
}

/// Make group `key`'s ingress exactly `desired`; `None` when the group does
/// not exist (the caller knows whether that is a missing dependency or,
/// on teardown, nothing left to do).
pub async fn sync_ingress(
    cx: &StepCx,
    key: &str,
    suffix: &str,
    desired: &[Ingress],
) -> Result<Option<Outcome>, StepError> {
    let name = cx.cfg.name(suffix);
    let Some(g) = find_sg(cx, key).await? else {
        return Ok(None);
    };
    let changes = apply_ingress(cx, g.group_id().unwrap_or_default(), &name, &live_ingress(&g), desired).await?;
    Ok(Some(Outcome::of_changes(changes)))
}

/// Authorize what is missing, revoke what is unexpected; returns the changes.
pub(crate) async fn apply_ingress(
    cx: &StepCx,
    id: &str,
    name: &str,
    live: &[(i32, IngressSource, IpPermission)],
    desired: &[Ingress],
) -> Result<Vec<String>, StepError> {
    let live_keys: Vec<(i32, IngressSource)> = live.iter().map(|(p, s, _)| (*p, s.clone())).collect();
    let missing: Vec<&Ingress> = desired.iter().filter(|d| !live_keys.contains(&d.key())).collect();
    let extra: Vec<&(i32, IngressSource, IpPermission)> =
        live.iter().filter(|(p, s, _)| !desired.iter().any(|d| d.key() == (*p, s.clone()))).collect();
    let mut changes = vec![];
    for m in &missing {
        changes.push(format!("{name}: allow tcp/{} from {}", m.port, m.source));
    }
    for (p, s, _) in &extra {
        changes.push(format!("{name}: revoke unexpected tcp/{p} from {s}"));
    }
    if !cx.dry_run {
        if !missing.is_empty() {
            let call = cx.aws.ec2.authorize_security_group_ingress().group_id(id);
            let call = call.set_ip_permissions(Some(missing.iter().map(|m| m.permission()).collect()));
            retry::fresh(cx, "AuthorizeSecurityGroupIngress", id, || call.clone().send()).await?;
        }
        if !extra.is_empty() {
            let call = cx.aws.ec2.revoke_security_group_ingress().group_id(id);
            let call = call.set_ip_permissions(Some(extra.iter().map(|(_, _, p)| p.clone()).collect()));
            retry::fresh(cx, "RevokeSecurityGroupIngress", id, || call.clone().send()).await?;
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
    let out = retry_in_use(cx, "DeleteSecurityGroup", &id, || cx.aws.ec2.delete_security_group().group_id(&id).send())
        .await?;
    cx.forget(key)?;
    Ok(out)
}

pub async fn inspect_sg(cx: &StepCx, key: &str, suffix: &str, desired: &[Ingress]) -> Result<Inspection, StepError> {
    let name = cx.cfg.name(suffix);
    Ok(match find_sg(cx, key).await? {
        Some(g) => {
            let live = live_ingress(&g);
            let extra = live.iter().filter(|(p, s, _)| !desired.iter().any(|d| d.key() == (*p, s.clone()))).count();
            let missing = desired.iter().filter(|d| !live.iter().any(|(p, s, _)| (*p, s.clone()) == d.key())).count();
            let mut i = Inspection::new(
                "ec2:security-group",
                name,
                g.group_id().map(str::to_string),
                format!("{} ingress rule(s)", live.len()),
                true,
            );
            if extra + missing > 0 {
                i.drift = Some(format!("{extra} unexpected, {missing} missing ingress rule(s)"));
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
        cx.state.id(from).map(|g| Ingress { port, source: IngressSource::Group(g), description: what.to_string() })
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

/// How a group's own step computes its ingress.
pub type IngressOf = for<'a> fn(&'a StepCx) -> BoxFuture<'a, Result<Vec<Ingress>, StepError>>;

/// Who sets a group's ingress.
#[derive(Clone, Copy)]
pub enum Rules {
    /// The group's own step: exactly these (some need a lookup, e.g. the
    /// CloudFront prefix list).
    Own(IngressOf),
    /// The compute tier's rules step, once both groups of a rule exist
    /// ([`expected_ingress`]); the group's step leaves ingress alone.
    CrossTier,
}

/// One security group of the stack: created in the VPC, its ingress as
/// [`Rules`] say, deleted once nothing holds it.
pub struct SecurityGroupStep {
    pub key: &'static str,
    pub suffix: &'static str,
    pub description: &'static str,
    pub rules: Rules,
}

impl SecurityGroupStep {
    async fn desired(&self, cx: &StepCx) -> Result<Vec<Ingress>, StepError> {
        match self.rules {
            Rules::Own(rules) => rules(cx).await,
            Rules::CrossTier => Ok(expected_ingress(cx, self.key)),
        }
    }
}

#[async_trait]
impl Step<StepCx> for SecurityGroupStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let own = match self.rules {
            Rules::Own(_) => Some(self.desired(cx).await?),
            Rules::CrossTier => None,
        };
        ensure_sg(cx, self.key, self.suffix, self.description, own.as_deref()).await
    }
    async fn destroy(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        destroy_sg(cx, self.key).await
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let desired = self.desired(cx).await?;
        Ok(vec![inspect_sg(cx, self.key, self.suffix, &desired).await?])
    }
}
