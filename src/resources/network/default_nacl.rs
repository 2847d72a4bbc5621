//! The VPC's default network ACL — the one every subnet of the stack uses —
//! narrowed from EC2's allow-all to what the stack receives.
//!
//! Security groups are the real control (stateful, per tier); this is the
//! stateless layer behind them, so what reaches a subnet from outside the VPC
//! is only: HTTPS and the HTTP redirect to the load balancer (CloudFront),
//! and answers to connections the stack opened (the NAT gateways' and the
//! tasks' ports 1024–65535, TCP and UDP, and ICMP "fragmentation needed" so
//! path MTU discovery keeps working). Everything inside the VPC is allowed.
//! Remote administration ports from the internet are refused outright — SSH
//! is outside the answer range, RDP (3389) is denied before it (CIS AWS
//! Foundations 5.1). Outbound stays open: the security groups decide that.
//!
//! The price of the RDP rule: a NAT gateway picks its source ports in
//! 1024–65535, so one outbound connection in ~64,000 that happens to get port
//! 3389 has its answer dropped and is retried by the client.
//!
//! AWS rules encoded here:
//! - A VPC's default ACL cannot be deleted (it goes with the VPC) and its
//!   catch-all deny (`*`, rule 32767) cannot be changed: only numbered rules
//!   are replaced, created or deleted.
//! - Rules are evaluated in number order, first match wins: the RDP deny must
//!   come before the answer range.
//! - The ACL is stateless and applies at once: on a running stack the new
//!   rules are added before EC2's allow-all rule 100 is replaced, so answers
//!   are never dropped in between.

use super::*;
use crate::resources::prelude::*;
use aws_sdk_ec2::types::{Filter, IcmpTypeCode, NetworkAcl, NetworkAclEntry, PortRange, RuleAction};

/// One inbound rule: (number, protocol, ports, action, CIDR: `None` = the VPC's).
struct Rule {
    number: i32,
    protocol: &'static str,
    ports: Option<(i32, i32)>,
    allow: bool,
    from_vpc: bool,
}

const ANYWHERE: &str = "0.0.0.0/0";
const TCP: &str = "6";
const UDP: &str = "17";
const ICMP: &str = "1";

const RULES: &[Rule] = &[
    Rule { number: 100, protocol: "-1", ports: None, allow: true, from_vpc: true },
    Rule { number: 110, protocol: TCP, ports: Some((443, 443)), allow: true, from_vpc: false },
    Rule { number: 120, protocol: TCP, ports: Some((80, 80)), allow: true, from_vpc: false },
    Rule { number: 130, protocol: TCP, ports: Some((3389, 3389)), allow: false, from_vpc: false },
    Rule { number: 140, protocol: TCP, ports: Some((1024, 65535)), allow: true, from_vpc: false },
    Rule { number: 150, protocol: UDP, ports: Some((1024, 65535)), allow: true, from_vpc: false },
    // ICMP type 3 code 4: "fragmentation needed", path MTU discovery.
    Rule { number: 160, protocol: ICMP, ports: None, allow: true, from_vpc: false },
];

/// The last rule number EC2 reserves for the catch-all.
const CATCH_ALL: i32 = 32767;

