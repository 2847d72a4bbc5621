"""Smithy RPC v2 CBOR, the protocol the AWS SDKs now speak to CloudWatch.

The Rust SDK sends CloudWatch requests as CBOR to
`POST /service/GraniteServiceVersion20100801/operation/<Op>` (header
`smithy-protocol: rpc-v2-cbor`); moto 5.2.5 serves CloudWatch's query and
JSON protocols only and answers 404. Here each such request is translated to
the JSON protocol moto understands (same operation, same parameters, the
`X-Amz-Target` header), and moto's JSON answer back to CBOR: timestamps as
CBOR tag 1 (epoch seconds) where the service model says timestamp, errors as
`{"__type": …, "message": …}` with moto's status and headers. Nothing of
moto's behaviour changes.
"""
import base64
import datetime
import functools
import io
import json

import cbor2

PREFIX = "/service/"


# Services the SDKs reach over CBOR: the path's service ID → botocore's name.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}


@functools.lru_cache(maxsize=None)
def _service_model(service_id):
    import botocore.session

    name = SERVICES.get(service_id)
    return botocore.session.get_session().get_service_model(name) if name else None


def _model(service_id, op):
    model = _service_model(service_id)
    if model is None or op not in model.operation_names:
        return None, None
    return model.metadata["targetPrefix"], model.operation_model(op)


def _to_json(v):
    if isinstance(v, dict):
        return {k: _to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_to_json(x) for x in v]
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, datetime.datetime):
        return v.timestamp()
    if isinstance(v, cbor2.CBORTag) and v.tag == 1:
        return v.value
    return v


def _epoch(v):
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return datetime.datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return v


def _to_cbor(v, shape):
    """moto's JSON value of `shape`, as the CBOR protocol encodes it."""
    if shape is None or v is None:
        return v
    t = shape.type_name
    if t == "structure" and isinstance(v, dict):
        return {k: _to_cbor(x, shape.members.get(k)) for k, x in v.items()}
    if t == "list" and isinstance(v, list):
        return [_to_cbor(x, shape.member) for x in v]
    if t == "map" and isinstance(v, dict):
        return {k: _to_cbor(x, shape.value) for k, x in v.items()}
    if t == "timestamp":
        return cbor2.CBORTag(1, _epoch(v))
    if t == "blob" and isinstance(v, str):
        return base64.b64decode(v)
    if t in ("double", "float") and isinstance(v, int):
        return float(v)
    return v


class Cbor:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not (path.startswith(PREFIX) and "/operation/" in path):
            return self.app(environ, start_response)
        service_id, op = path[len(PREFIX):].split("/operation/", 1)
        target, op_model = _model(service_id, op)
        if op_model is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        params = _to_json(cbor2.loads(raw)) if raw else {}
        body = json.dumps(params).encode()
        inner = dict(environ)
        inner.update({
            "PATH_INFO": "/", "REQUEST_URI": "/", "RAW_URI": "/", "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/x-amz-json-1.0", "HTTP_X_AMZ_TARGET": f"{target}.{op}",
            "wsgi.input": io.BytesIO(body),
        })
        captured = {}

        def inner_start(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _: None

        chunks = b"".join(self.app(inner, inner_start))
        status = captured.get("status", "500 Internal Server Error")
        ok = status.startswith("2")
        try:
            answer = json.loads(chunks or b"{}")
        except ValueError:
            answer = {"__type": "InternalFailure", "message": chunks.decode(errors="replace")}
        if ok:
            out = _to_cbor(answer, op_model.output_shape) if op_model.output_shape else {}
        else:
            code = str(answer.get("__type") or answer.get("code") or "InternalFailure")
            out = {"__type": code, "message": answer.get("message") or answer.get("Message") or ""}
        payload = cbor2.dumps(out)
        keep = [(k, v) for k, v in captured.get("headers", []) if k.lower() not in ("content-type", "content-length")]
        start_response(status, keep + [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                                       ("Content-Length", str(len(payload)))])
        return [payload]


def install():
    import moto.server as server

    orig = server.run_simple

    def run_simple(host, port, app, **kw):
        return orig(host, port, Cbor(app), **kw)

    server.run_simple = run_simple
