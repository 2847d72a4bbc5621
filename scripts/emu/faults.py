"""Faults (MOODLECTL_EMU_FAULTS = a fraction, e.g. 0.2): that fraction of
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
"""
import json
import os
import random
import sys
import threading
import time
from urllib.parse import parse_qs


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


def install():
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