impl Rule {
    fn cidr<'a>(&self, vpc_cidr: &'a str) -> &'a str {
        if self.from_vpc {
            vpc_cidr
        } else {
            ANYWHERE
        }
    }
    fn matches(&self, e: &NetworkAclEntry, vpc_cidr: &str) -> bool {
        let ports = e.port_range().map(|p| (p.from().unwrap_or(0), p.to().unwrap_or(0)));
        let icmp_ok =
            self.protocol != ICMP || e.icmp_type_code().is_some_and(|c| (c.r#type(), c.code()) == (Some(3), Some(4)));
        e.protocol() == Some(self.protocol)
            && e.cidr_block() == Some(self.cidr(vpc_cidr))
            && e.rule_action() == Some(&self.action())
            && (self.ports.is_none() || ports == self.ports)
            && icmp_ok
    }
    fn action(&self) -> RuleAction {
        if self.allow {
            RuleAction::Allow
        } else {
            RuleAction::Deny
        }
    }
    fn describe(&self, vpc_cidr: &str) -> String {
        let what = match (self.protocol, self.ports) {
            ("-1", _) => "all".to_string(),
            (ICMP, _) => "icmp 3/4".to_string(),
            (p, Some((a, b))) if a == b => format!("{} {a}", if p == TCP { "tcp" } else { "udp" }),
            (p, Some((a, b))) => format!("{} {a}-{b}", if p == TCP { "tcp" } else { "udp" }),
            (_, None) => "?".to_string(),
        };
        let verb = if self.allow { "allow" } else { "deny" };
        format!("{} {verb} {what} from {}", self.number, self.cidr(vpc_cidr))
    }
}

async fn find_default(cx: &StepCx, vpc: &str) -> Result<Option<NetworkAcl>, StepError> {
    let o = retry(cx, "DescribeNetworkAcls", vpc, &transient::EC2_FRESH_ID, || {
        let call = cx.aws.ec2.describe_network_acls();
        let call = call.filters(Filter::builder().name("vpc-id").values(vpc).build());
        call.filters(Filter::builder().name("default").values("true").build()).send()
    })
    .await?;
    Ok(o.network_acls().first().cloned())
}

/// The inbound IPv4 rules we own (numbered, not the catch-all).
fn inbound(acl: &NetworkAcl) -> Vec<&NetworkAclEntry> {
    acl.entries()
        .iter()
        .filter(|e| e.egress() == Some(false) && e.rule_number().is_some_and(|n| n < CATCH_ALL))
        .filter(|e| e.cidr_block().is_some())
        .collect()
}

/// What differs: rules to write (missing or different) and rule numbers to delete.
fn diff<'a>(acl: &NetworkAcl, vpc_cidr: &str) -> (Vec<&'a Rule>, Vec<i32>) {
    let live = inbound(acl);
    let write = RULES
        .iter()
        .filter(|r| !live.iter().any(|e| e.rule_number() == Some(r.number) && r.matches(e, vpc_cidr)))
        .collect();
    let extra = live.iter().filter_map(|e| e.rule_number()).filter(|n| !RULES.iter().any(|r| r.number == *n)).collect();
    (write, extra)
}

pub(crate) struct DefaultNaclStep;

