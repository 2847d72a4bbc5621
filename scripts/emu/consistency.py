"""Consistency mode (MOODLECTL_EMU_CONSISTENCY = N seconds): AWS is
eventually consistent, moto is not. In this mode the emulator refuses what
AWS refuses for a while after a related change, with AWS's own error codes
and messages, so code that does not wait these out fails here rather than
in a user's account. Only moodlectl's requests (User-Agent `app/moodlectl`)
are refused; a test's independent checks see the truth.

For N seconds after the change that causes it:
- IAM propagation: a role cannot be assumed after CreateRole,
  PutRolePolicy, AttachRolePolicy or UpdateAssumeRolePolicy: CreateFlowLogs
  naming it answers `InvalidParameter` "Unable to assume given IAM role";
  RDS CreateDBInstance / ModifyDBInstance naming it as the enhanced
  monitoring role answer `InvalidParameterValue` "... required permissions
  for: ENHANCED_MONITORING"; CloudTrail CreateTrail / UpdateTrail naming it
  as the CloudWatch Logs role answer InvalidCloudWatchLogsRoleArnException
  "Access denied. ...".
- KMS propagation (the KMS developer guide's "eventual consistency": a
  change usually reaches the rest of AWS within seconds, sometimes minutes;
  a key used right after CreateKey "may" answer not found): for N s after
  CreateKey, CloudTrail CreateTrail / UpdateTrail naming the key answer
  `KmsKeyNotFoundException`, and after PutKeyPolicy
  `InsufficientEncryptionPolicyException`; CloudWatch Logs CreateLogGroup /
  AssociateKmsKey naming it answer `AccessDeniedException` "The specified
  KMS key does not exist or is not allowed to be used with Arn ..." — these
  with probability 1/2, as fresh EC2 IDs: the stack's log groups name a key
  made in the same second as the roles of the steps after them, and a
  refusal every time would hold every role user back until its role's
  refusal was over too.
- Service-linked roles on first use (created by AWS on the first call, and
  usable half the mode's time later): ECS CreateCluster / CreateService
  answer `InvalidParameterException` "Unable to assume the service linked
  role" for N/2 s after the first ECS call; Application Auto Scaling
  RegisterScalableTarget answers `ValidationException` "Unable to assume IAM
  role" for N/2 s after its first call, then "ECS service doesn't exist"
  until N s after the service was created; PutScalingPolicy answers
  `FailedResourceAccessException` (first refusal) or `ObjectNotFoundException`
  for N s after its target was registered.
- EC2 read-after-create (the EC2 API guide's "eventual consistency"): a
  request naming an ID created in the last N s answers that ID's
  `Invalid*.NotFound` with probability 1/2 (deletes excepted), and a
  filter-only Describe* leaves out every resource created in the last N s
  (AWS "may"; the emulator always does, so a lookup that trusts it fails
  every time rather than now and then).
- ELB: a target group has no associated load balancer for N s after the
  listener that first forwards to it: ECS CreateService answers
  `InvalidParameterException` "... does not have an associated load balancer".
- WAF: a web ACL stays associated for N s after the distribution using it
  is deleted: DeleteWebACL answers `WAFAssociatedItemException`.
- EFS: a file system stays in use for N s after its last mount target is
  deleted: DeleteFileSystem answers `FileSystemInUse` (HTTP 409).
- CloudTrail: a trail's last log file lands in its bucket after the trail is
  deleted: the first DeleteBucket within N s finds it there and answers
  `BucketNotEmpty` (HTTP 409).

Draws come from random.Random(MOODLECTL_EMU_SEED, default 1). Every refusal
is counted: `GET /moodlectl-emu/consistency` returns the counts per kind.
"""
import json
import os
import random
import re
import threading
import time
import xml.etree.ElementTree as ET

from emu import wire

KINDS = (
    "iam_role",
    "kms_key",
    "ecs_service_linked_role",
    "autoscaling_service_linked_role",
    "autoscaling_service_missing",
    "autoscaling_target_access",
    "autoscaling_target_missing",
    "ec2_fresh_id",
    "ec2_filter_omits",
    "target_group_without_lb",
    "waf_associated",
    "efs_in_use",
    "late_log_delivery",
)

