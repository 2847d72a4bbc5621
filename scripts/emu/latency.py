"""Latency: the create/delete transitions of shared/spec/latency.md, each
duration times MOODLECTL_EMU_SCALE — NAT gateways and interface endpoints
(pending, deleting), RDS instances (creating, modifying, deleting: still
visible while deleting), replication groups (creating, deleting), EFS file
systems and mount targets (creating, deleting), ALBs (provisioning),
CloudFront distributions (InProgress on create and every update, disable
included: moto's own state manager, timed, plus the fidelity patch), ECS
services (deployment; DRAINING before INACTIVE). Describe calls return the
pending state until the scaled time has passed. ALB and CloudFront deletions
(5 s in the table) complete at once here; the benchmark's "best" still counts
them. moto has every resource ready at once and every deletion instant.
"""
import time

from moto.ec2.models import nat_gateways as ec2_nat
from moto.ecs import models as ecs
from moto.elasticache import models as elasticache

from emu.clock import LATENCY, LATER, GONE_LATER, SCALE, advance, pending, wrap


def install():
    from moto.core.responses import BaseResponse
    from moto.ec2.models import vpcs as ec2_vpcs
    from moto.efs import models as efs
    from moto.elbv2 import models as elbv2
    from moto.moto_api import state_manager
    from moto.rds import models as rds

    orig_call = BaseResponse.call_action

    def call_action(self):
        advance()
        return orig_call(self)

    BaseResponse.call_action = call_action

    # Each transition reads its own LATENCY entry (no shared loop variables:
    # closures would all see the last value).
    wrap(ec2_nat.NatGatewayBackend, "create_nat_gateway", lambda b, nat, *a, **k: pending(nat, "state", "pending", "available", LATENCY["nat"][0]))
    wrap(ec2_nat.NatGatewayBackend, "delete_nat_gateway", lambda b, nat, *a, **k: pending(nat, "state", "deleting", "deleted", LATENCY["nat"][1]))

    def endpoint_created(b, ep, *a, **k):
        if str(getattr(ep, "vpc_endpoint_type", "")).lower() == "interface":
            pending(ep, "state", "pending", "available", LATENCY["endpoint"][0])

    def endpoints_deleted(b, _result, vpce_ids=None, *a, **k):
        for i in vpce_ids or []:
            ep = b.vpc_end_points.get(i)
            if ep is not None and str(getattr(ep, "vpc_endpoint_type", "")).lower() == "interface":
                pending(ep, "state", "deleting", "deleted", LATENCY["endpoint"][1])

    wrap(ec2_vpcs.VPCBackend, "create_vpc_endpoint", endpoint_created)
    wrap(ec2_vpcs.VPCBackend, "delete_vpc_endpoints", endpoints_deleted)

    wrap(rds.RDSBackend, "create_db_instance", lambda b, db, *a, **k: pending(db, "status", "creating", "available", LATENCY["rds"][0]))

    def db_modified(b, db, *a, **k):
        pending(db, "status", "modifying", "available", LATENCY["rds_modify"][0])

    wrap(rds.RDSBackend, "modify_db_instance", db_modified)
    orig_delete_db = rds.RDSBackend.delete_db_instance

    def delete_db_instance(self, db_instance_identifier, *args, **kwargs):
        db = orig_delete_db(self, db_instance_identifier, *args, **kwargs)
        # AWS keeps the instance visible, "deleting", until it is gone.
        self.databases[db_instance_identifier] = db
        db.status = "deleting"
        GONE_LATER[(id(self.databases), db_instance_identifier)] = (self.databases, time.monotonic() + LATENCY["rds"][1] * SCALE)
        return db

    rds.RDSBackend.delete_db_instance = delete_db_instance

    wrap(elasticache.ElastiCacheBackend, "create_replication_group", lambda b, rg, *a, **k: pending(rg, "status", "creating", "available", LATENCY["redis"][0]))

    wrap(efs.EFSBackend, "create_file_system", lambda b, fs, *a, **k: pending(fs, "life_cycle_state", "creating", "available", LATENCY["efs"][0]))
    wrap(efs.EFSBackend, "create_mount_target", lambda b, mt, *a, **k: pending(mt, "life_cycle_state", "creating", "available", LATENCY["mount_target"][0]))

    # EFS: a mount target stays "deleting" (its ENI still holding the subnet)
    # and the file system stays "in use" until then; a deleted file system
    # stays visible, "deleting", for its own time.
    orig_delete_mt = efs.EFSBackend.delete_mount_target
    orig_delete_fs = efs.EFSBackend.delete_file_system

    def delete_mount_target(self, mount_target_id):
        mt = self.mount_targets_by_id.get(mount_target_id)
        if mt is None or mt.life_cycle_state == "deleting":
            return orig_delete_mt(self, mount_target_id) if mt is None else None
        mt.life_cycle_state = "deleting"
        LATER.append((time.monotonic() + LATENCY["mount_target"][1] * SCALE, lambda: orig_delete_mt(self, mount_target_id)))

    def delete_file_system(self, file_system_id):
        fs = self.file_systems_by_id.get(file_system_id)
        if fs is None or fs.number_of_mount_targets > 0 or fs.life_cycle_state == "deleting":
            # moto's own answers: FileSystemNotFound / FileSystemInUse; a repeat is a no-op.
            return None if fs is not None and fs.life_cycle_state == "deleting" else orig_delete_fs(self, file_system_id)
        fs.life_cycle_state = "deleting"
        LATER.append((time.monotonic() + LATENCY["efs"][1] * SCALE, lambda: orig_delete_fs(self, file_system_id)))

    efs.EFSBackend.delete_mount_target = delete_mount_target
    efs.EFSBackend.delete_file_system = delete_file_system

    wrap(elbv2.ELBv2Backend, "create_load_balancer", lambda b, lb, *a, **k: pending(lb, "state", "provisioning", "active", LATENCY["alb"][0]))

    # CloudFront distributions already are moto ManagedState models.
    state_manager.set_transition(model_name="cloudfront::distribution", transition={"progression": "time", "seconds": LATENCY["cloudfront"][0] * SCALE})

    wrap(ecs.EC2ContainerServiceBackend, "delete_service", lambda b, svc, *a, **k: pending(svc, "status", "DRAINING", "INACTIVE", LATENCY["ecs"][1]))

