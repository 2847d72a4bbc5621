"""Rules AWS enforces on the stack's logging and hardening settings that moto
accepts without a look (issue 17), each as AWS documents it:

- ELBv2 `ModifyLoadBalancerAttributes` turning `access_logs.s3.enabled` on
  checks it can write: the bucket must exist and its policy must let the
  region's ELB log delivery (its account in regions opened before August
  2022, else `logdelivery.elasticloadbalancing.amazonaws.com`) `s3:PutObject`
  under `<prefix>/AWSLogs/<account>/`; otherwise InvalidConfigurationRequest
  ("Access Denied for bucket ...").
- ELBv2 knows AWS's restricted FIPS post-quantum listener policy
  (`ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09`), which moto's policy
  table lacks (it refused it with SSLPolicyNotFound); `CreateListener`
  refuses an unknown policy as `ModifyListener` does (moto: modify only).
- ELBv2 `DeleteLoadBalancer` of a load balancer with
  `deletion_protection.enabled=true` is refused (OperationNotPermitted).
- CloudWatch `PutMetricAlarm`: an SNS action must be a topic of the alarm's
  own region (ValidationError "Invalid region X specified. Only Y is
  supported.") — a us-east-1 alarm cannot notify a topic elsewhere.
- WAFv2 `PutLoggingConfiguration`: a CloudWatch Logs destination's name must
  start with `aws-waf-logs-` and the log group must exist in the web ACL's
  region (WAFInvalidParameterException / WAFNonexistentItemException).
- EFS `PutFileSystemPolicy`: every IAM principal the policy names must exist
  (InvalidPolicyException, "invalid principal"), as AWS validates it.
- RDS `DescribeDBParameterGroups` naming a group that does not exist answers
  DBParameterGroupNotFound (moto answers an empty list).
- RDS enhanced monitoring (`CreateDBInstance`/`ModifyDBInstance` with
  `MonitoringInterval`): the interval is one of 0, 1, 5, 10, 15, 30, 60; a
  non-zero interval needs a role (InvalidParameterCombination, also on
  modify, where moto does not check), and the role must exist and trust
  `monitoring.rds.amazonaws.com` (InvalidParameterValue "IAM role ARN value
  is invalid or does not include the required permissions for:
  ENHANCED_MONITORING", the refusal terraform-provider-aws waits out while a
  new role propagates). An instance with monitoring on reports where its
  metrics go (`EnhancedMonitoringResourceArn`, the `RDSOSMetrics` log
  stream named after its resource ID), as AWS does; moto reported nothing.
- EC2 `CreateNetworkAclEntry`/`ReplaceNetworkAclEntry` keep the ICMP type
  and code (`Icmp.Type`/`Icmp.Code`): moto reads them under a name its own
  request parser never fills, so an ICMP rule came back without them.
- S3 `PutBucketLogging` reads the target bucket's policy for a grant to
  `logging.s3.amazonaws.com` (InvalidTargetBucketForLogging without one, as
  moto already does); moto crashed (HTTP 500) on a policy with a statement
  whose principal is the string "*" — every TLS-only policy has one.
"""
import json
from types import SimpleNamespace

from moto.cloudwatch import models as cw_models
from moto.cloudwatch.exceptions import ValidationError as CwValidation
from moto.core.exceptions import JsonRESTError
from moto.elbv2 import models as elbv2_models
from moto.elbv2.exceptions import ELBClientError

from emu import policy

ELB_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378", "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}


class _ElbError(ELBClientError):
    def __init__(self, code, message):
        super().__init__(code, message)


def _elb_principal_ok(principal, region):
    if not isinstance(principal, dict):
        return False
    if region in ELB_ACCOUNTS:
        want = ELB_ACCOUNTS[region]
        aws = principal.get("AWS", [])
        aws = aws if isinstance(aws, list) else [aws]
        return any(a in (want, f"arn:aws:iam::{want}:root") for a in aws)
    svc = principal.get("Service", [])
    svc = svc if isinstance(svc, list) else [svc]
    return "logdelivery.elasticloadbalancing.amazonaws.com" in svc


def _bucket_writable_by_elb(account, region, bucket, prefix):
    key = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{account}/x"
    for s in policy.bucket_statements(account, bucket) or []:
        if (s.get("Effect") == "Allow" and _elb_principal_ok(s.get("Principal"), region)
                and any(a in ("s3:PutObject", "s3:*") for a in policy.actions(s))
                and policy.resource_covers(s.get("Resource", []), key)):
            return True
    return False


# The restricted FIPS post-quantum policy AWS recommends beside
# `…-Res-PQ-2025-09` ("Security policies for your Application Load Balancer"):
# the same protocols and GCM ciphers less ChaCha20, which FIPS 140-3 does not
# approve. moto's table stops at the non-FIPS PQ policies.
FIPS_PQ = "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09"


