#!/usr/bin/env python3
"""moto server with moodlectl's emulator patches, then moto's own `main()`.

Patches (all on moto's Python models, in this process):
- ElastiCache: a replication group being deleted disappears once its
  deletion time has passed (moto keeps it in `deleting` forever; AWS removes it).
- ElastiCache: `DeleteCacheSubnetGroup`, which moto lacks (HTTP 500), removes
  the group or answers CacheSubnetGroupNotFoundFault, as AWS does.
- EC2: deleting a NAT gateway releases its Elastic IP's association (moto
  keeps it, so the EIP could never be reused by a new NAT gateway).
- ECS: a service's deployment completes (tasks running = desired) once its
  deployment time has passed since create/update; moto never starts tasks.
- ECS: `CreateService` keeps capacityProviderStrategy, healthCheckGracePeriodSeconds,
  enableExecuteCommand, deploymentConfiguration and enableECSManagedTags (moto
  drops them on create; UpdateService already keeps them).

Latency mode (MOODLECTL_EMU_SCALE > 0): the create/delete transitions of
shared/spec/latency.md, each duration times the scale — NAT gateways and
interface endpoints (pending, deleting), RDS instances (creating, modifying,
deleting: still visible while deleting), replication groups (creating,
deleting), EFS file systems and mount targets (creating), ALBs
(provisioning), CloudFront distributions (InProgress on create and every
update, via moto's own state manager), ECS services (deployment; DRAINING
before INACTIVE). Describe calls return the pending state until the scaled
time has passed.

Test switch: MOODLECTL_EMU_HIDE_PREFIX_LISTS=1 hides the AWS-managed prefix
lists (as in a region or partition without CloudFront's), for preflight tests.

Timings are the latency table's (shared/spec/latency.md) times
MOODLECTL_EMU_SCALE (default 0: immediate, the plain emulator).

Usage: moto_server.py [moto_server args, e.g. -H 127.0.0.1 -p 5000]
"""
import os
import sys
import time

# Certificates are ISSUED at once (moto otherwise waits 60 s); read at import.
os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")

from moto.core.responses import ActionResult, EmptyResult
from moto.elasticache import exceptions as elasticache_exceptions
from moto.elasticache import models as elasticache
from moto.elasticache import responses as elasticache_responses
from moto.ec2.models import nat_gateways as ec2_nat
from moto.ecs import models as ecs
from moto.ecs import responses as ecs_responses
from moto.server import main

SCALE = float(os.environ.get("MOODLECTL_EMU_SCALE", "0"))
REPLICATION_GROUP_DELETE_S = 300
ECS_DEPLOYMENT_S = 150

_rg_gone_at = {}


def _patch_elasticache():
    backend = elasticache.ElastiCacheBackend
    orig_delete = backend.delete_replication_group
    orig_describe = backend.describe_replication_groups

    def delete_replication_group(self, replication_group_id, retain_primary_cluster):
        rg = orig_delete(self, replication_group_id, retain_primary_cluster)
        _rg_gone_at[(id(self), replication_group_id)] = time.monotonic() + REPLICATION_GROUP_DELETE_S * SCALE
        return rg

    def describe_replication_groups(self, replication_group_id=None):
        now = time.monotonic()
        for (b, rid), t in list(_rg_gone_at.items()):
            if b == id(self) and now >= t:
                self.replication_groups.pop(rid, None)
                del _rg_gone_at[(b, rid)]
        return orig_describe(self, replication_group_id)

    backend.delete_replication_group = delete_replication_group
    backend.describe_replication_groups = describe_replication_groups

    def backend_delete_cache_subnet_group(self, cache_subnet_group_name):
        if cache_subnet_group_name not in self.cache_subnet_groups:
            raise elasticache_exceptions.CacheSubnetGroupNotFound(cache_subnet_group_name)
        del self.cache_subnet_groups[cache_subnet_group_name]

    def response_delete_cache_subnet_group(self):
        self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
        return EmptyResult()

    if not hasattr(backend, "delete_cache_subnet_group"):
        backend.delete_cache_subnet_group = backend_delete_cache_subnet_group
    if not hasattr(elasticache_responses.ElastiCacheResponse, "delete_cache_subnet_group"):
        elasticache_responses.ElastiCacheResponse.delete_cache_subnet_group = response_delete_cache_subnet_group


