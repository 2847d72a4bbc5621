"""AWS Backup jobs, recovery points and restores of EFS file systems.

moto models backup vaults and plans but no job: `StartBackupJob`,
`DescribeBackupJob`, `ListRecoveryPointsByBackupVault`,
`DescribeRecoveryPoint`, `DeleteRecoveryPoint`, `StartRestoreJob` and
`DescribeRestoreJob` do not exist, and a vault can be deleted while it holds
recovery points. Here, as on AWS:
- a backup job needs an existing vault, an existing IAM role that
  backup.amazonaws.com may assume, and an existing EFS file system; it is
  CREATED, then RUNNING, then COMPLETED after `JOB_S` × MOODLECTL_EMU_SCALE
  (at least 1 s) and leaves a COMPLETED recovery point of the file system's
  size; the same IdempotencyToken returns the same job;
- a restore job of an EFS recovery point with `newFileSystem=true` creates a
  new (encrypted, tagged as asked) file system, reported as the job's
  CreatedResourceArn once COMPLETED;
- `DeleteBackupVault` of a vault with recovery points is refused
  (InvalidRequestException); `DescribeBackupVault` counts them.
- A vault created without a key reports the account's AWS-managed
  `aws/backup` key as its `EncryptionKeyArn`, as AWS does (moto: none).
- EFS `PutBackupPolicy` (moto has the read only) turns a file system's
  automatic backups on or off — a restored file system starts with them off.
- Backup plans: `UpdateBackupPlan` (moto lacks it) replaces the rules and
  makes a new version; selections (`CreateBackupSelection`,
  `ListBackupSelections`, `GetBackupSelection`, `DeleteBackupSelection`,
  all missing in moto) need an existing plan and a role AWS Backup may
  assume; `DeleteBackupPlan` is refused while the plan has selections
  (InvalidRequestException), as on AWS; a deleted plan's name can be used
  again (moto refuses it forever).
"""
import json
import time
import uuid
from urllib.parse import unquote

from emu.clock import SCALE
from moto.backup import responses as backup_responses
from moto.backup import urls as backup_urls
from moto.backup.models import backup_backends
from moto.core.exceptions import JsonRESTError
from moto.efs.models import efs_backends
from moto.iam.models import iam_backends

JOB_S = 60
_jobs = {}  # (account, region) → {job id: job dict}
_points = {}  # (account, region) → {recovery point ARN: point dict}
_restores = {}  # (account, region) → {restore job id: job dict}
_tokens = {}  # (account, region, token) → job id


def _err(code, msg):
    return JsonRESTError(code, msg)


def _now():
    return time.time()


def _done_at():
    return time.monotonic() + max(1.0, JOB_S * SCALE)


def _key(r):
    return (r.current_account, r.region)


def _fs_id(arn):
    return arn.rsplit("/", 1)[-1]


def _advance(key):
    """Jobs whose time has come complete (and leave their recovery point)."""
    for job in _jobs.get(key, {}).values():
        if job["State"] != "COMPLETED" and time.monotonic() >= job["_done"]:
            job["State"], job["PercentDone"], job["CompletionDate"] = "COMPLETED", "100.0", _now()
            point = {
                "RecoveryPointArn": job["RecoveryPointArn"], "BackupVaultName": job["BackupVaultName"],
                "BackupVaultArn": job["BackupVaultArn"], "ResourceArn": job["ResourceArn"],
                "ResourceType": "EFS", "IamRoleArn": job["IamRoleArn"], "Status": "COMPLETED",
                "CreationDate": job["CreationDate"], "CompletionDate": job["CompletionDate"],
                "BackupSizeInBytes": job["BackupSizeInBytes"], "CreatedBy": {}, "IsEncrypted": True,
                "EncryptionKeyArn": f"arn:aws:kms:{key[1]}:{key[0]}:key/aws-backup",
            }
            _points.setdefault(key, {})[point["RecoveryPointArn"]] = point
        elif job["State"] == "CREATED":
            job["State"] = "RUNNING"
    for job in _restores.get(key, {}).values():
        if job["Status"] != "COMPLETED" and time.monotonic() >= job["_done"]:
            job["Status"], job["CompletionDate"], job["PercentDone"] = "COMPLETED", _now(), "100.0"
            job["CreatedResourceArn"] = job.pop("_create")()


def _public(d):
    return {k: v for k, v in d.items() if not k.startswith("_")}


