"""CloudTrail's delivery to CloudWatch Logs and the metric filters on it, as
AWS checks them (issue 17: the security alarms); moto stores whatever it is
given and never reports a delivery:

- `CreateTrail`/`UpdateTrail` with `CloudWatchLogsLogGroupArn`: the ARN is a
  log group of the trail's region and account with the log-stream wildcard
  (`arn:aws:logs:<region>:<account>:log-group:<name>:*`, the form the
  CloudTrail API reference and terraform-provider-aws name) and the group
  exists (InvalidCloudWatchLogsLogGroupArnException otherwise); a group
  needs a role and a role a group (InvalidParameterCombinationException);
  the role exists and trusts `cloudtrail.amazonaws.com` with no
  `aws:SourceAccount`/`aws:SourceArn` condition — CloudTrail passes neither
  when it assumes this role (its user guide: confused-deputy keys are "not
  applicable" here), so such a role cannot be assumed
  (InvalidCloudWatchLogsRoleArnException "Access denied. Verify in IAM that
  the role has adequate permissions.", the refusal terraform-provider-aws
  waits out while a new role propagates). Empty strings stop the delivery.
- `CreateTrail`/`UpdateTrail` with `KmsKeyId`: the key (ID, ARN or alias)
  exists in the trail's region (KmsKeyNotFoundException), is enabled
  (KmsException), and its policy lets `cloudtrail.amazonaws.com`
  `kms:GenerateDataKey*` (InsufficientEncryptionPolicyException) — the
  CloudTrail API reference's refusals; the trail then reports the key's ARN
  whatever form it was given in. An empty string removes the encryption.
- `CreateTrail`/`UpdateTrail` naming a bucket: its policy lets
  `cloudtrail.amazonaws.com` `s3:GetBucketAcl` on the bucket and
  `s3:PutObject` on `<bucket>/[<prefix>/]AWSLogs/<account>/*`, under
  conditions CloudTrail meets — `aws:SourceArn` this trail's ARN (its home
  region's, for a multi-region trail), `aws:SourceAccount` this account,
  `s3:x-amz-acl` `bucket-owner-full-control` (InsufficientS3BucketPolicyException
  "Incorrect S3 bucket policy is detected for bucket: …" otherwise, the
  refusal CloudTrail's user guide describes; moto checked only that the
  bucket exists).
- `GetTrailStatus` of a logging trail that delivers to CloudWatch Logs
  reports `LatestCloudWatchLogsDeliveryTime`, as AWS does once it has
  delivered (minutes after logging starts); moto never did.
- A trail created without event selectors logs every read and write
  management event and no data event, and `GetEventSelectors` says so (the
  CloudTrail user guide's default; moto answered no selector at all).
- `PutMetricFilter`: the log group must exist (ResourceNotFoundException)
  and the pattern is at most 1024 characters (InvalidParameterException),
  per the CloudWatch Logs API reference; a filter of the same name in the
  group is replaced (moto appended a second one).
- `DeleteLogGroup` deletes the group's metric filters with it (moto kept
  them, orphaned).
"""
import json
import re
import time

from emu.policy import actions, bucket_statements, resource_covers, role_trust, service_principals, statements

GROUP_ARN = re.compile(r"^arn:aws:logs:([a-z0-9-]+):(\d{12}):log-group:([^:]+):\*$")
DENIED = "Access denied. Verify in IAM that the role has adequate permissions."


def _error(name, msg):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(name, msg)


def _trusts_cloudtrail(account_id, role_arn):
    for st in role_trust(account_id, role_arn) or []:
        conditions = json.dumps(st.get("Condition") or {})
        if ("cloudtrail.amazonaws.com" in service_principals(st)
                and "aws:SourceAccount" not in conditions and "aws:SourceArn" not in conditions):
            return True
    return False