def _patch_ec2():
    backend = ec2_nat.NatGatewayBackend
    orig_delete = backend.delete_nat_gateway

    def delete_nat_gateway(self, nat_gateway_id):
        nat = orig_delete(self, nat_gateway_id)
        eni = getattr(nat, "_eni", None)
        for eip in list(getattr(self, "addresses", [])):
            if eni is not None and eip.eni is eni and eip.association_id:
                self.disassociate_address(association_id=eip.association_id)
        return nat

    backend.delete_nat_gateway = delete_nat_gateway


_svc_ready_at = {}


def _patch_ecs():
    backend = ecs.EC2ContainerServiceBackend
    orig_create = backend.create_service
    orig_update = backend.update_service
    orig_describe = backend.describe_services

    def create_service(self, *args, **kwargs):
        svc = orig_create(self, *args, **kwargs)
        _svc_ready_at[id(svc)] = time.monotonic() + ECS_DEPLOYMENT_S * SCALE
        return svc

    def update_service(self, *args, **kwargs):
        svc = orig_update(self, *args, **kwargs)
        _svc_ready_at[id(svc)] = time.monotonic() + ECS_DEPLOYMENT_S * SCALE
        for d in svc.deployments:
            if d.get("status") == "PRIMARY":
                d.update(rolloutState="IN_PROGRESS", taskDefinition=svc.task_definition, desiredCount=svc.desired_count)
        return svc

    def describe_services(self, cluster_str, service_names_or_arns):
        result, failures = orig_describe(self, cluster_str, service_names_or_arns)
        now = time.monotonic()
        for svc in result:
            if svc.status == "ACTIVE" and now >= _svc_ready_at.get(id(svc), 0):
                svc.running_count = svc.desired_count
                svc.pending_count = 0
                for d in svc.deployments:
                    if d.get("status") == "PRIMARY":
                        d.update(rolloutState="COMPLETED", runningCount=svc.desired_count, pendingCount=0, desiredCount=svc.desired_count)
        return result, failures

    backend.create_service = create_service
    backend.update_service = update_service
    backend.describe_services = describe_services

    handler = ecs_responses.EC2ContainerServiceResponse
    orig_handler = handler.create_service
    kept = {
        "capacityProviderStrategy": "capacity_provider_strategy",
        "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
        "enableExecuteCommand": "enable_execute_command",
        "deploymentConfiguration": "deployment_configuration",
        "enableECSManagedTags": "enable_ecs_managed_tags",
    }

    def create_service_handler(self):
        result = orig_handler(self)
        cluster = self._get_param("cluster", "default").split("/")[-1]
        svc = self.ecs_backend.services.get(f"{cluster}:{self._get_param('serviceName')}")
        if svc is not None:
            for param, attr in kept.items():
                value = self._get_param(param)
                if value is not None:
                    setattr(svc, attr, value)
        return result

    handler.create_service = create_service_handler


# --------------------------------------------------------------- latency mode

# Latency table (seconds, unscaled).
LATENCY = {
    "nat": (90, 60),
    "endpoint": (90, 60),
    "rds": (900, 420),
    "rds_modify": (600, 0),
    "redis": (600, 300),
    "efs": (5, 5),
    "mount_target": (80, 45),
    "alb": (150, 5),
    "cloudfront": (240, 5),
    "ecs": (150, 60),
}

# id(obj) -> (obj, attribute, final value, monotonic deadline)
_timeline = {}
# (container, key) -> deadline: objects kept visible while "deleting"
_gone_later = {}


def _pending(obj, attr, pending, final, seconds):
    setattr(obj, attr, pending)
    _timeline[id(obj)] = (obj, attr, final, time.monotonic() + seconds * SCALE)


def _advance():
    now = time.monotonic()
    for k, (obj, attr, final, t) in list(_timeline.items()):
        if now >= t:
            setattr(obj, attr, final)
            del _timeline[k]
    for (container_id, key), (container, t) in list(_gone_later.items()):
        if now >= t:
            container.pop(key, None)
            del _gone_later[(container_id, key)]


def _wrap(cls, name, after):
    orig = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        result = orig(self, *args, **kwargs)
        after(self, result, *args, **kwargs)
        return result

    setattr(cls, name, wrapper)


