"""Fidelity: where moto answers differently from AWS for calls this stack
makes, the AWS behaviour, each patch naming the gap it closes.

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
- CloudFront: every UpdateDistribution (disable included) puts the
  distribution back InProgress until it is deployed again, and
  DeleteDistribution answers DistributionNotDisabled (HTTP 409) unless the
  distribution is disabled and Deployed, as AWS does (moto accepts any update
  as already deployed and deletes an enabled distribution).
- ACM: certificates are ISSUED at once (moto waits 60 s; the emulator's
  certificates are requested by scripts/emulator_prereqs.py).
- Test switch MOODLECTL_EMU_HIDE_PREFIX_LISTS=1: the AWS-managed prefix lists
  are hidden (a region or partition without CloudFront's), for preflight tests.
"""
import time

from moto.core.responses import EmptyResult
from moto.ec2.models import nat_gateways as ec2_nat
from moto.ecs import models as ecs
from moto.ecs import responses as ecs_responses
from moto.elasticache import exceptions as elasticache_exceptions
from moto.elasticache import models as elasticache
from moto.elasticache import responses as elasticache_responses

from emu.clock import SCALE

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


def _patch_cloudfront():
    from datetime import datetime

    from moto.cloudfront import exceptions as cf_exceptions
    from moto.cloudfront import models as cf

    class DistributionNotDisabled(cf_exceptions.CloudFrontException):
        def __init__(self):
            super().__init__(
                "DistributionNotDisabled",
                "The distribution you are trying to delete has not been disabled.",
            )

    backend = cf.CloudFrontBackend
    orig_update = backend.update_distribution
    orig_delete = backend.delete_distribution

    def update_distribution(self, dist_config, _id, if_match):
        dist, location, etag = orig_update(self, dist_config, _id, if_match)
        # A new config is deployed again from the start: InProgress, then
        # Deployed after the transition's time (or its one describe call on
        # the plain emulator).
        dist.status = "InProgress"
        dist._tick = 0
        dist._time_progressed = datetime.now()
        return dist, location, etag

    def delete_distribution(self, distribution_id, if_match):
        dist = self.distributions.get(distribution_id)
        if dist is not None and if_match and (getattr(dist.distribution_config, "Enabled", False) or dist.status != "Deployed"):
            raise DistributionNotDisabled()
        return orig_delete(self, distribution_id, if_match)

    backend.update_distribution = update_distribution
    backend.delete_distribution = delete_distribution



def _patch_prefix_lists():
    from moto.ec2.models import managed_prefixes

    backend = managed_prefixes.ManagedPrefixListBackend
    orig = backend.describe_managed_prefix_lists

    def describe_managed_prefix_lists(self, *args, **kwargs):
        return [p for p in orig(self, *args, **kwargs) if getattr(p, "owner_id", "") != "AWS"]

    backend.describe_managed_prefix_lists = describe_managed_prefix_lists



def install(hide_prefix_lists=False):
    _patch_elasticache()
    _patch_ec2()
    _patch_ecs()
    _patch_cloudfront()
    if hide_prefix_lists:
        _patch_prefix_lists()
