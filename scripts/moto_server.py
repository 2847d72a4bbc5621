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
- CloudFront: every UpdateDistribution (disable included) puts the
  distribution back InProgress until it is deployed again, and
  DeleteDistribution answers DistributionNotDisabled (HTTP 409) unless the
  distribution is disabled and Deployed, as AWS does (moto accepts any update
  as already deployed and deletes an enabled distribution).
- ECS: `CreateService` keeps capacityProviderStrategy, healthCheckGracePeriodSeconds,
  enableExecuteCommand, deploymentConfiguration and enableECSManagedTags (moto
  drops them on create; UpdateService already keeps them).

Latency mode (MOODLECTL_EMU_SCALE > 0): the create/delete transitions of
shared/spec/latency.md, each duration times the scale — NAT gateways and
interface endpoints (pending, deleting), RDS instances (creating, modifying,
deleting: still visible while deleting), replication groups (creating,
deleting), EFS file systems and mount targets (creating, deleting), ALBs
(provisioning), CloudFront distributions (InProgress on create and every
update, disable included: moto's own state manager, timed, plus the update
patch above), ECS services (deployment; DRAINING before INACTIVE). Describe calls return the pending state until the scaled
time has passed. ALB and CloudFront deletions (5 s in the table) complete at
once here; the benchmark's "best" still counts them.

Speed: two per-request lookups moto repeats are cached and its CORS headers
cut (answers unchanged); latency mode also drops the per-request log line and
loads every service's model before serving, so timed runs measure moodlectl.