def _add_fips_pq_policy():
    from moto.elbv2.ssl_policies import SSL_POLICIES

    base = SSL_POLICIES["ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"]
    SSL_POLICIES.setdefault(FIPS_PQ, {
        "name": FIPS_PQ,
        "ciphers": [c for c in base["ciphers"] if "CHACHA20" not in c],
        "ssl_protocols": list(base["ssl_protocols"]),
    })


def _patch_elbv2():
    _add_fips_pq_policy()
    backend = elbv2_models.ELBv2Backend
    create_listener = backend.create_listener

    def create_listener_known_policy(self, load_balancer_arn, protocol, port, ssl_policy, *args, **kwargs):
        from moto.elbv2.ssl_policies import SSL_POLICIES

        # AWS refuses an unknown policy on create as on modify (moto: modify only).
        if ssl_policy and ssl_policy not in SSL_POLICIES:
            raise _ElbError("SSLPolicyNotFound", f"Policy {ssl_policy} not found")
        return create_listener(self, load_balancer_arn, protocol, port, ssl_policy, *args, **kwargs)

    backend.create_listener = create_listener_known_policy
    modify = backend.modify_load_balancer_attributes
    delete = backend.delete_load_balancer

    def modify_load_balancer_attributes(self, arn, attrs):
        lb = self.load_balancers.get(arn)
        merged = dict(lb.attrs if lb else {}, **attrs)
        if lb is not None and str(merged.get("access_logs.s3.enabled", "false")).lower() == "true":
            bucket = merged.get("access_logs.s3.bucket", "")
            prefix = merged.get("access_logs.s3.prefix", "")
            if not _bucket_writable_by_elb(self.account_id, self.region_name, bucket, prefix):
                raise _ElbError(
                    "InvalidConfigurationRequest",
                    f"Access Denied for bucket: {bucket}. Please check S3bucket permission")
        return modify(self, arn, attrs)

    def delete_load_balancer(self, arn):
        lb = self.load_balancers.get(arn)
        if lb is not None and str(lb.attrs.get("deletion_protection.enabled", "false")).lower() == "true":
            raise _ElbError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled")
        return delete(self, arn)

    backend.modify_load_balancer_attributes = modify_load_balancer_attributes
    backend.delete_load_balancer = delete_load_balancer


def _patch_cloudwatch():
    backend = cw_models.CloudWatchBackend
    put = backend.put_metric_alarm

    def put_metric_alarm(self, *args, **kwargs):
        actions = list(kwargs.get("alarm_actions") or (args[10] if len(args) > 10 else []) or [])
        actions += list(kwargs.get("ok_actions") or [])
        actions += list(kwargs.get("insufficient_data_actions") or [])
        for a in actions:
            parts = a.split(":")
            if len(parts) > 3 and parts[2] == "sns" and parts[3] != self.region_name:
                raise CwValidation(f"Invalid region {parts[3]} specified. Only {self.region_name} is supported.")
        return put(self, *args, **kwargs)

    backend.put_metric_alarm = put_metric_alarm


def _patch_wafv2():
    from moto.logs.models import logs_backends
    from moto.wafv2 import models as waf_models
    backend = waf_models.WAFV2Backend
    put = backend.put_logging_configuration

    def put_logging_configuration(self, arn, log_destination_configs, *args, **kwargs):
        for dest in log_destination_configs:
            if ":logs:" not in dest:
                continue
            name = dest.split(":log-group:", 1)[-1].removesuffix(":*")
            if not name.startswith("aws-waf-logs-"):
                raise JsonRESTError("WAFInvalidParameterException",
                                    "The log group name must start with aws-waf-logs-.")
            region = dest.split(":")[3]
            if name not in logs_backends[self.account_id][region].groups:
                raise JsonRESTError("WAFNonexistentItemException",
                                    "AWS WAF couldn't perform the operation because your resource doesn't exist.")
        return put(self, arn, log_destination_configs, *args, **kwargs)

    backend.put_logging_configuration = put_logging_configuration


def _patch_efs():
    from moto.efs import models as efs_models
    from moto.iam.models import iam_backends
    backend = efs_models.EFSBackend
    put = backend.put_file_system_policy

    def put_file_system_policy(self, file_system_id, policy, *args, **kwargs):
        doc = json.loads(policy)
        roles = iam_backends[self.account_id]["global"].roles.values()
        arns = {r.arn for r in roles}
        for s in doc.get("Statement", []):
            p = s.get("Principal")
            aws = p.get("AWS", []) if isinstance(p, dict) else []
            for a in aws if isinstance(aws, list) else [aws]:
                if ":role/" in a and a not in arns:
                    raise JsonRESTError("InvalidPolicyException", f"Policy contains invalid principal: {a}")
        return put(self, file_system_id, policy, *args, **kwargs)

    backend.put_file_system_policy = put_file_system_policy


