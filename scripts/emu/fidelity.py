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
- CloudFront: a distribution whose standard logging names a bucket that
  does not exist or has ACLs disabled (S3 Object Ownership
  `BucketOwnerEnforced`, the default of every bucket created since April
  2023) is refused with InvalidArgument, as AWS does — CloudFront delivers
  standard logs through an ACL grant (its developer guide: "Your bucket must
  have access control list (ACL) enabled"); moto accepts any bucket name.
- KMS: `ScheduleKeyDeletion`/`CancelKeyDeletion` take a key ARN as well as
  an ID (moto: HTTP 500 on an ARN).
- Secrets Manager: `LastAccessedDate` is the day of the last GetSecretValue
  (the ECS agent's at a task launch included); moto answers null.
- ACM: certificates are ISSUED at once (moto waits 60 s; the emulator's
  certificates are requested by scripts/emulator_prereqs.py).
- EC2: `CreateNatGateway` and `CreateVpcEndpoint` are idempotent on their
  ClientToken: a token used before returns the resource it created, even
  once deleted, as AWS does (moto creates a new one each time).
- EC2: `DeleteVpc` answers DependencyViolation while a security group other
  than the default is left in it, as AWS does (moto deletes it regardless;
  `DeleteSubnet`'s dependencies are `enis`'s).
- S3: bucket policies are evaluated with `aws:SecureTransport` true, and the
  `Bool` condition operator is evaluated (moto ignores operators it lacks,
  which makes every conditional Deny apply). AWS's endpoints are HTTPS; the
  emulator speaks plain HTTP on loopback, and the trail bucket's TLS-only
  Deny would otherwise refuse every object call.
- ECS: `ListTaskDefinitions` answers in pages of `maxResults` (default 100)
  with a `nextToken`, as AWS does (moto returns everything at once, so a
  caller reading one page looks correct).
- SNS: an e-mail subscription is "PendingConfirmation" (that is its
  SubscriptionArn in ListSubscriptions*) until `ConfirmSubscription` for its
  topic — the click on the link AWS mails; moto confirms every subscription
  at once. Any token confirms (the emulator mails nothing).
- RDS: a renamed Aurora cluster keeps its member instances (moto leaves
  them naming the old identifier).
- Test switch MOODLECTL_EMU_HIDE_PREFIX_LISTS=1: the AWS-managed prefix lists
  are hidden (a region or partition without CloudFront's), for preflight tests.
"""
import datetime
import json
import time

from moto.core.responses import ActionResult, EmptyResult
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

    class LogBucketRefused(cf_exceptions.CloudFrontException):
        def __init__(self, why, bucket):
            super().__init__("InvalidArgument", f"The S3 bucket that you specified for CloudFront logs {why}: {bucket}")

    def check_log_bucket(account_id, dist_config):
        logging = (dist_config or {}).get("Logging") or {}
        if str(logging.get("Enabled", "")).lower() != "true" or not logging.get("Bucket"):
            return
        from moto.s3.models import s3_backends

        domain = logging["Bucket"]
        bucket = s3_backends[account_id]["aws"].buckets.get(domain.split(".s3.", 1)[0])
        if bucket is None:
            raise LogBucketRefused("does not exist", domain)
        # No ownership controls on a bucket reads as AWS's default since
        # April 2023: BucketOwnerEnforced.
        if (bucket.ownership_rule or "BucketOwnerEnforced") == "BucketOwnerEnforced":
            raise LogBucketRefused("doesn't enable ACL access", domain)

    backend = cf.CloudFrontBackend
    orig_create = backend.create_distribution_with_tags
    orig_update = backend.update_distribution
    orig_delete = backend.delete_distribution

    def create_distribution_with_tags(self, distribution_config, tags):
        check_log_bucket(self.account_id, distribution_config)
        return orig_create(self, distribution_config, tags)

    def update_distribution(self, dist_config, _id, if_match):
        check_log_bucket(self.account_id, dist_config)
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

    backend.create_distribution_with_tags = create_distribution_with_tags
    backend.update_distribution = update_distribution
    backend.delete_distribution = delete_distribution



def _patch_prefix_lists():
    from moto.ec2.models import managed_prefixes

    backend = managed_prefixes.ManagedPrefixListBackend
    orig = backend.describe_managed_prefix_lists

    def describe_managed_prefix_lists(self, *args, **kwargs):
        return [p for p in orig(self, *args, **kwargs) if getattr(p, "owner_id", "") != "AWS"]

    backend.describe_managed_prefix_lists = describe_managed_prefix_lists



_client_tokens = {}


def _patch_ec2_tokens():
    from moto.ec2.responses.nat_gateways import NatGateways
    from moto.ec2.responses.vpcs import VPCs

    def idempotent(cls, name, key, store):
        orig = getattr(cls, name)

        def handler(self):
            token = self._get_param("ClientToken")
            ident = (self.current_account, self.region, name, token)
            if token and ident in _client_tokens:
                found = store(self.ec2_backend).get(_client_tokens[ident])
                if found is not None:
                    return ActionResult({key: found, "ClientToken": token})
            result = orig(self)
            if token:
                _client_tokens[ident] = result.result[key].id
            return result

        setattr(cls, name, handler)

    idempotent(NatGateways, "create_nat_gateway", "NatGateway", lambda b: b.nat_gateways)
    idempotent(VPCs, "create_vpc_endpoint", "VpcEndpoint", lambda b: b.vpc_end_points)


def _patch_ec2_dependencies():
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models.vpcs import VPCBackend

    orig_vpc = VPCBackend.delete_vpc

    def delete_vpc(self, vpc_id):
        left = [g for g in self.groups.get(vpc_id, {}).values() if g.name != "default"]
        if left:
            raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
        return orig_vpc(self, vpc_id)

    VPCBackend.delete_vpc = delete_vpc


def _patch_s3_tls():
    from moto.iam import policy_conditions
    from moto.s3.models import FakeBucket

    def bool_operation(expected, actual):
        wanted = expected if isinstance(expected, list) else [expected]
        return str(actual).lower() in [str(w).lower() for w in wanted]

    policy_conditions.CONDITION_OPERATIONS["Bool"] = bool_operation

    def get_permission(self, action, resource):
        # moto's statement check answers DENIED when a condition does not
        # hold, even for an Allow; in a bucket policy such a statement simply
        # does not apply (AWS's policy evaluation logic).
        from moto.iam.access_control import IAMPolicyStatement, PermissionResult

        if self.policy is None:
            return PermissionResult.NEUTRAL
        context = {"aws:SecureTransport": "true"}
        statements = json.loads(self.policy.decode()).get("Statement", [])
        permitted = False
        for st in statements if isinstance(statements, list) else [statements]:
            statement = IAMPolicyStatement(st)
            if not statement._check_conditions(context):
                continue
            result = statement.is_action_permitted(action, resource, None, context)
            if result == PermissionResult.DENIED:
                return result
            permitted = permitted or result == PermissionResult.PERMITTED
        return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL

    FakeBucket.get_permission = get_permission


def _patch_ecs_pages():
    orig = ecs_responses.EC2ContainerServiceResponse.list_task_definitions

    def list_task_definitions(self):
        result = orig(self)
        arns = result.result["taskDefinitionArns"]
        start = int(self._get_param("nextToken") or 0)
        size = int(self._get_param("maxResults") or 100)
        page = {"taskDefinitionArns": arns[start : start + size]}
        if start + size < len(arns):
            page["nextToken"] = str(start + size)
        return ActionResult(page)

    ecs_responses.EC2ContainerServiceResponse.list_task_definitions = list_task_definitions


def _patch_sns():
    from moto.sns.responses import SNSResponse

    def view(s):
        pending = s.protocol in ("email", "email-json") and not s.confirmed
        return {
            "SubscriptionArn": "PendingConfirmation" if pending else s.arn,
            "Owner": s.owner,
            "Protocol": s.protocol,
            "Endpoint": s.endpoint,
            "TopicArn": s.topic_arn,
        }

    for name in ("list_subscriptions", "list_subscriptions_by_topic"):
        orig = getattr(SNSResponse, name)

        def listing(self, orig=orig):
            result = orig(self)
            result.result["Subscriptions"] = [view(s) for s in result.result["Subscriptions"]]
            return result

        setattr(SNSResponse, name, listing)
    orig_confirm = SNSResponse.confirm_subscription

    def confirm_subscription(self):
        result = orig_confirm(self)
        topic = self._get_param("TopicArn")
        for sub in self.backend.subscriptions.values():
            if sub.topic_arn == topic and sub.protocol in ("email", "email-json"):
                sub.confirmed = True
        return result

    SNSResponse.confirm_subscription = confirm_subscription


def _patch_rds_automated_snapshots():
    """moto names an instance's (and a cluster's) automated snapshot
    `rds:<id>-<minute>` and fails the create (or the restore) of a second one
    of that name within the same minute — a restore swapping instances by name does just
    that. AWS keeps both; here the later one is skipped."""
    from moto.rds.exceptions import DBClusterSnapshotAlreadyExistsError, DBSnapshotAlreadyExistsError
    from moto.rds.models import DBCluster, DBInstance

    for cls, error in ((DBInstance, DBSnapshotAlreadyExistsError), (DBCluster, DBClusterSnapshotAlreadyExistsError)):
        orig = cls.save_automated_backup

        def save_automated_backup(self, orig=orig, error=error):
            try:
                orig(self)
            except error:
                pass

        cls.save_automated_backup = save_automated_backup


def _patch_rds_cluster_rename():
    """A renamed Aurora cluster keeps its instances (AWS); moto leaves them
    naming the old identifier, so a new cluster of that name (a restore
    swapping clusters by name) counts the old writer as its member."""
    from moto.rds.models import DBInstanceClustered, RDSBackend

    orig = RDSBackend.modify_db_cluster

    def modify_db_cluster(self, kwargs):
        old, new = kwargs.get("db_cluster_identifier"), kwargs.get("new_db_cluster_identifier")
        members = [i for i in self.databases.values()
                   if isinstance(i, DBInstanceClustered) and i.db_cluster_identifier == old] if new else []
        result = orig(self, kwargs)
        for i in members:
            i.db_cluster_identifier = new
        return result

    RDSBackend.modify_db_cluster = modify_db_cluster


def _patch_s3_xml_roots():
    """moto 5.2.5 answers GetBucketVersioning with a `<GetBucketVersioningResponse>`
    root; S3 (and every SDK but boto3, which ignores it) uses
    `<VersioningConfiguration>`."""
    from moto.s3.responses import S3Response

    orig = S3Response.get_bucket_versioning

    def get_bucket_versioning(self):
        status, headers, body = orig(self)
        if isinstance(body, bytes):
            body = body.decode()
        body = body.replace("GetBucketVersioningResponse", "VersioningConfiguration")
        return status, headers, body

    S3Response.get_bucket_versioning = get_bucket_versioning


def _patch_secrets_last_accessed():
    """Secrets Manager records the day a secret was last read (GetSecretValue,
    also the ECS agent's at each task launch: `read_by_task`) and reports it
    as `LastAccessedDate` in DescribeSecret and ListSecrets; moto always
    answers null."""
    from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

    orig_get, orig_dict = SecretsManagerBackend.get_secret_value, FakeSecret.to_dict

    def get_secret_value(self, secret_id, version_id, version_stage):
        out = orig_get(self, secret_id, version_id, version_stage)
        day = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        self.secrets[secret_id].last_accessed = int(day.timestamp())
        return out

    def to_dict(self):
        d = orig_dict(self)
        d["LastAccessedDate"] = getattr(self, "last_accessed", None)
        return d

    SecretsManagerBackend.get_secret_value = get_secret_value
    FakeSecret.to_dict = to_dict


def read_by_task(account, region, container_definitions):
    """The ECS agent reads a task's Secrets Manager secrets when it launches."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[account][region]
    for c in container_definitions:
        for s in c.get("secrets") or []:
            arn = ":".join(str(s.get("valueFrom", "")).split(":")[:7])
            if arn.startswith("arn:aws:secretsmanager:"):
                try:
                    backend.get_secret_value(arn, None, None)
                except Exception:  # deleted meanwhile: the launch would fail on AWS, not here
                    pass


def _patch_kms_key_arns():
    """`ScheduleKeyDeletion` and `CancelKeyDeletion` take a key's ID or ARN
    (KMS API reference); moto looked the ARN up as an ID (HTTP 500)."""
    from moto.kms.models import KmsBackend

    for name in ("schedule_key_deletion", "cancel_key_deletion"):
        orig = getattr(KmsBackend, name)

        def by_id(self, key_id, *args, _orig=orig):
            return _orig(self, self.get_key_id(key_id), *args)

        setattr(KmsBackend, name, by_id)


def install(hide_prefix_lists=False):
    _patch_kms_key_arns()
    _patch_secrets_last_accessed()
    _patch_rds_automated_snapshots()
    _patch_rds_cluster_rename()
    _patch_s3_xml_roots()
    _patch_ec2_tokens()
    _patch_ec2_dependencies()
    _patch_s3_tls()
    _patch_ecs_pages()
    _patch_sns()
    _patch_elasticache()
    _patch_ec2()
    _patch_ecs()
    _patch_cloudfront()
    if hide_prefix_lists:
        _patch_prefix_lists()