#[async_trait]
impl Step<StepCx> for DefaultNaclStep {
    async fn ensure(&self, cx: &StepCx) -> Result<Outcome, StepError> {
        let Some(vpc) = cx.dependency(VPC, ids::NETWORK_VPC)? else { return Ok(Outcome::Created) };
        let Some(acl) = find_default(cx, &vpc).await? else { return Ok(Outcome::Unchanged) };
        let id = acl.network_acl_id().unwrap_or_default().to_string();
        let cidr = cx.cfg.network.vpc_cidr.as_str();
        let (write, extra) = diff(&acl, cidr);
        if write.is_empty() && extra.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let mut changes: Vec<String> = write.iter().map(|r| r.describe(cidr)).collect();
        changes.extend(extra.iter().map(|n| format!("{n} removed")));
        if !cx.dry_run {
            let ec2 = &cx.aws.ec2;
            for n in &extra {
                let call = ec2.delete_network_acl_entry().network_acl_id(&id).rule_number(*n).egress(false);
                call.send().await.ctx("DeleteNetworkAclEntry", &id)?;
            }
            let numbers: Vec<i32> = inbound(&acl).iter().filter_map(|e| e.rule_number()).collect();
            // New rules first, replacements last: EC2's allow-all (rule 100)
            // keeps answers flowing until the rules that admit them exist.
            let mut write = write;
            write.sort_by_key(|r| numbers.contains(&r.number));
            for r in write {
                let ports = r.ports.map(|(a, b)| PortRange::builder().from(a).to(b).build());
                let icmp = (r.protocol == ICMP).then(|| IcmpTypeCode::builder().r#type(3).code(4).build());
                // The rule number exists with other content: replace it in place.
                if numbers.contains(&r.number) {
                    let call = ec2.replace_network_acl_entry().network_acl_id(&id).rule_number(r.number).egress(false);
                    let call = call.protocol(r.protocol).rule_action(r.action()).cidr_block(r.cidr(cidr));
                    let call = call.set_port_range(ports).set_icmp_type_code(icmp);
                    call.send().await.ctx("ReplaceNetworkAclEntry", &id)?;
                } else {
                    let call = ec2.create_network_acl_entry().network_acl_id(&id).rule_number(r.number).egress(false);
                    let call = call.protocol(r.protocol).rule_action(r.action()).cidr_block(r.cidr(cidr));
                    let call = call.set_port_range(ports).set_icmp_type_code(icmp);
                    call.send().await.ctx("CreateNetworkAclEntry", &id)?;
                }
            }
        }
        Ok(Outcome::Updated(vec![format!("{id} (default) inbound: {}", changes.join("; "))]))
    }
    async fn destroy(&self, _cx: &StepCx) -> Result<Outcome, StepError> {
        Ok(Outcome::AlreadyAbsent) // deleted with the VPC
    }
    async fn inspect(&self, cx: &StepCx) -> Result<Vec<Inspection>, StepError> {
        let Some(vpc) = cx.state.id(VPC) else { return Ok(vec![]) };
        let Some(acl) = find_default(cx, &vpc).await? else { return Ok(vec![]) };
        let (write, extra) = diff(&acl, &cx.cfg.network.vpc_cidr);
        let id = acl.network_acl_id().map(str::to_string);
        let mut i = Inspection::new("ec2:network-acl", "default", id, "exists", true)
            .detail("inbound_rules", inbound(&acl).len().to_string());
        if !write.is_empty() || !extra.is_empty() {
            i.drift = Some(format!("{} inbound rule(s) differ from the stack's", write.len() + extra.len()));
        }
        Ok(vec![i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i32, proto: &str, cidr: &str, allow: bool, ports: Option<(i32, i32)>) -> NetworkAclEntry {
        entry_of(n, proto, cidr, allow, ports, false)
    }

    fn entry_of(
        n: i32,
        proto: &str,
        cidr: &str,
        allow: bool,
        ports: Option<(i32, i32)>,
        egress: bool,
    ) -> NetworkAclEntry {
        let b = NetworkAclEntry::builder().rule_number(n).protocol(proto).cidr_block(cidr).egress(egress);
        let b = b.rule_action(if allow { RuleAction::Allow } else { RuleAction::Deny });
        b.set_port_range(ports.map(|(a, z)| PortRange::builder().from(a).to(z).build())).build()
    }

    #[test]
    fn ec2s_allow_all_default_is_replaced_rule_by_rule_and_the_catch_all_kept() {
        let acl = NetworkAcl::builder()
            .entries(entry(100, "-1", ANYWHERE, true, None))
            .entries(entry(CATCH_ALL, "-1", ANYWHERE, false, None))
            .entries(entry_of(100, "-1", ANYWHERE, true, None, true))
            .build();
        let (write, extra) = diff(&acl, "10.0.0.0/16");
        assert_eq!(write.len(), RULES.len(), "rule 100 allows everything from anywhere: rewritten");
        assert!(extra.is_empty(), "{extra:?}");
        assert_eq!(RULES[0].describe("10.0.0.0/16"), "100 allow all from 10.0.0.0/16");
        assert_eq!(RULES[3].describe("10.0.0.0/16"), "130 deny tcp 3389 from 0.0.0.0/0");
    }

    #[test]
    fn from_the_internet_ssh_is_never_allowed_and_rdp_is_denied_before_the_answer_range() {
        let from_internet = |port: i32| {
            RULES
                .iter()
                .filter(|r| !r.from_vpc && (r.protocol == TCP || r.protocol == "-1"))
                .find(|r| r.protocol == "-1" || r.ports.is_some_and(|(a, b)| (a..=b).contains(&port)))
        };
        // First match wins: the first rule covering the port decides.
        assert!(from_internet(22).is_none());
        assert!(!from_internet(3389).unwrap().allow);
        assert!(from_internet(443).unwrap().allow);
        assert!(from_internet(40000).unwrap().allow);
    }
}
