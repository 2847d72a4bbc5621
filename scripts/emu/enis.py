"""Requester-managed network interfaces: what AWS services put into the
stack's subnets on its behalf, and the deletions those interfaces block.

On AWS a database, a cache node, a load balancer and an interface endpoint
each live in the VPC as network interfaces the service owns
(`RequesterManaged`), carrying the resource's security groups. moto makes
none for RDS, ElastiCache or ELBv2, and makes interface endpoints' without
their security groups. So in the emulator the database, cache and endpoint
groups looked unused (a security scanner said so), and nothing stopped a
group or subnet from being deleted while a resource still sat in it.

- RDS: an interface ("RDSNetworkInterface", requester `amazon-rds`) in the DB
  subnet group's subnet of the instance's zone (a second one in another
  subnet for Multi-AZ), with the instance's (or its cluster's) VPC security
  groups — a ModifyDB* changing them changes the interface's.
- ElastiCache: one per cache node ("ElastiCache <node>", `amazon-elasticache`).
- ELBv2: one per subnet ("ELB app/<name>/<id>", `amazon-elb`), with the load
  balancer's groups.
- Interface VPC endpoints: moto's interfaces get the endpoint's groups
  ("VPC Endpoint Interface <id>", type `vpc_endpoint`).
- When the resource goes, AWS releases its interfaces a while later (the
  well-known DependencyViolation after deleting a database or load balancer):
  `release` seconds of AWS time, scaled like every other delay (0 by default).
- A deleted NAT gateway's interface is released (moto keeps it forever).
- EC2 `DeleteSecurityGroup` answers DependencyViolation ("resource sg-… has a
  dependent object") while a network interface carries the group or another
  group's rule refers to it, and `DeleteSubnet` while any network interface
  is in the subnet (a NAT gateway's until it is deleted) or an interface
  endpoint is still being deleted there — moto drops an endpoint's
  interfaces at once, AWS holds the subnet until the endpoint is gone.
  moto deletes both regardless.

The interfaces are derived from the services' state whenever EC2 lists
interfaces or deletes a group or subnet, so every create/modify/delete path
of every service is covered without wrapping each one.
"""
import threading
import time

from moto.ec2.exceptions import DependencyViolationError

from emu.clock import SCALE

RELEASE_SECONDS = 60
_lock = threading.Lock()
# (account, region) -> owner key -> [eni ids]
_owned = {}
# eni id -> monotonic time it is released (its owner is gone)
_releasing = {}


def _desired(ec2):
    """owner key -> (description, requester, interface type, [(subnet, [groups])])."""
    from moto.elasticache.models import elasticache_backends
    from moto.elbv2.models import elbv2_backends
    from moto.rds.models import rds_backends

    account, region = ec2.account_id, ec2.region_name
    want = {}
    rds = rds_backends[account][region]
    for db in list(rds.databases.values()):
        group = getattr(db, "db_subnet_group", None)
        subnets = [s.id for s in getattr(group, "_subnets", [])] if group else []
        if not subnets:
            continue
        sgs = list(getattr(db, "vpc_security_group_ids", None) or [])
        cluster = rds.clusters.get(getattr(db, "db_cluster_identifier", None) or "")
        if cluster is not None:
            sgs = list(cluster.vpc_security_group_ids or sgs)
        zone = getattr(db, "availability_zone", None)
        first = next((s for s in subnets if ec2.get_subnet(s).availability_zone == zone), subnets[0])
        places = [first] + ([s for s in subnets if s != first][:1] if getattr(db, "multi_az", False) else [])
        want[f"rds:{db.db_instance_identifier}"] = ("RDSNetworkInterface", "amazon-rds", "interface",
                                                    [(s, sgs) for s in places])
    cache = elasticache_backends[account][region]
    for rg in list(cache.replication_groups.values()):
        group = cache.cache_subnet_groups.get(rg.cache_subnet_group_name or "")
        subnets = list(getattr(group, "subnet_ids", None) or [])
        if not subnets:
            continue
        for i, node in enumerate(rg.member_clusters or [rg.replication_group_id]):
            want[f"cache:{node}"] = (f"ElastiCache {node}", "amazon-elasticache", "interface",
                                     [(subnets[i % len(subnets)], list(rg.security_group_ids or []))])
    for lb in list(elbv2_backends[account][region].load_balancers.values()):
        subnets = [s.id for s in lb.subnets]
        kind = "app" if (lb.type or "application") == "application" else "net"
        name = f"ELB {kind}/{lb.name}/{lb.arn.rsplit('/', 1)[-1]}"
        want[f"elb:{lb.arn}"] = (name, "amazon-elb", "interface",
                                 [(s, list(lb.security_groups or [])) for s in subnets])
    return want


