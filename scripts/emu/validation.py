"""Request validation (always on): every request is checked against the
botocore service model of its operation, as AWS checks it and moto does
not — required members, string and list lengths, patterns, enums, numeric
ranges — plus the documented limits the models leave out (LIMITS below). A
violation gets the error AWS would send (EC2 `MissingParameter` /
`InvalidParameterValue`, ECS `InvalidParameterException` / `ClientException`,
query services `ValidationError`, CloudFront and S3 `InvalidArgument`, …)
and never reaches moto. The SDKs check few of these client-side (the Rust
SDK none of the lengths or ranges), so a request moto would have accepted
fails here as it fails on AWS.

`GET /moodlectl-emu/validation` returns the count of refused requests and
the last few messages.
"""
import re
import threading

from moto.core.exceptions import ServiceException
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import determine_request_protocol
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import get_service_model


class Refused(ServiceException):
    """A request AWS would refuse (defined here, not in moto: moto looks an
    exception's error model up by the moto package that raised it)."""


_lock = threading.Lock()
_refused = {"count": 0, "last": []}
_patterns = {}

# The error code each service answers a malformed request with.
CODES = {
    "ec2": ("MissingParameter", "InvalidParameterValue"),
    "ecs": ("InvalidParameterException", "InvalidParameterException"),
    "iam": ("ValidationError", "ValidationError"),
    "elbv2": ("ValidationError", "ValidationError"),
    "sts": ("ValidationError", "ValidationError"),
    "rds": ("InvalidParameterValue", "InvalidParameterValue"),
    "elasticache": ("InvalidParameterValue", "InvalidParameterValue"),
    "sns": ("InvalidParameter", "InvalidParameter"),
    "s3": ("InvalidArgument", "InvalidArgument"),
    "cloudfront": ("InvalidArgument", "InvalidArgument"),
    "efs": ("BadRequest", "BadRequest"),
    "wafv2": ("WAFInvalidParameterException", "WAFInvalidParameterException"),
    "logs": ("InvalidParameterException", "InvalidParameterException"),
    "cloudtrail": ("InvalidParameterCombinationException", "InvalidParameterCombinationException"),
    "secretsmanager": ("InvalidParameterException", "InvalidParameterException"),
}

# Fargate task sizes (ECS developer guide, "Task CPU and memory"): CPU units
# → the memory values (MiB) allowed with it.
FARGATE = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}
# CloudFront's default "response timeout per origin" quota; above it an
# increase must have been granted (MOODLECTL_EMU_CF_READ_TIMEOUT_QUOTA).
CF_READ_TIMEOUT_QUOTA = 60


def _ecs_client_token(params, region):
    t = params.get("clientToken")
    if t is not None and len(t) > 36:
        return "InvalidParameterException", f"clientToken can be at most 36 characters (got {len(t)})"


def _fargate_size(params, region):
    if "FARGATE" not in (params.get("requiresCompatibilities") or []):
        return None
    try:
        cpu, mem = int(params.get("cpu") or 0), int(params.get("memory") or 0)
    except ValueError:
        return "ClientException", "Invalid 'cpu' or 'memory' setting for task."
    if mem not in FARGATE.get(cpu, set()):
        return "ClientException", f"No Fargate configuration exists for given values: {cpu} CPU, {mem} memory."


def _origin_read_timeouts(params, region):
    import os

    quota = int(os.environ.get("MOODLECTL_EMU_CF_READ_TIMEOUT_QUOTA", CF_READ_TIMEOUT_QUOTA))
    cfg = params.get("DistributionConfigWithTags", {}).get("DistributionConfig") or params.get("DistributionConfig") or {}
    for o in (cfg.get("Origins") or {}).get("Items") or []:
        t = (o.get("CustomOriginConfig") or {}).get("OriginReadTimeout")
        if t is None:
            continue
        t = int(t)
        if not 1 <= t <= 120:
            return "InvalidArgument", f"OriginReadTimeout {t} is out of range: 1 to 120 seconds."
        if t > quota:
            return ("InvalidArgument",
                    f"OriginReadTimeout {t} exceeds this account's response timeout quota ({quota} s); request an increase.")