def _size(fs):
    """The file system's metered size (moto's new file systems say 0 or nothing: 6 KiB, as an empty EFS)."""
    size = getattr(fs, "size_in_bytes", None)
    value = size.get("Value") if isinstance(size, dict) else None
    return int(value or 6144)


def _role_ok(account, arn):
    iam = iam_backends[account]["global"]
    name = arn.rsplit("/", 1)[-1]
    try:
        role = iam.get_role(name)
    except Exception:
        return False
    return "backup.amazonaws.com" in (role.assume_role_policy_document or "")


def start_backup_job(self):
    p = json.loads(self.body or "{}")
    key = _key(self)
    token = p.get("IdempotencyToken")
    if token and (key + (token,)) in _tokens:
        job = _jobs[key][_tokens[key + (token,)]]
        return json.dumps({"BackupJobId": job["BackupJobId"], "RecoveryPointArn": job["RecoveryPointArn"],
                           "CreationDate": job["CreationDate"]})
    vault = self.backup_backend.vaults.get(p.get("BackupVaultName"))
    if vault is None:
        raise _err("ResourceNotFoundException", f"Backup vault {p.get('BackupVaultName')} does not exist")
    if not _role_ok(self.current_account, p.get("IamRoleArn", "")):
        raise _err("InvalidParameterValueException",
                   f"IAM Role {p.get('IamRoleArn')} does not exist or cannot be assumed by AWS Backup")
    arn = p.get("ResourceArn", "")
    efs = efs_backends[self.current_account][self.region]
    fs = efs.file_systems_by_id.get(_fs_id(arn)) if ":elasticfilesystem:" in arn else None
    if fs is None:
        raise _err("InvalidParameterValueException", f"Resource {arn} does not exist or is not supported")
    if p.get("StartWindowMinutes") is not None and int(p["StartWindowMinutes"]) < 60:
        raise _err("InvalidParameterValueException", "StartWindowMinutes must be at least 60 minutes")
    job_id = str(uuid.uuid4()).upper()
    point = f"arn:aws:backup:{self.region}:{self.current_account}:recovery-point:{uuid.uuid4()}"
    job = {
        "BackupJobId": job_id, "AccountId": self.current_account, "BackupVaultName": vault.backup_vault_name,
        "BackupVaultArn": vault.backup_vault_arn, "RecoveryPointArn": point, "ResourceArn": arn,
        "ResourceType": "EFS", "IamRoleArn": p["IamRoleArn"], "State": "CREATED", "PercentDone": "0.0",
        "CreationDate": _now(), "BackupSizeInBytes": _size(fs),
        "_done": _done_at(),
    }
    _jobs.setdefault(key, {})[job_id] = job
    if token:
        _tokens[key + (token,)] = job_id
    return json.dumps({"BackupJobId": job_id, "RecoveryPointArn": point, "CreationDate": job["CreationDate"]})


def describe_backup_job(self):
    key = _key(self)
    _advance(key)
    job = _jobs.get(key, {}).get(self.path.rstrip("/").split("/")[-1])
    if job is None:
        raise _err("ResourceNotFoundException", "Backup job not found")
    return json.dumps(_public(job))


def list_recovery_points_by_backup_vault(self):
    key = _key(self)
    _advance(key)
    name = unquote(self.path.split("/backup-vaults/")[1].split("/")[0])
    if name not in self.backup_backend.vaults:
        raise _err("ResourceNotFoundException", f"Backup vault {name} does not exist")
    points = [p for p in _points.get(key, {}).values() if p["BackupVaultName"] == name]
    return json.dumps({"RecoveryPoints": points})


def _point_from_path(self):
    key = _key(self)
    _advance(key)
    arn = unquote(self.path.split("/recovery-points/")[1].rstrip("/"))
    point = _points.get(key, {}).get(arn)
    if point is None:
        raise _err("ResourceNotFoundException", f"Recovery point {arn} not found")
    return key, arn, point


def describe_recovery_point(self):
    return json.dumps(_point_from_path(self)[2])


def delete_recovery_point(self):
    key, arn, _ = _point_from_path(self)
    del _points[key][arn]
    return "{}"