def _sync(ec2):
    key = (ec2.account_id, ec2.region_name)
    now = time.monotonic()
    with _lock:
        owned = _owned.setdefault(key, {})
        want = _desired(ec2)
        for owner, (desc, requester, kind, places) in want.items():
            have = [e for e in owned.get(owner, []) if e in ec2.enis]
            if len(have) != len(places):
                for e in have:
                    ec2.enis.pop(e, None)
                have = []
                for subnet, groups in places:
                    eni = ec2.create_network_interface(subnet, None, group_ids=groups or None, description=desc)
                    have.append(eni.id)
            for eni_id, (_, groups) in zip(have, places):
                eni = ec2.enis[eni_id]
                eni.requester_managed, eni.requester_id, eni.interface_type = True, requester, kind
                eni.status = "in-use"
                if groups:
                    eni._group_set = [g for g in map(ec2.get_security_group_from_id, groups) if g]
            owned[owner] = have
        for owner in [o for o in owned if o not in want]:
            for eni_id in owned.pop(owner):
                _releasing[eni_id] = now + RELEASE_SECONDS * SCALE
        # A deleted NAT gateway's interface goes with it (moto keeps it).
        for nat in list(ec2.nat_gateways.values()):
            eni = getattr(nat, "_eni", None)
            if nat.state == "deleted" and eni is not None:
                ec2.enis.pop(eni.id, None)
        for eni_id, at in list(_releasing.items()):
            if now >= at:
                ec2.enis.pop(eni_id, None)
                del _releasing[eni_id]
        for ep in list(ec2.vpc_end_points.values()):
            if (ep.vpc_endpoint_type or "").lower() != "interface" or ep.state == "deleted":
                continue
            groups = [g for g in map(ec2.get_security_group_from_id, ep.security_group_ids or []) if g]
            for eni_id in ep.network_interface_ids or []:
                eni = ec2.enis.get(eni_id)
                if eni is not None:
                    eni.requester_managed, eni.interface_type = True, "vpc_endpoint"
                    eni.description = f"VPC Endpoint Interface {ep.id}"
                    eni._group_set = groups or eni._group_set


def _holders(ec2, group_id):
    """What keeps a security group from being deleted, as AWS counts it."""
    held = [e.id for e in list(ec2.enis.values()) if any(g.id == group_id for g in e._group_set)]
    for groups in ec2.groups.values():
        for g in list(groups.values()):
            if g.id == group_id:
                continue
            for rule in list(g.ingress_rules) + list(g.egress_rules):
                if (rule.source_group or {}).get("GroupId") == group_id:
                    held.append(g.id)
    return held


def install():
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
    from moto.ec2.models.security_groups import SecurityGroupBackend
    from moto.ec2.models.subnets import SubnetBackend

    describe = NetworkInterfaceBackend.get_all_network_interfaces
    delete_group = SecurityGroupBackend.delete_security_group
    delete_subnet = SubnetBackend.delete_subnet

    def get_all_network_interfaces(self, *args, **kwargs):
        _sync(self)
        return describe(self, *args, **kwargs)

    def delete_security_group(self, name=None, group_id=None):
        _sync(self)
        if group_id:
            held = _holders(self, group_id)
            if held:
                raise DependencyViolationError(f"resource {group_id} has a dependent object")
        return delete_group(self, name=name, group_id=group_id)

    def delete_subnet_(self, subnet_id):
        _sync(self)
        in_subnet = any(getattr(e.subnet, "id", None) == subnet_id for e in list(self.enis.values()))
        leaving = any(ep.state != "deleted" and subnet_id in (ep.subnet_ids or []) for ep in self.vpc_end_points.values())
        if in_subnet or leaving:
            raise DependencyViolationError(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
        return delete_subnet(self, subnet_id)

    NetworkInterfaceBackend.get_all_network_interfaces = get_all_network_interfaces
    SecurityGroupBackend.delete_security_group = delete_security_group
    SubnetBackend.delete_subnet = delete_subnet_
