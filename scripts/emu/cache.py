"""ElastiCache replication groups as AWS sizes them (issue 18's profiles):

- `CreateReplicationGroup` with `NumCacheClusters=N` (cluster mode disabled)
  makes N nodes, a primary and N-1 replicas (moto makes one unless
  `ReplicasPerNodeGroup` is given).
- AWS refuses `AutomaticFailoverEnabled` on a group of fewer than 2 nodes,
  and `MultiAZEnabled` without automatic failover (InvalidParameterCombination),
  at create and in `ModifyReplicationGroup` alike.
- `IncreaseReplicaCount` / `DecreaseReplicaCount` (moto lacks both) change
  the replicas of a cluster-mode-disabled group; `ApplyImmediately` must be
  true, a group keeps 0-5 replicas, and a group with automatic failover on
  cannot drop to 0 replicas.
"""
from moto.core.responses import ActionResult
from moto.elasticache import models as ec_models
from moto.elasticache import responses as ec_responses
from moto.elasticache.exceptions import (
    InvalidParameterCombinationException as Combination,
    InvalidParameterValueException as BadValue,
    ReplicationGroupNotFound,
)


def _check_failover(nodes, failover, multi_az):
    if failover and nodes < 2:
        raise Combination("Automatic failover is not supported for a replication group with fewer than 2 cache clusters.")
    if multi_az and not failover:
        raise Combination("Multi-AZ requires automatic failover to be enabled.")


def _replica(rg, n):
    """Node `n` (1-based) of group `rg`, a replica, as moto models members."""
    group = rg.node_groups[0]
    primary = group["node_group_members"][0]
    domain = primary["read_endpoint"]["address"].split(".", 1)[1]
    node = {
        "cache_cluster_id": f"{rg.replication_group_id}-{n:0>3}",
        "cache_node_id": group["node_group_id"],
        "read_endpoint": {"address": f"{rg.replication_group_id}-{n:0>3}.{domain}", "port": rg.port},
        "preferred_availability_zone": primary.get("preferred_availability_zone", "us-east-1a"),
        "current_role": "replica",
    }
    return node


def _set_replicas(rg, replicas):
    group = rg.node_groups[0]
    members = group["node_group_members"]
    while len(members) - 1 < replicas:
        node = _replica(rg, len(members) + 1)
        members.append(node)
        rg.member_clusters.append(node["cache_cluster_id"])
    while len(members) - 1 > replicas:
        node = members.pop()
        rg.member_clusters.remove(node["cache_cluster_id"])


def install():
    rg_class = ec_models.ReplicationGroup
    orig_members = rg_class._set_node_members_clusters_disabled

    def members(self, *a, **k):
        if not k.get("replicas_per_node_group") and (k.get("num_cache_clusters") or 1) > 1:
            k["replicas_per_node_group"] = k["num_cache_clusters"] - 1
        return orig_members(self, *a, **k)

    rg_class._set_node_members_clusters_disabled = members

    backend = ec_models.ElastiCacheBackend
    orig_create = backend.create_replication_group
    orig_modify = backend.modify_replication_group

    def create_replication_group(self, *a, **k):
        nodes = k.get("num_cache_clusters") or ((k.get("replicas_per_node_group") or 0) + 1)
        _check_failover(nodes, bool(k.get("automatic_failover_enabled")), bool(k.get("multi_az_enabled")))
        return orig_create(self, *a, **k)

    def modify_replication_group(self, replication_group_id, *a, **k):
        rg = self.replication_groups.get(replication_group_id)
        if rg is None:
            raise ReplicationGroupNotFound(replication_group_id)
        failover = k.get("automatic_failover_enabled")
        multi_az = k.get("multi_az_enabled")
        failover = (rg.automatic_failover == "enabled") if failover is None else failover
        multi_az = (rg.multi_az == "enabled") if multi_az is None else multi_az
        _check_failover(len(rg.member_clusters), failover, multi_az)
        return orig_modify(self, replication_group_id, *a, **k)

    backend.create_replication_group = create_replication_group
    backend.modify_replication_group = modify_replication_group

    def change_replicas(grow):
        def handler(self):
            rg_id = self._get_param("ReplicationGroupId")
            rg = self.elasticache_backend.replication_groups.get(rg_id)
            if rg is None:
                raise ReplicationGroupNotFound(rg_id)
            if not self._get_bool_param("ApplyImmediately"):
                raise BadValue("ApplyImmediately must be true for a change of the replica count.")
            want = self._get_int_param("NewReplicaCount")
            have = len(rg.member_clusters) - 1
            if want is None or not 0 <= want <= 5:
                raise BadValue("NewReplicaCount must be between 0 and 5.")
            if grow and want <= have or not grow and want >= have:
                raise BadValue(f"NewReplicaCount {want} must be {'more' if grow else 'fewer'} than the current {have}.")
            if want == 0 and rg.automatic_failover == "enabled":
                raise Combination("Cannot remove every replica while automatic failover is enabled.")
            _set_replicas(rg, want)
            return ActionResult({"ReplicationGroup": rg})

        return handler

    ec_responses.ElastiCacheResponse.increase_replica_count = change_replicas(True)
    ec_responses.ElastiCacheResponse.decrease_replica_count = change_replicas(False)