def _patch_rds_parameter_groups():
    from moto.rds.exceptions import DBParameterGroupNotFoundError
    from moto.rds.models import RDSBackend
    describe = RDSBackend.describe_db_parameter_groups

    def describe_db_parameter_groups(self, db_parameter_group_kwargs):
        found = describe(self, db_parameter_group_kwargs)
        name = db_parameter_group_kwargs.get("db_parameter_group_name")
        if name and not found:
            raise DBParameterGroupNotFoundError(name)
        return found

    RDSBackend.describe_db_parameter_groups = describe_db_parameter_groups


def _patch_s3_logging():
    from moto.s3.models import FakeBucket
    check = FakeBucket._log_permissions_enabled_policy

    def log_permissions(target_bucket, target_prefix):
        # moto reads `Principal` as a dict: give it only the statements that
        # are (a "*" principal grants S3's log delivery nothing by itself).
        policy = target_bucket.policy
        if not policy:
            return False
        doc = json.loads(policy.decode() if isinstance(policy, bytes) else policy)
        doc["Statement"] = [s for s in doc.get("Statement", []) if isinstance(s.get("Principal"), dict)]
        view = SimpleNamespace(policy=json.dumps(doc).encode(), partition=target_bucket.partition,
                               name=target_bucket.name)
        return check(view, target_prefix)

    FakeBucket._log_permissions_enabled_policy = staticmethod(log_permissions)


MONITORING_INTERVALS = {0, 1, 5, 10, 15, 30, 60}


def _check_monitoring(account_id, interval, role_arn):
    from moto.rds.exceptions import InvalidParameterCombination, InvalidParameterValue
    if interval not in MONITORING_INTERVALS:
        raise InvalidParameterValue(f"Invalid MonitoringInterval {interval}: valid values are 0, 1, 5, 10, 15, 30, 60.")
    if interval and not role_arn:
        raise InvalidParameterCombination(
            "A MonitoringRoleARN value is required if you specify a MonitoringInterval value other than 0.")
    if not interval:
        return
    services = [svc for st in policy.role_trust(account_id, role_arn) or [] for svc in policy.service_principals(st)]
    if "monitoring.rds.amazonaws.com" not in services:
        raise InvalidParameterValue(
            "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING")


def _patch_rds_monitoring():
    from moto.rds.models import RDSBackend
    create, modify = RDSBackend.create_db_instance, RDSBackend.modify_db_instance

    def create_db_instance(self, db_kwargs):
        _check_monitoring(self.account_id, int(db_kwargs.get("monitoring_interval") or 0),
                          db_kwargs.get("monitoring_role_arn"))
        return create(self, db_kwargs)

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        db = self.describe_db_instances(db_instance_identifier)[0]
        interval = db_kwargs.get("monitoring_interval")
        interval = int(db.monitoring_interval or 0) if interval is None else int(interval)
        _check_monitoring(self.account_id, interval, db_kwargs.get("monitoring_role_arn") or db.monitoring_role_arn)
        return modify(self, db_instance_identifier, db_kwargs)

    RDSBackend.create_db_instance = create_db_instance
    RDSBackend.modify_db_instance = modify_db_instance

    from moto.rds.models import DBInstance

    def enhanced_monitoring_resource_arn(self):
        if not int(self.monitoring_interval or 0):
            return None
        return (f"arn:aws:logs:{self.region}:{self.account_id}:log-group:RDSOSMetrics:"
                f"log-stream:{self.dbi_resource_id}")

    DBInstance.enhanced_monitoring_resource_arn = property(enhanced_monitoring_resource_arn)


def _patch_nacl_icmp():
    from moto.ec2.responses.network_acls import NetworkACLs

    def keep_icmp(handler):
        def wrapped(self):
            icmp = self._get_param("IcmpTypeCode") or {}
            get = self._get_param

            def param(key, *a, **k):
                if key in ("Icmp.Code", "Icmp.Type"):
                    return icmp.get(key.split(".")[1])
                return get(key, *a, **k)

            self._get_param = param  # this request's response object only
            try:
                return handler(self)
            finally:
                del self._get_param

        return wrapped

    NetworkACLs.create_network_acl_entry = keep_icmp(NetworkACLs.create_network_acl_entry)
    NetworkACLs.replace_network_acl_entry = keep_icmp(NetworkACLs.replace_network_acl_entry)


def install():
    _patch_nacl_icmp()
    _patch_rds_monitoring()
    _patch_s3_logging()
    _patch_rds_parameter_groups()
    _patch_elbv2()
    _patch_cloudwatch()
    _patch_wafv2()
    _patch_efs()
