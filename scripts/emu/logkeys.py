"""CloudWatch Logs encryption with a customer-managed KMS key, as AWS checks
it (issue 17: the stack's log groups are encrypted with its own key); moto
stores any `kmsKeyId` without a look and lacks `AssociateKmsKey`:

- `kmsKeyId` must be a key ARN (CreateLogGroup/AssociateKmsKey API reference:
  "the Amazon Resource Name (ARN) of the KMS key"), of a key in the log
  group's own region; otherwise InvalidParameterException ("The specified KMS
  Key Id could not be found").
- The key must be enabled and its key policy must let the regional service
  principal `logs.<region>.amazonaws.com` use it; otherwise
  AccessDeniedException ("The specified KMS key does not exist or is not
  allowed to be used with Arn '<log group ARN>'") — the error Terraform users
  meet when the key policy lacks that statement.
- `AssociateKmsKey` (added) applies the same rules to an existing group;
  `DisassociateKmsKey` (added) removes the key.
"""
from moto.kms.models import kms_backends
from moto.logs import models as logs_models
from moto.logs import responses as logs_responses
from moto.logs.exceptions import InvalidParameterException, LogsClientError, ResourceNotFoundException

from emu.policy import service_principals, statements


class _AccessDenied(LogsClientError):
    def __init__(self, msg):
        super().__init__("AccessDeniedException", msg)


def _allows_logs(policy, region):
    want = f"logs.{region}.amazonaws.com"
    return any(s.get("Effect") == "Allow" and want in service_principals(s) for s in statements(policy))


def _check_key(account, region, group_arn, key_arn):
    parts = key_arn.split(":")
    if len(parts) != 6 or parts[2] != "kms" or not parts[5].startswith("key/") or parts[3] != region:
        raise InvalidParameterException(msg="The specified KMS Key Id could not be found.")
    key = kms_backends[parts[4]][region].keys.get(parts[5].removeprefix("key/"))
    if key is None or key.key_state != "Enabled" or not _allows_logs(key.policy, region):
        raise _AccessDenied(
            f"The specified KMS key does not exist or is not allowed to be used with Arn '{group_arn}'")


def _group_arn(backend, name):
    return f"arn:aws:logs:{backend.region_name}:{backend.account_id}:log-group:{name}"


def install():
    backend = logs_models.LogsBackend
    create = backend.create_log_group

    def create_log_group(self, log_group_name, tags, **kwargs):
        if kwargs.get("kmsKeyId"):
            _check_key(self.account_id, self.region_name, _group_arn(self, log_group_name), kwargs["kmsKeyId"])
        return create(self, log_group_name, tags, **kwargs)

    backend.create_log_group = create_log_group

    def key_handler(associate):
        def handler(self):
            name = self._get_param("logGroupName")
            group = self.logs_backend.groups.get(name)
            if group is None:
                raise ResourceNotFoundException()
            if associate:
                key = self._get_param("kmsKeyId")
                _check_key(self.logs_backend.account_id, self.logs_backend.region_name,
                           _group_arn(self.logs_backend, name), key)
                group.kms_key_id = key
            else:
                group.kms_key_id = None
            return ""

        return handler

    logs_responses.LogsResponse.associate_kms_key = key_handler(True)
    logs_responses.LogsResponse.disassociate_kms_key = key_handler(False)