def _check_delivery(backend, group_arn, role_arn):
    from moto.logs.models import logs_backends

    if not group_arn and not role_arn:
        return
    if bool(group_arn) != bool(role_arn):
        raise _error("InvalidParameterCombinationException",
                     "You must specify both a CloudWatch Logs log group ARN and a role ARN, or neither.")
    m = GROUP_ARN.match(group_arn)
    if (not m or m.group(1) != backend.region_name or m.group(2) != backend.account_id
            or m.group(3) not in logs_backends[backend.account_id][backend.region_name].groups):
        raise _error("InvalidCloudWatchLogsLogGroupArnException",
                     f"CloudWatch Logs log group ARN {group_arn} is invalid or the log group does not exist.")
    if not _trusts_cloudtrail(backend.account_id, role_arn):
        raise _error("InvalidCloudWatchLogsRoleArnException", DENIED)


def _cloudtrail_meets(condition, trail_arn, account):
    """Whether CloudTrail's delivery meets a statement's `Condition`: it
    sends the trail's ARN, the account, the bucket-owner ACL and TLS, and
    nothing else a condition could ask for."""
    sent = {"aws:sourcearn": trail_arn, "aws:sourceaccount": account,
            "s3:x-amz-acl": "bucket-owner-full-control", "aws:securetransport": "true"}
    for op, pairs in (condition or {}).items():
        for key, want in pairs.items():
            want = [str(w).lower() if op == "Bool" else str(w) for w in (want if isinstance(want, list) else [want])]
            have = sent.get(key.lower())
            if have is None:
                return False
            if op in ("StringEquals", "ArnEquals", "Bool"):
                ok = have in want
            elif op in ("StringLike", "ArnLike"):
                ok = any(resource_covers(w, have) for w in want)
            else:
                return False
            if not ok:
                return False
    return True