# EC2 create actions and the response element holding the new ID.
EC2_CREATES = {
    "CreateVpc": "vpcId",
    "CreateSubnet": "subnetId",
    "CreateSecurityGroup": "groupId",
    "CreateRouteTable": "routeTableId",
    "CreateInternetGateway": "internetGatewayId",
    "AllocateAddress": "allocationId",
    "CreateNatGateway": "natGatewayId",
    "CreateVpcEndpoint": "vpcEndpointId",
}
# ID prefix → the not-found code AWS answers for it.
NOT_FOUND = {
    "vpc-": ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "subnet-": ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "sg-": ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "rtb-": ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "igw-": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    "eipalloc-": ("InvalidAllocationID.NotFound", "The allocation ID '{}' does not exist"),
    "nat-": ("NatGatewayNotFound", "The Nat Gateway {} was not found"),
    "vpce-": ("InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '{}' does not exist"),
}
# Filter-only describes: (set element, the items' ID element).
EC2_SETS = {
    "DescribeVpcs": ("vpcSet", "vpcId"),
    "DescribeSubnets": ("subnetSet", "subnetId"),
    "DescribeSecurityGroups": ("securityGroupInfo", "groupId"),
    "DescribeRouteTables": ("routeTableSet", "routeTableId"),
    "DescribeInternetGateways": ("internetGatewaySet", "internetGatewayId"),
    "DescribeAddresses": ("addressesSet", "allocationId"),
    "DescribeNatGateways": ("natGatewaySet", "natGatewayId"),
    "DescribeVpcEndpoints": ("vpcEndpointSet", "vpcEndpointId"),
}
# Deleting what was just created is not refused (AWS's guide is about
# reading and modifying; a delete that answered "not found" would be read as
# "already gone").
NOT_REFUSED_PREFIXES = ("Delete", "Release", "Detach", "Disassociate")
# The services whose calls this mode watches or refuses.
WATCHED = {
    "ec2", "ecs", "application-autoscaling", "wafv2", "iam", "elasticloadbalancing", "cloudfront",
    "elasticfilesystem", "cloudtrail", "s3", "rds", "kms", "logs",
}
ROLE_CHANGES = {"CreateRole", "PutRolePolicy", "AttachRolePolicy", "UpdateAssumeRolePolicy"}