# Performance Insights is not offered on these classes (RDS and Aurora user
# guides); on Aurora MySQL not on any db.t2 or db.t3 class either.
PI_UNSUPPORTED = {"db.t2.micro", "db.t2.small", "db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small"}
# Major versions RDS offers per engine (RDS User Guide, supported versions).
RDS_MAJOR_VERSIONS = {"mysql": ("5.7", "8.0", "8.4"), "mariadb": ("10.5", "10.6", "10.11", "11.4", "11.8")}


def _rds_instance(params, region):
    engine, cls = params.get("Engine", ""), params.get("DBInstanceClass", "")
    if params.get("EnablePerformanceInsights"):
        aurora = engine.startswith("aurora")
        if cls in PI_UNSUPPORTED or aurora and cls.startswith(("db.t2.", "db.t3.")):
            return "InvalidParameterCombination", f"Performance Insights not supported for this configuration ({engine}, {cls})."
    version = params.get("EngineVersion")
    majors = RDS_MAJOR_VERSIONS.get(engine)
    if version and majors and not any(version == m or version.startswith(m + ".") for m in majors):
        return "InvalidParameterCombination", f"Cannot find version {version} for {engine}"


def _ecs_strategy_for_arm(params, region):
    """AWS accepts it and never places a task: Fargate Spot runs x86 only.
    The emulator refuses, so the mistake shows at once."""
    spot = [s for s in params.get("capacityProviderStrategy") or [] if s.get("capacityProvider") == "FARGATE_SPOT"]
    if not any(int(s.get("weight") or 0) > 0 or int(s.get("base") or 0) > 0 for s in spot):
        return None
    try:
        from moto.ecs.models import ecs_backends

        backend = ecs_backends["123456789012"][region]
        td = backend.describe_task_definition(params.get("taskDefinition"))
        arch = (getattr(td, "runtime_platform", None) or {}).get("cpuArchitecture")
    except Exception:  # noqa: BLE001 — without the task definition, nothing to check
        return None
    if arch == "ARM64":
        return ("InvalidParameterException",
                "Fargate Spot does not support ARM64 tasks: the service's FARGATE_SPOT share would never be placed.")


def _ec2_client_token(params, region):
    t = params.get("ClientToken")
    if t is not None and len(t) > 64:
        return "InvalidParameterValue", f"ClientToken can be at most 64 ASCII characters (got {len(t)})"


# (service, operation) → check(params, region); each returns (code, message) or None.
LIMITS = {
    ("ecs", "CreateService"): lambda p, r: _ecs_client_token(p, r) or _ecs_strategy_for_arm(p, r),
    ("ecs", "RegisterTaskDefinition"): _fargate_size,
    ("cloudfront", "CreateDistribution"): _origin_read_timeouts,
    ("cloudfront", "CreateDistributionWithTags"): _origin_read_timeouts,
    ("cloudfront", "UpdateDistribution"): _origin_read_timeouts,
    ("ec2", "*"): _ec2_client_token,
    ("rds", "CreateDBInstance"): _rds_instance,
    ("ecs", "UpdateService"): _ecs_strategy_for_arm,
}


def _debug(msg):
    import os
    import sys

    if os.environ.get("MOODLECTL_EMU_VALIDATION_DEBUG"):
        print(f"validation: {msg}", file=sys.stderr)


def _pattern(p):
    if p not in _patterns:
        try:
            _patterns[p] = re.compile(p, re.DOTALL)
        except re.error:
            _patterns[p] = None  # a Java-only construct: not checked
    return _patterns[p]