def start_restore_job(self):
    p = json.loads(self.body or "{}")
    key = _key(self)
    _advance(key)
    point = _points.get(key, {}).get(p.get("RecoveryPointArn"))
    if point is None:
        raise _err("ResourceNotFoundException", f"Recovery point {p.get('RecoveryPointArn')} not found")
    if not _role_ok(self.current_account, p.get("IamRoleArn", "")):
        raise _err("InvalidParameterValueException", f"IAM Role {p.get('IamRoleArn')} cannot be assumed by AWS Backup")
    meta = p.get("Metadata") or {}
    if meta.get("newFileSystem") != "true":
        raise _err("InvalidParameterValueException", "the emulator restores EFS to a new file system only")
    efs = efs_backends[self.current_account][self.region]
    region, account = self.region, self.current_account

    def create():
        fs = efs.create_file_system(
            creation_token=meta.get("CreationToken") or str(uuid.uuid4()),
            performance_mode=meta.get("PerformanceMode", "generalPurpose"),
            encrypted=meta.get("Encrypted", "true") == "true", kms_key_id=meta.get("KmsKeyId"),
            throughput_mode="elastic", provisioned_throughput_in_mibps=None, availability_zone_name=None,
            backup=False, tags=json.loads(meta.get("Tags", "[]")) if isinstance(meta.get("Tags"), str) else [],
        )
        return f"arn:aws:elasticfilesystem:{region}:{account}:file-system/{fs.file_system_id}"

    job_id = str(uuid.uuid4()).upper()
    _restores.setdefault(key, {})[job_id] = {
        "RestoreJobId": job_id, "AccountId": account, "RecoveryPointArn": point["RecoveryPointArn"],
        "CreationDate": _now(), "Status": "RUNNING", "IamRoleArn": p["IamRoleArn"], "ResourceType": "EFS",
        "_done": _done_at(), "_create": create,
    }
    return json.dumps({"RestoreJobId": job_id})


def describe_restore_job(self):
    key = _key(self)
    _advance(key)
    job = _restores.get(key, {}).get(self.path.rstrip("/").split("/")[-1])
    if job is None:
        raise _err("ResourceNotFoundException", "Restore job not found")
    return json.dumps(_public(job))


def put_backup_policy(self):
    fs_id = self._get_param("FileSystemId") or self.path.split("/file-systems/")[1].split("/")[0]
    status = (json.loads(self.body or "{}").get("BackupPolicy") or {}).get("Status", "ENABLED")
    fs = self.efs_backend.file_systems_by_id.get(fs_id)
    if fs is None:
        raise _err("FileSystemNotFound", f"File system {fs_id} does not exist.")
    fs._backup = status == "ENABLED"
    return json.dumps({"BackupPolicy": {"Status": "ENABLED" if fs._backup else "DISABLED"}}), {
        "Content-Type": "application/json"}


_selections = {}  # (account, region) → {plan id: {selection id: selection dict}}


def _plan_id(self):
    return self.path.split("/plans/", 1)[1].split("/")[0]


def _plan(self, plan_id):
    plan = self.backup_backend.plans.get(plan_id)
    if plan is None or plan.deletion_date is not None:
        raise _err("ResourceNotFoundException", f"Failed reading Backup plan with provided version: {plan_id}")
    return plan


def update_backup_plan(self):
    plan = _plan(self, _plan_id(self))
    p = json.loads(self.body or "{}")
    plan.backup_plan = p["BackupPlan"]
    plan.version_id = str(uuid.uuid4())
    return json.dumps({"BackupPlanId": plan.backup_plan_id, "BackupPlanArn": plan.backup_plan_arn,
                       "VersionId": plan.version_id, "CreationDate": _now()})


def create_backup_selection(self):
    plan_id = _plan_id(self)
    _plan(self, plan_id)
    p = json.loads(self.body or "{}")
    sel = p["BackupSelection"]
    if not _role_ok(self.current_account, sel.get("IamRoleArn", "")):
        raise _err("InvalidParameterValueException", f"IAM Role {sel.get('IamRoleArn')} cannot be assumed by AWS Backup")
    sid = str(uuid.uuid4())
    _selections.setdefault(_key(self), {}).setdefault(plan_id, {})[sid] = {
        "SelectionId": sid, "BackupPlanId": plan_id, "CreationDate": _now(),
        "CreatorRequestId": p.get("CreatorRequestId"), "BackupSelection": sel}
    return json.dumps({"SelectionId": sid, "BackupPlanId": plan_id, "CreationDate": _now()})


def _selection_path(self):
    rest = self.path.split("/selections", 1)[1].strip("/")
    return _plan_id(self), unquote(rest)