Test switch: MOODLECTL_EMU_HIDE_PREFIX_LISTS=1 hides the AWS-managed prefix
lists (as in a region or partition without CloudFront's), for preflight tests.

Fault mode (MOODLECTL_EMU_FAULTS = a fraction, e.g. 0.2): that fraction of
moodlectl's requests (User-Agent `app/moodlectl`; other clients, such as a
test's independent checks, pass untouched) fails before it reaches moto, as
AWS fails requests under load: throttling in each protocol's own words
(EC2 `RequestLimitExceeded`, query `Throttling`, JSON `ThrottlingException`,
S3 `SlowDown`), HTTP 500 `InternalError`, HTTP 503 `ServiceUnavailable`, or a
timeout (the request is held for MOODLECTL_EMU_FAULT_HOLD_S, default 5 s,
and dropped). The draw comes from random.Random(MOODLECTL_EMU_SEED, default
1): one fixed sequence of decisions. MOODLECTL_EMU_FAULT_KINDS limits the
kinds (comma list of throttle,500,503,timeout). A rejected request never
takes effect, so a retry is safe even for calls without idempotency tokens.
`GET /moodlectl-emu/faults` returns the counts injected per kind;
`POST /moodlectl-emu/faults?rate=R` changes the fraction.

Timings are the latency table's (shared/spec/latency.md) times
MOODLECTL_EMU_SCALE (default 0: immediate, the plain emulator).

Usage: moto_server.py [moto_server args, e.g. -H 127.0.0.1 -p 5000]
"""
import json
import os
import random
import sys
import threading
import time
from urllib.parse import parse_qs

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


# (deadline, function): deletions that complete later (run once, in order).
_later = []
_advance_lock = threading.Lock()


def _advance():
    now = time.monotonic()
    # moto serves requests on several threads: one of them advances the clock.
    with _advance_lock:
        for k, (obj, attr, final, t) in list(_timeline.items()):
            if now >= t:
                setattr(obj, attr, final)
                del _timeline[k]
        for (container_id, key), (container, t) in list(_gone_later.items()):
            if now >= t:
                container.pop(key, None)
                del _gone_later[(container_id, key)]
        due = [job for job in _later if job[0] <= now]
        for job in due:
            _later.remove(job)
            try:
                job[1]()
            except Exception:  # already gone by another route: nothing to finish
                pass


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
        _later.append((time.monotonic() + LATENCY["mount_target"][1] * SCALE, lambda: orig_delete_mt(self, mount_target_id)))

    def delete_file_system(self, file_system_id):
        fs = self.file_systems_by_id.get(file_system_id)
        if fs is None or fs.number_of_mount_targets > 0 or fs.life_cycle_state == "deleting":
            # moto's own answers: FileSystemNotFound / FileSystemInUse; a repeat is a no-op.
            return None if fs is not None and fs.life_cycle_state == "deleting" else orig_delete_fs(self, file_system_id)
        fs.life_cycle_state = "deleting"
        _later.append((time.monotonic() + LATENCY["efs"][1] * SCALE, lambda: orig_delete_fs(self, file_system_id)))

    efs.EFSBackend.delete_mount_target = delete_mount_target
    efs.EFSBackend.delete_file_system = delete_file_system

    _wrap(elbv2.ELBv2Backend, "create_load_balancer", lambda b, lb, *a, **k: _pending(lb, "state", "provisioning", "active", LATENCY["alb"][0]))

    # CloudFront distributions already are moto ManagedState models.
    state_manager.set_transition(model_name="cloudfront::distribution", transition={"progression": "time", "seconds": LATENCY["cloudfront"][0] * SCALE})

    _wrap(ecs.EC2ContainerServiceBackend, "delete_service", lambda b, svc, *a, **k: _pending(svc, "status", "DRAINING", "INACTIVE", LATENCY["ecs"][1]))


# Services moodlectl calls (botocore names).
SERVICES = (
    "acm", "application-autoscaling", "cloudfront", "cloudtrail", "ec2", "ecr", "ecs", "efs",
    "elasticache", "elbv2", "iam", "logs", "rds", "s3", "secretsmanager", "service-quotas",
    "sns", "sts", "wafv2",
)


def _trim_overheads():
    """moto repeats two lookups for every request although their answers
    never change (a directory listing of its modules, under the dispatcher's
    global lock; the method names of the service's response class, by
    introspection) and adds CORS headers to every response: together a good
    part of its time per request. Cached and cut here, which changes no
    answer."""
    import functools

    from moto import backends as moto_backends
    from moto.core import responses as moto_responses
    from moto.moto_server import werkzeug_app

    werkzeug_app.CORS = lambda app, *args, **kwargs: app
    modules = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: modules
    moto_responses.method_names_from_class = functools.cache(moto_responses.method_names_from_class)


def _warm_up():
    """Latency mode times moodlectl against the latency table, so moto's
    costs that AWS does not have are moved out of the timed runs: a log line
    for every request, and loading each service's model on its first request
    (hundreds of ms for EC2's or S3's)."""
    import logging

    from moto.core import utils as moto_utils

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for service in SERVICES:
        moto_utils.get_service_model(service)
        try:
            moto_utils.get_pagination_model(service)
        except Exception:  # a service without paginators
            pass


def _patch_prefix_lists():
    from moto.ec2.models import managed_prefixes

    backend = managed_prefixes.ManagedPrefixListBackend
    orig = backend.describe_managed_prefix_lists

    def describe_managed_prefix_lists(self, *args, **kwargs):
        return [p for p in orig(self, *args, **kwargs) if getattr(p, "owner_id", "") != "AWS"]

    backend.describe_managed_prefix_lists = describe_managed_prefix_lists


class Faults:
    """WSGI middleware in front of moto: see "Fault mode" above."""

    KINDS = ("throttle", "500", "503", "timeout")
    # Query-protocol services whose errors are <ErrorResponse> documents.
    QUERY = {"rds", "elasticache", "iam", "sns", "elasticloadbalancing", "sts", "cloudformation", "autoscaling", "monitoring"}

    def __init__(self, app, rate, seed, kinds, hold):
        self.app, self.rate, self.hold = app, rate, hold
        self.kinds = kinds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {k: 0 for k in self.KINDS}
        self.seen = 0

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/moodlectl-emu/faults":
            return self.control(environ, start_response)
        ua = environ.get("HTTP_USER_AGENT", "") + " " + environ.get("HTTP_X_AMZ_USER_AGENT", "")
        if path.startswith("/moto-api") or "app/moodlectl" not in ua:
            return self.app(environ, start_response)
        with self.lock:
            self.seen += 1
            kind = self.rng.choice(self.kinds) if self.rng.random() < self.rate else None
            if kind:
                self.counts[kind] += 1
        if kind is None:
            return self.app(environ, start_response)
        # Drain the body so the connection stays usable for the next request.
        n = int(environ.get("CONTENT_LENGTH") or 0)
        if n:
            environ["wsgi.input"].read(n)
        if kind == "timeout":
            time.sleep(self.hold)
            kind = "503"
        return self.error(environ, start_response, kind)

    def control(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            q = parse_qs(environ.get("QUERY_STRING", ""))
            with self.lock:
                self.rate = float(q.get("rate", [self.rate])[0])
        with self.lock:
            body = json.dumps({"rate": self.rate, "requests": self.seen, "injected": dict(self.counts)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def error(self, environ, start_response, kind):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        # Credential=AKID/date/region/SERVICE/aws4_request
        service = auth.split("Credential=")[-1].split("/")[3] if "Credential=" in auth else ""
        status, code, msg = {
            "500": ("500 Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
            "503": ("503 Service Unavailable", "ServiceUnavailable", "Service is unavailable. Please try again."),
        }.get(kind, ("400 Bad Request", "Throttling", "Rate exceeded"))
        headers = []
        if environ.get("HTTP_X_AMZ_TARGET") or service in ("elasticfilesystem",):
            if kind == "throttle":
                code = "ThrottlingException"
                if service == "elasticfilesystem":
                    status = "429 Too Many Requests"
            body = json.dumps({"__type": code, "message": msg})
            headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        elif service == "ec2":
            if kind == "throttle":
                status, code, msg = "503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."
            body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors><RequestID>fault</RequestID></Response>'
        elif service == "s3":
            if kind == "throttle":
                status, code, msg = "503 Slow Down", "SlowDown", "Please reduce your request rate."
            body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{msg}</Message><RequestId>fault</RequestId></Error>'
        else:
            body = f'<ErrorResponse><Error><Type>{"Sender" if kind == "throttle" else "Receiver"}</Type><Code>{code}</Code><Message>{msg}</Message></Error><RequestId>fault</RequestId></ErrorResponse>'
            headers = [("Content-Type", "text/xml")]
        data = body.encode()
        start_response(status, headers + [("Content-Length", str(len(data)))])
        return [data]


def _install_faults():
    import moto.server as server

    rate = float(os.environ.get("MOODLECTL_EMU_FAULTS", "0") or 0)
    seed = int(os.environ.get("MOODLECTL_EMU_SEED", "1"))
    kinds = tuple(k for k in os.environ.get("MOODLECTL_EMU_FAULT_KINDS", ",".join(Faults.KINDS)).split(",") if k)
    unknown = set(kinds) - set(Faults.KINDS)
    if unknown:
        sys.exit(f"MOODLECTL_EMU_FAULT_KINDS: unknown {sorted(unknown)}; known: {Faults.KINDS}")
    hold = float(os.environ.get("MOODLECTL_EMU_FAULT_HOLD_S", "5"))
    orig = server.run_simple

    def run_simple(host, port, app, **kw):
        return orig(host, port, Faults(app, rate, seed, kinds, hold), **kw)

    server.run_simple = run_simple


_patch_elasticache()
_patch_ec2()
_patch_ecs()
_patch_cloudfront()
_trim_overheads()
if SCALE > 0:
    _patch_latency()
    _warm_up()
if os.environ.get("MOODLECTL_EMU_HIDE_PREFIX_LISTS") == "1":
    _patch_prefix_lists()

if __name__ == "__main__":
    _install_faults()
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    sys.exit(main(sys.argv[1:]))