def _patch_latency():
    from moto.core.responses import BaseResponse
    from moto.ec2.models import vpcs as ec2_vpcs
    from moto.efs import models as efs
    from moto.elbv2 import models as elbv2
    from moto.moto_api import state_manager
    from moto.rds import models as rds

    orig_call = BaseResponse.call_action

    def call_action(self):
        _advance()
        return orig_call(self)

    BaseResponse.call_action = call_action

    # Each transition reads its own LATENCY entry (no shared loop variables:
    # closures would all see the last value).
    _wrap(ec2_nat.NatGatewayBackend, "create_nat_gateway", lambda b, nat, *a, **k: _pending(nat, "state", "pending", "available", LATENCY["nat"][0]))
    _wrap(ec2_nat.NatGatewayBackend, "delete_nat_gateway", lambda b, nat, *a, **k: _pending(nat, "state", "deleting", "deleted", LATENCY["nat"][1]))

    def endpoint_created(b, ep, *a, **k):
        if str(getattr(ep, "vpc_endpoint_type", "")).lower() == "interface":
            _pending(ep, "state", "pending", "available", LATENCY["endpoint"][0])

    def endpoints_deleted(b, _result, vpce_ids=None, *a, **k):
        for i in vpce_ids or []:
            ep = b.vpc_end_points.get(i)
            if ep is not None and str(getattr(ep, "vpc_endpoint_type", "")).lower() == "interface":
                _pending(ep, "state", "deleting", "deleted", LATENCY["endpoint"][1])

    _wrap(ec2_vpcs.VPCBackend, "create_vpc_endpoint", endpoint_created)
    _wrap(ec2_vpcs.VPCBackend, "delete_vpc_endpoints", endpoints_deleted)

    _wrap(rds.RDSBackend, "create_db_instance", lambda b, db, *a, **k: _pending(db, "status", "creating", "available", LATENCY["rds"][0]))

    def db_modified(b, db, *a, **k):
        _pending(db, "status", "modifying", "available", LATENCY["rds_modify"][0])

    _wrap(rds.RDSBackend, "modify_db_instance", db_modified)
    orig_delete_db = rds.RDSBackend.delete_db_instance

    def delete_db_instance(self, db_instance_identifier, *args, **kwargs):
        db = orig_delete_db(self, db_instance_identifier, *args, **kwargs)
        # AWS keeps the instance visible, "deleting", until it is gone.
        self.databases[db_instance_identifier] = db
        db.status = "deleting"
        _gone_later[(id(self.databases), db_instance_identifier)] = (self.databases, time.monotonic() + LATENCY["rds"][1] * SCALE)
        return db

    rds.RDSBackend.delete_db_instance = delete_db_instance

    _wrap(elasticache.ElastiCacheBackend, "create_replication_group", lambda b, rg, *a, **k: _pending(rg, "status", "creating", "available", LATENCY["redis"][0]))

    _wrap(efs.EFSBackend, "create_file_system", lambda b, fs, *a, **k: _pending(fs, "life_cycle_state", "creating", "available", LATENCY["efs"][0]))
    _wrap(efs.EFSBackend, "create_mount_target", lambda b, mt, *a, **k: _pending(mt, "life_cycle_state", "creating", "available", LATENCY["mount_target"][0]))

    _wrap(elbv2.ELBv2Backend, "create_load_balancer", lambda b, lb, *a, **k: _pending(lb, "state", "provisioning", "active", LATENCY["alb"][0]))

    # CloudFront distributions already are moto ManagedState models.
    state_manager.set_transition(model_name="cloudfront::distribution", transition={"progression": "time", "seconds": LATENCY["cloudfront"][0] * SCALE})

    _wrap(ecs.EC2ContainerServiceBackend, "delete_service", lambda b, svc, *a, **k: _pending(svc, "status", "DRAINING", "INACTIVE", LATENCY["ecs"][1]))


def _patch_prefix_lists():
    from moto.ec2.models import managed_prefixes

    backend = managed_prefixes.ManagedPrefixListBackend
    orig = backend.describe_managed_prefix_lists

    def describe_managed_prefix_lists(self, *args, **kwargs):
        return [p for p in orig(self, *args, **kwargs) if getattr(p, "owner_id", "") != "AWS"]

    backend.describe_managed_prefix_lists = describe_managed_prefix_lists


_patch_elasticache()
_patch_ec2()
_patch_ecs()
if SCALE > 0:
    _patch_latency()
if os.environ.get("MOODLECTL_EMU_HIDE_PREFIX_LISTS") == "1":
    _patch_prefix_lists()

if __name__ == "__main__":
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    sys.exit(main(sys.argv[1:]))