def check(value, shape, name, problems):
    """Append to `problems` each way `value` breaks `shape` (model limits)."""
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            return
        for req in shape.required_members:
            if value.get(req) is None:
                problems.append(("missing", f"{name}.{req}" if name else req))
        for k, v in value.items():
            if k in shape.members and v is not None:
                check(v, shape.members[k], f"{name}.{k}" if name else k, problems)
    elif t == "list":
        if not isinstance(value, list):
            return
        _length(len(value), meta, name, problems)
        for i, v in enumerate(value):
            check(v, shape.member, f"{name}[{i}]", problems)
    elif t == "map":
        if isinstance(value, dict):
            for k, v in value.items():
                check(v, shape.value, f"{name}.{k}", problems)
    elif t == "string":
        if not isinstance(value, str):
            return
        _length(len(value), meta, name, problems)
        if shape.enum and value not in shape.enum:
            problems.append(("invalid", f"{name}: '{value}' is not one of {', '.join(shape.enum)}"))
        pat = meta.get("pattern")
        rx = _pattern(pat) if pat else None
        if rx is not None and value and not rx.fullmatch(value) and not rx.match(value):
            problems.append(("invalid", f"{name}: '{value[:64]}' does not match the pattern {pat}"))
    elif t in ("integer", "long", "double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if "min" in meta and value < meta["min"]:
            problems.append(("invalid", f"{name}: {value} is below the minimum {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            problems.append(("invalid", f"{name}: {value} is above the maximum {meta['max']}"))


def _length(n, meta, name, problems):
    if "min" in meta and n < meta["min"]:
        problems.append(("invalid", f"{name}: length {n} is below the minimum {meta['min']}"))
    if "max" in meta and n > meta["max"]:
        problems.append(("invalid", f"{name}: length {n} is above the maximum {meta['max']}"))


def _plain(v):
    """moto's parsed parameters as plain dicts and lists."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def refusal(response):
    """(code, message) when the request breaks its operation's model, else None."""
    try:
        action = response._get_action()
        service_model = get_service_model(response.boto3_service_name)
        op = service_model.operation_model(action)
    except Exception as e:  # noqa: BLE001 — an operation the model lacks is moto's to answer
        _debug(f"no model for {getattr(response, 'boto3_service_name', '?')}: {e!r}")
        return None
    if op.input_shape is None:
        return None
    try:
        protocol = determine_request_protocol(service_model, response.normalized_request.content_type)
        parser = PROTOCOL_PARSERS[protocol](op)
        params = _plain(
            parser.parse(
                {
                    "method": response.normalized_request.method,
                    "values": response.normalized_request.values,
                    "headers": response.normalized_request.headers,
                    "body": response.normalized_request.data,
                    "url_path": response.normalized_request.path,
                    "url_params": response.uri_match,
                }
            )
        )
    except Exception as e:  # noqa: BLE001 — a request moto's parser cannot read is left to moto
        _debug(f"unparsed {response.boto3_service_name}.{action}: {e!r}")
        return None
    svc = response.boto3_service_name
    missing_code, invalid_code = CODES.get(svc, ("ValidationException", "ValidationException"))
    problems = []
    check(params, op.input_shape, "", problems)
    if problems:
        kind, msg = problems[0]
        code = missing_code if kind == "missing" else invalid_code
        text = f"The request must contain the parameter {msg}" if kind == "missing" else f"Invalid value: {msg}"
        return code, text
    for key in ((svc, action), (svc, "*")):
        limit = LIMITS.get(key)
        found = limit(params, response.region) if limit else None
        if found:
            return found
    return None


def install():
    orig = BaseResponse.call_action

    def call_action(self):
        found = refusal(self)
        if not found:
            return orig(self)
        code, msg = found
        with _lock:
            _refused["count"] += 1
            _refused["last"] = (_refused["last"] + [f"{self.boto3_service_name}.{self._get_action()}: {code}: {msg}"])[-20:]
        status, headers, body = self.serialized(ActionResult(Refused(code, msg)))
        if not isinstance(status, int) or status < 400:
            status = 400
        return status, headers, body

    BaseResponse.call_action = call_action


def counts():
    with _lock:
        return {"refused": _refused["count"], "last": list(_refused["last"])}


def serve_counts():
    """`GET /moodlectl-emu/validation`, in front of moto."""
    import moto.server as server

    from emu import wire

    orig = server.run_simple

    def app_with_counts(app):
        def wrapped(environ, start_response):
            if environ.get("PATH_INFO") == "/moodlectl-emu/validation":
                return wire.json_answer(start_response, counts())
            return app(environ, start_response)

        return wrapped

    def run_simple(host, port, app, **kw):
        return orig(host, port, app_with_counts(app), **kw)

    server.run_simple = run_simple