class Consistency:
    def __init__(self, app, seconds, seed):
        self.app, self.n = app, seconds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {k: 0 for k in KINDS}
        self.roles = {}  # role name → when it last changed
        self.keys = {}  # KMS key ID → (when it was created or re-policied, which)
        self.fresh = {}  # EC2 ID → when it was created
        self.first_call = {}  # "ecs" / "application-autoscaling" → first call
        self.services = {}  # "cluster/service" → when created
        self.targets = {}  # scalable target resource ID → (when registered, refused before)
        self.tg_listener = {}  # target group ARN → when it last got a listener after having none
        self.acl_until = {}  # web ACL ID → end of "associated"
        self.fs_until = {}  # file system ID → end of "in use"
        self.late_log = {}  # bucket → end of the window a last log file may land in

    # ------------------------------------------------------------ plumbing

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/moodlectl-emu/consistency":
            with self.lock:
                return wire.json_answer(start_response, {"seconds": self.n, "refused": dict(self.counts)})
        if path.startswith("/moto-api") or path.startswith("/moodlectl-emu") or not wire.from_moodlectl(environ):
            return self.app(environ, start_response)
        svc = wire.service(environ)
        if svc not in WATCHED:
            return self.app(environ, start_response)
        # S3 bodies may be streamed; only S3's method and path matter here.
        body = wire.read_body(environ) if svc != "s3" else b""
        action, params = wire.operation(environ, body)
        refusal = self.refuse(environ, svc, action, params)
        if refusal:
            kind, status, code, msg = refusal
            with self.lock:
                self.counts[kind] += 1
            return wire.error(environ, start_response, status, code, msg)
        before = self.before(environ, svc)
        status_holder = {}

        def capture(status, headers, exc_info=None):
            status_holder["status"], status_holder["headers"] = status, headers
            return lambda _b: None

        out = b"".join(self.app(environ, capture))
        ok = status_holder["status"].startswith("2")
        if ok:
            out = self.after(environ, svc, action, params, out, before)
        headers = [(k, v) for k, v in status_holder["headers"] if k.lower() != "content-length"]
        start_response(status_holder["status"], headers + [("Content-Length", str(len(out)))])
        return [out]

    def recent(self, t, share=1.0):
        return t is not None and time.monotonic() - t < self.n * share

    def coin(self):
        with self.lock:
            return self.rng.random() < 0.5

    # ------------------------------------------------------------ refusals

    def refuse(self, environ, svc, action, params):
        now = time.monotonic()
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if svc == "ec2" and action:
            return self.refuse_ec2(action, params)
        if svc == "rds" and action in ("CreateDBInstance", "ModifyDBInstance"):
            arn = params.get("MonitoringRoleArn", "")
            if arn and self.recent(self.roles.get(arn.rsplit("/", 1)[-1])):
                return ("iam_role", "400 Bad Request", "InvalidParameterValue",
                        "IAM role ARN value is invalid or does not include the required permissions for: "
                        "ENHANCED_MONITORING")
        if svc == "cloudtrail" and action in ("CreateTrail", "UpdateTrail"):
            arn = params.get("CloudWatchLogsRoleArn", "")
            if arn and self.recent(self.roles.get(arn.rsplit("/", 1)[-1])):
                return ("iam_role", "400 Bad Request", "InvalidCloudWatchLogsRoleArnException",
                        "Access denied. Verify in IAM that the role has adequate permissions.")
        if svc in ("cloudtrail", "logs") and action:
            refusal = self.refuse_fresh_key(environ, svc, action, params)
            if refusal:
                return refusal
        if svc == "ecs" and action:
            self.first_call.setdefault("ecs", now)
            if action in ("CreateCluster", "CreateService") and self.recent(self.first_call["ecs"], 0.5):
                return ("ecs_service_linked_role", "400 Bad Request", "InvalidParameterException",
                        "Unable to assume the service linked role. Please verify that the ECS service linked role exists.")
            if action == "CreateService":
                for lb in params.get("loadBalancers") or []:
                    arn = lb.get("targetGroupArn")
                    if self.recent(self.tg_listener.get(arn)):
                        return ("target_group_without_lb", "400 Bad Request", "InvalidParameterException",
                                f"The target group with targetGroupArn {arn} does not have an associated load balancer.")
        if svc == "application-autoscaling" and action:
            self.first_call.setdefault("aas", now)
            rid = params.get("ResourceId", "")
            if action == "RegisterScalableTarget":
                if self.recent(self.first_call["aas"], 0.5):
                    return ("autoscaling_service_linked_role", "400 Bad Request", "ValidationException",
                            "Unable to assume IAM role: arn:aws:iam::123456789012:role/aws-service-role/"
                            "ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService")
                if self.recent(self.services.get(rid.removeprefix("service/"))):
                    return ("autoscaling_service_missing", "400 Bad Request", "ValidationException",
                            f"ECS service doesn't exist: {rid}")
            if action == "PutScalingPolicy":
                t = self.targets.get(rid)
                if t and self.recent(t[0]):
                    if not t[1]:
                        self.targets[rid] = (t[0], True)
                        return ("autoscaling_target_access", "400 Bad Request", "FailedResourceAccessException",
                                "Failed to access the resource: the target's CloudWatch alarms cannot be created yet")
                    return ("autoscaling_target_missing", "400 Bad Request", "ObjectNotFoundException",
                            f"No scalable target registered for service namespace: ecs, resource ID: {rid}, "
                            "scalable dimension: ecs:service:DesiredCount")
        if svc == "wafv2" and action == "DeleteWebACL":
            until = self.acl_until.get(params.get("Id"))
            if until and now < until:
                return ("waf_associated", "400 Bad Request", "WAFAssociatedItemException",
                        "AWS WAF couldn't perform the operation because your resource is being used by another "
                        "resource or it's associated with another resource.")
        bucket = path.strip("/")
        if svc == "s3" and method == "DELETE" and "/" not in bucket and now < self.late_log.get(bucket, 0):
            self.deliver_late_log(environ, bucket)
        if svc == "elasticfilesystem" and method == "DELETE":
            m = re.match(r"^/2015-02-01/file-systems/([^/]+)$", path)
            if m and now < self.fs_until.get(m.group(1), 0):
                return ("efs_in_use", "409 Conflict", "FileSystemInUse", f"File system '{m.group(1)}' has mount targets")
        return None

    def fresh_key(self, key_id):
        """(key ID, "CreateKey" or "PutKeyPolicy") when `key_id` (an ID or a
        key ARN) names a key changed in the last N s."""
        kid = _key_id(key_id)
        when, cause = self.keys.get(kid, (None, None))
        return (kid, cause) if self.recent(when) else None

    def refuse_fresh_key(self, environ, svc, action, params):
        # Checked before the trail's role: a trail that needs both waits out
        # the key first, then the role.
        if svc == "cloudtrail" and action in ("CreateTrail", "UpdateTrail"):
            fresh = self.fresh_key(params.get("KmsKeyId"))
            if fresh and fresh[1] == "CreateKey":
                return ("kms_key", "400 Bad Request", "KmsKeyNotFoundException",
                        f"KMS key {params['KmsKeyId']} not found in {wire.region(environ)}.")
            if fresh:
                return ("kms_key", "400 Bad Request", "InsufficientEncryptionPolicyException",
                        f"Insufficient permissions to access S3 bucket or KMS key {params['KmsKeyId']}.")
        if svc == "logs" and action in ("CreateLogGroup", "AssociateKmsKey") and self.fresh_key(params.get("kmsKeyId")) \
                and self.coin():
            group = f"arn:aws:logs:{wire.region(environ)}:123456789012:log-group:{params.get('logGroupName', '')}"
            return ("kms_key", "400 Bad Request", "AccessDeniedException",
                    f"The specified KMS key does not exist or is not allowed to be used with Arn '{group}'")
        return None

    def deliver_late_log(self, environ, bucket):
        """The trail's last file lands now, once: moto then answers the
        DeleteBucket in flight with BucketNotEmpty, as AWS would."""
        del self.late_log[bucket]
        try:
            from moto.s3.models import s3_backends

            s3 = s3_backends["123456789012"]["aws"]
            s3.put_object(bucket, f"AWSLogs/123456789012/CloudTrail/{wire.region(environ)}/late.json.gz", b"{}")
        except Exception:  # noqa: BLE001 — the bucket is gone already: nothing lands
            return
        with self.lock:
            self.counts["late_log_delivery"] += 1

    def refuse_ec2(self, action, params):
        if action == "CreateFlowLogs":
            arn = params.get("DeliverLogsPermissionArn", "")
            if self.recent(self.roles.get(arn.rsplit("/", 1)[-1])):
                return ("iam_role", "400 Bad Request", "InvalidParameter", f"Unable to assume given IAM role ({arn}).")
        if action.startswith(NOT_REFUSED_PREFIXES):
            return None
        # One draw per request (not per ID it names): a request naming fresh
        # IDs fails with probability 1/2, on the first of them.
        named = [v for k, v in params.items() if k != "ClientToken" and isinstance(v, str) and self.recent(self.fresh.get(v))]
        prefix = next((p for p in NOT_FOUND if named and named[0].startswith(p)), None)
        if prefix and self.coin():
            code, msg = NOT_FOUND[prefix]
            return ("ec2_fresh_id", "400 Bad Request", code, msg.format(named[0]))
        return None

    # ------------------------------------------------------------ bookkeeping

    def before(self, environ, svc):
        """What a delete removes, read from moto before it goes."""
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if svc == "cloudtrail":
            return self.trail_bucket(environ)
        if svc == "elasticloadbalancing":
            return self.target_groups_in_use(environ)
        if method != "DELETE":
            return None
        try:
            if svc == "cloudfront":
                m = re.match(r"^/2020-05-31/distribution/([^/]+)$", path)
                if m:
                    from moto.cloudfront.models import cloudfront_backends

                    d = cloudfront_backends["123456789012"]["aws"].distributions.get(m.group(1))
                    return getattr(d.distribution_config, "WebACLId", "") if d else None
            if svc == "elasticfilesystem":
                m = re.match(r"^/2015-02-01/mount-targets/([^/]+)$", path)
                if m:
                    from moto.efs.models import efs_backends

                    b = efs_backends["123456789012"][wire.region(environ)]
                    mt = b.mount_targets_by_id.get(m.group(1))
                    return (b, mt.file_system_id) if mt else None
        except Exception:  # noqa: BLE001 — bookkeeping must never break a request
            return None
        return None

    def target_groups_in_use(self, environ):
        """The target groups a listener or rule forwards to before this call:
        one that has none gets its load balancer anew when one is created."""
        try:
            from moto.elbv2.models import elbv2_backends

            b = elbv2_backends["123456789012"][wire.region(environ)]
            return {arn for arn in b.target_groups if b._any_listener_using(arn)}
        except Exception:  # noqa: BLE001 — bookkeeping must never break a request
            return None

    def trail_bucket(self, environ):
        """The bucket of the trail a DeleteTrail names."""
        try:
            from moto.cloudtrail.models import cloudtrail_backends

            name = json.loads(wire.read_body(environ) or b"{}").get("Name", "")
            trail = cloudtrail_backends["123456789012"][wire.region(environ)].get_trail(name)
            return trail.bucket_name
        except Exception:  # noqa: BLE001 — not a trail call, or the trail is unknown
            return None

    def after(self, environ, svc, action, params, out, before):
        now = time.monotonic()
        if svc == "iam" and action in ROLE_CHANGES and params.get("RoleName"):
            self.roles[params["RoleName"]] = now
        elif svc == "kms" and action == "CreateKey":
            try:
                self.keys[json.loads(out)["KeyMetadata"]["KeyId"]] = (now, action)
            except (ValueError, KeyError):
                pass
        elif svc == "kms" and action == "PutKeyPolicy" and params.get("KeyId"):
            self.keys[_key_id(params["KeyId"])] = (now, action)
        elif svc == "ec2" and action in EC2_CREATES:
            for new in re.findall(rf"<{EC2_CREATES[action]}>([^<]+)<".encode(), out)[:1]:
                self.fresh[new.decode()] = now
        elif svc == "ec2" and action in EC2_SETS and not any(re.search(r"Id(\.\d+)?$", k) for k in params):
            out = self.omit_fresh(action, out)
        elif svc == "ecs" and action == "CreateService":
            self.services[f"{params.get('cluster', 'default')}/{params.get('serviceName')}"] = now
        elif svc == "application-autoscaling" and action == "RegisterScalableTarget":
            self.targets[params.get("ResourceId", "")] = (now, False)
        elif svc == "elasticloadbalancing" and action in ("CreateListener", "CreateRule"):
            for k, v in params.items():
                # A listener or rule for a target group that had none (its
                # first, or again after someone deleted them all): ECS does not
                # see the load balancer for a while.
                if k.endswith("TargetGroupArn") and before is not None and v not in before:
                    self.tg_listener[v] = now
        elif svc == "cloudfront" and environ.get("REQUEST_METHOD") == "DELETE" and before:
            self.acl_until[before.rsplit("/", 1)[-1]] = now + self.n
        elif svc == "cloudtrail" and action == "DeleteTrail" and before:
            self.late_log[before] = now + self.n
        elif svc == "elasticfilesystem" and environ.get("REQUEST_METHOD") == "DELETE" and before:
            backend, fs = before
            if not any(mt.file_system_id == fs for mt in backend.mount_targets_by_id.values()):
                self.fs_until[fs] = now + self.n
        return out

    def omit_fresh(self, action, out):
        set_name, id_name = EC2_SETS[action]
        try:
            root = ET.fromstring(out)
        except ET.ParseError:
            return out
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        omitted = 0
        for s in root.iter(f"{ns}{set_name}"):
            for item in list(s.findall(f"{ns}item")):
                rid = item.findtext(f"{ns}{id_name}")
                if self.recent(self.fresh.get(rid)):
                    s.remove(item)
                    omitted += 1
        if not omitted:
            return out
        with self.lock:
            self.counts["ec2_filter_omits"] += omitted
        if ns:
            ET.register_namespace("", ns[1:-1])
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _key_id(key_id):
    """A KMS key's ID from its ID or ARN."""
    return (key_id or "").rsplit("key/", 1)[-1]


def install():
    """Wrap moto's WSGI app when MOODLECTL_EMU_CONSISTENCY is set (> 0)."""
    seconds = float(os.environ.get("MOODLECTL_EMU_CONSISTENCY", "0") or 0)
    if seconds <= 0:
        return
    import moto.server as server

    seed = int(os.environ.get("MOODLECTL_EMU_SEED", "1"))
    orig = server.run_simple

    def run_simple(host, port, app, **kw):
        return orig(host, port, Consistency(app, seconds, seed), **kw)

    server.run_simple = run_simple