def _check_bucket(backend, bucket, prefix, trail_name):
    """CloudTrail's look at the bucket policy before it accepts a bucket (a
    missing bucket is left to moto's S3BucketDoesNotExistException)."""
    sts = bucket_statements(backend.account_id, bucket)
    if sts is None:
        return
    account = backend.account_id
    trail_arn = f"arn:aws:cloudtrail:{backend.region_name}:{account}:trail/{trail_name}"
    wants = [("s3:GetBucketAcl", f"arn:aws:s3:::{bucket}"),
             ("s3:PutObject", f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}AWSLogs/{account}/CloudTrail/x")]
    for action, resource in wants:
        if not any(st.get("Effect") == "Allow" and "cloudtrail.amazonaws.com" in service_principals(st)
                   and any(a in (action, "s3:*") for a in actions(st))
                   and resource_covers(st.get("Resource", []), resource)
                   and _cloudtrail_meets(st.get("Condition"), trail_arn, account) for st in sts):
            raise _error("InsufficientS3BucketPolicyException",
                         f"Incorrect S3 bucket policy is detected for bucket: {bucket}")


def _admits_cloudtrail(policy):
    for st in statements(policy):
        if (st.get("Effect") == "Allow" and "cloudtrail.amazonaws.com" in service_principals(st)
                and any(a in ("kms:GenerateDataKey*", "kms:GenerateDataKey", "kms:*") for a in actions(st))):
            return True
    return False


def _check_key(backend, kms_key_id):
    """The key's ARN, once CloudTrail could use it; None to leave as given."""
    from moto.kms.models import kms_backends

    if not kms_key_id:
        return None
    kms = kms_backends[backend.account_id][backend.region_name]
    try:
        key = kms.describe_key(kms_key_id)
    except Exception:
        raise _error("KmsKeyNotFoundException", f"KMS key {kms_key_id} not found in {backend.region_name}.")
    if key.key_state != "Enabled":
        raise _error("KmsException", f"KMS key {key.arn} is {key.key_state}.")
    if not _admits_cloudtrail(key.policy):
        raise _error("InsufficientEncryptionPolicyException",
                     f"Insufficient permissions to access S3 bucket or KMS key {key.arn}.")
    return key.arn


def _patch_cloudtrail():
    from moto.cloudtrail.models import CloudTrailBackend, TrailStatus

    create, update, status = (CloudTrailBackend.create_trail, CloudTrailBackend.update_trail,
                              CloudTrailBackend.get_trail_status)

    def create_trail(self, name, bucket_name, s3_key_prefix, sns_topic_name, is_global, is_multi_region,
                     log_validation, is_org_trail, cw_log_group_arn, cw_role_arn, kms_key_id, tags_list):
        _check_bucket(self, bucket_name, s3_key_prefix, name)
        _check_delivery(self, cw_log_group_arn or "", cw_role_arn or "")
        kms_key_id = _check_key(self, kms_key_id) or kms_key_id
        return create(self, name, bucket_name, s3_key_prefix, sns_topic_name, is_global, is_multi_region,
                      log_validation, is_org_trail, cw_log_group_arn, cw_role_arn, kms_key_id, tags_list)

    def update_trail(self, name, s3_bucket_name, s3_key_prefix, sns_topic_name, include_global_service_events,
                     is_multi_region_trail, enable_log_file_validation, is_organization_trail, cw_log_group_arn,
                     cw_role_arn, kms_key_id):
        trail = self.get_trail(name)
        if s3_bucket_name:
            prefix = trail.s3_key_prefix if s3_key_prefix is None else s3_key_prefix
            _check_bucket(self, s3_bucket_name, prefix, trail.trail_name)
        if cw_log_group_arn is not None or cw_role_arn is not None:
            group = trail.cw_log_group_arn if cw_log_group_arn is None else cw_log_group_arn
            role = trail.cw_role_arn if cw_role_arn is None else cw_role_arn
            _check_delivery(self, group or "", role or "")
        kms_key_id = _check_key(self, kms_key_id) or kms_key_id
        return update(self, name, s3_bucket_name, s3_key_prefix, sns_topic_name, include_global_service_events,
                      is_multi_region_trail, enable_log_file_validation, is_organization_trail, cw_log_group_arn,
                      cw_role_arn, kms_key_id)

    def get_trail_status(self, name):
        st = status(self, name)
        trail = next((t for t in self.describe_trails(include_shadow_trails=True) if t.status is st), None)
        st.delivers_to_cloudwatch = bool(trail and trail.cw_log_group_arn)
        return st

    describe = TrailStatus.description

    def description(self):
        desc = describe(self)
        if self.is_logging and getattr(self, "delivers_to_cloudwatch", False):
            desc["LatestCloudWatchLogsDeliveryTime"] = int(time.time())
        return desc

    from moto.cloudtrail.models import Trail

    init = Trail.__init__

    def trail_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.event_selectors = [
            {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
             "ExcludeManagementEventSources": []}]

    Trail.__init__ = trail_init
    CloudTrailBackend.create_trail = create_trail
    CloudTrailBackend.update_trail = update_trail
    CloudTrailBackend.get_trail_status = get_trail_status
    TrailStatus.description = description


def _patch_metric_filters():
    from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
    from moto.logs.models import LogsBackend

    put = LogsBackend.put_metric_filter

    def put_metric_filter(self, filter_name, filter_pattern, log_group_name, metric_transformations):
        if log_group_name not in self.groups:
            raise ResourceNotFoundException("The specified log group does not exist.")
        if len(filter_pattern or "") > 1024:
            raise InvalidParameterException(
                msg=f"1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: "
                    f"Member must have length less than or equal to 1024 (was {len(filter_pattern)})")
        self.filters.delete_filter(filter_name, log_group_name)
        return put(self, filter_name, filter_pattern, log_group_name, metric_transformations)

    delete_group = LogsBackend.delete_log_group

    def delete_log_group(self, log_group_name):
        delete_group(self, log_group_name)
        self.filters.metric_filters = [f for f in self.filters.metric_filters if f["logGroupName"] != log_group_name]

    LogsBackend.put_metric_filter = put_metric_filter
    LogsBackend.delete_log_group = delete_log_group


def install():
    _patch_cloudtrail()
    _patch_metric_filters()
