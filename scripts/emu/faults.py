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

from emu import wire


class Faults:
    """WSGI middleware in front of moto: see "Fault mode" above."""

    KINDS = ("throttle", "500", "503", "timeout")

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
        if path.startswith("/moto-api") or not wire.from_moodlectl(environ):
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
        if kind == "500":
            status, code, msg = "500 Internal Server Error", "InternalError", "We encountered an internal error. Please try again."
        elif kind == "503":
            status, code, msg = "503 Service Unavailable", "ServiceUnavailable", "Service is unavailable. Please try again."
        else:
            # Throttling, in each protocol's own words.
            svc = wire.service(environ)
            status, code, msg = {
                "ec2": ("503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded."),
                "s3": ("503 Slow Down", "SlowDown", "Please reduce your request rate."),
                "elasticfilesystem": ("429 Too Many Requests", "ThrottlingException", "Rate exceeded"),
                "backup": ("429 Too Many Requests", "ThrottlingException", "Rate exceeded"),
            }.get(svc, ("400 Bad Request", "Throttling", "Rate exceeded"))
            if environ.get("HTTP_X_AMZ_TARGET"):
                code = "ThrottlingException"
        return wire.error(environ, start_response, status, code, msg, sender=kind == "throttle")


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