def list_backup_selections(self):
    plan_id = _plan_id(self)
    _plan(self, plan_id)
    sels = _selections.get(_key(self), {}).get(plan_id, {}).values()
    return json.dumps({"BackupSelectionsList": [
        {"SelectionId": s["SelectionId"], "SelectionName": s["BackupSelection"]["SelectionName"],
         "BackupPlanId": plan_id, "CreationDate": s["CreationDate"], "IamRoleArn": s["BackupSelection"]["IamRoleArn"]}
        for s in sels]})


def get_backup_selection(self):
    plan_id, sid = _selection_path(self)
    s = _selections.get(_key(self), {}).get(plan_id, {}).get(sid)
    if s is None:
        raise _err("ResourceNotFoundException", f"Selection {sid} not found")
    return json.dumps(s)


def delete_backup_selection(self):
    plan_id, sid = _selection_path(self)
    if _selections.get(_key(self), {}).get(plan_id, {}).pop(sid, None) is None:
        raise _err("ResourceNotFoundException", f"Selection {sid} not found")
    return "{}"


def install():
    from moto.efs.responses import EFSResponse
    EFSResponse.put_backup_policy = put_backup_policy
    r = backup_responses.BackupResponse
    for f in (start_backup_job, describe_backup_job, list_recovery_points_by_backup_vault, describe_recovery_point,
              delete_recovery_point, start_restore_job, describe_restore_job, update_backup_plan,
              create_backup_selection, list_backup_selections, get_backup_selection, delete_backup_selection):
        setattr(r, f.__name__, f)
    d = backup_urls.response.dispatch
    backup_urls.url_paths.update({
        "{0}/backup-jobs/?$": d,
        "{0}/backup-jobs/(?P<job>[^/]+)/?$": d,
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/?$": d,
        "{0}/backup-vaults/(?P<name>[^/]+)/recovery-points/(?P<arn>.+)$": d,
        "{0}/restore-jobs/?$": d,
        "{0}/restore-jobs/(?P<job>[^/]+)/?$": d,
    })
    backend = type(backup_backends["123456789012"]["us-east-1"])
    delete = backend.delete_backup_vault
    describe = backend.describe_backup_vault

    def count(self, name):
        return sum(1 for p in _points.get((self.account_id, self.region_name), {}).values()
                   if p["BackupVaultName"] == name)

    def delete_backup_vault(self, backup_vault_name):
        if count(self, backup_vault_name):
            raise _err("InvalidRequestException",
                       "Backup vault cannot be deleted because it contains recovery points.")
        return delete(self, backup_vault_name)

    def describe_backup_vault(self, backup_vault_name):
        vault = describe(self, backup_vault_name)
        vault.num_of_recovery_points = vault.number_of_recovery_points = count(self, backup_vault_name)
        return vault

    create_vault = backend.create_backup_vault

    def create_backup_vault(self, backup_vault_name, backup_vault_tags, encryption_key_arn, creator_request_id):
        # A vault is always encrypted: without a key of the caller's, AWS
        # Backup uses the account's AWS-managed `aws/backup` key, and
        # ListBackupVaults/DescribeBackupVault report its ARN (moto: none).
        if not encryption_key_arn:
            key = uuid.uuid5(uuid.NAMESPACE_URL, f"aws/backup/{self.account_id}/{self.region_name}")
            encryption_key_arn = f"arn:aws:kms:{self.region_name}:{self.account_id}:key/{key}"
        return create_vault(self, backup_vault_name, backup_vault_tags, encryption_key_arn, creator_request_id)

    backend.create_backup_vault = create_backup_vault

    delete_plan = backend.delete_backup_plan
    create_plan = backend.create_backup_plan

    def create_backup_plan(self, backup_plan, backup_plan_tags, creator_request_id):
        # A deleted plan's name is free again on AWS; moto keeps deleted plans
        # (with a deletion date) and refuses their names forever.
        name = backup_plan["BackupPlanName"]
        for pid, plan in list(self.plans.items()):
            if plan.deletion_date is not None and plan.backup_plan["BackupPlanName"] == name:
                del self.plans[pid]
        return create_plan(self, backup_plan, backup_plan_tags, creator_request_id)

    backend.create_backup_plan = create_backup_plan

    def delete_backup_plan(self, backup_plan_id):
        if _selections.get((self.account_id, self.region_name), {}).get(backup_plan_id):
            raise _err("InvalidRequestException",
                       "Related backup plan selections must be deleted prior to backup plan deletion")
        return delete_plan(self, backup_plan_id)

    backend.delete_backup_plan = delete_backup_plan
    backend.delete_backup_vault = delete_backup_vault
    backend.describe_backup_vault = describe_backup_vault
