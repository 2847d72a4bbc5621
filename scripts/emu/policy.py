"""Reading IAM policy documents the way AWS's services check them before
they act: which services a statement admits, and the trust statements of a
role (the emulator's refusals of a role or key a service could not use).
"""
import json
import re


def statements(document):
    """The statements of a policy document (JSON text; empty for none)."""
    return json.loads(document or "{}").get("Statement", [])


def service_principals(statement):
    """The service principals a statement names (`Principal.Service`, one or many)."""
    p = statement.get("Principal")
    svc = p.get("Service", []) if isinstance(p, dict) else []
    return svc if isinstance(svc, list) else [svc]


def actions(statement):
    """The actions a statement names (`Action`, one or many)."""
    a = statement.get("Action", [])
    return a if isinstance(a, list) else [a]


def role_trust(account_id, role_arn):
    """The trust statements of the role `role_arn`, or None without such a role."""
    from moto.iam.models import iam_backends

    role = next((r for r in iam_backends[account_id]["global"].roles.values() if r.arn == role_arn), None)
    return None if role is None else statements(role.assume_role_policy_document)


def resource_covers(resource, want):
    """Whether a statement's `Resource` (one or many, `*` wildcards) covers the ARN `want`."""
    resources = resource if isinstance(resource, list) else [resource]
    for r in resources:
        pattern = "^" + re.escape(r).replace(r"\*", ".*") + "$"
        if re.match(pattern, want):
            return True
    return False


def bucket_statements(account_id, bucket):
    """The statements of `bucket`'s policy (empty without a policy), or None
    without such a bucket."""
    from moto.s3.models import s3_backends

    b = s3_backends[account_id]["aws"].buckets.get(bucket)
    if b is None:
        return None
    doc = b.policy.decode() if isinstance(b.policy, bytes) else b.policy
    return statements(doc)
