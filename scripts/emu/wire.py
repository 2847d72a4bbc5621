"""The wire in front of moto: which service and operation a raw request is
for, and an error answer in that service's own protocol, so a refusal the
emulator serves (emu.faults, emu.consistency) reads to an SDK exactly like
AWS's: EC2 `<Response><Errors>`, query services `<ErrorResponse>`, JSON
services `__type`, EFS `ErrorCode`, AWS Backup `x-amzn-ErrorType`, S3 `<Error>`
(CloudWatch's CBOR answers are made from the JSON ones by emu.cbor).
"""
import json
from urllib.parse import parse_qs

# Query-protocol services whose errors are <ErrorResponse> documents.
QUERY = {"rds", "elasticache", "iam", "sns", "elasticloadbalancing", "sts", "cloudformation", "autoscaling", "monitoring"}


def service(environ):
    """The SigV4 credential scope's service (Credential=AKID/date/region/SERVICE/aws4_request)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return auth.split("Credential=")[-1].split("/")[3] if "Credential=" in auth else ""


def region(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return auth.split("Credential=")[-1].split("/")[2] if "Credential=" in auth else "us-east-1"


def from_moodlectl(environ):
    """Requests of moodlectl itself (a test's independent checks pass untouched)."""
    ua = environ.get("HTTP_USER_AGENT", "") + " " + environ.get("HTTP_X_AMZ_USER_AGENT", "")
    return "app/moodlectl" in ua


def read_body(environ):
    """The request body, put back so moto can read it again."""
    import io

    n = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(n) if n else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def operation(environ, body):
    """(action, params): the query `Action` and form values, or the JSON
    target's operation and its JSON body; REST services give (None, {})."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        try:
            return target.split(".")[-1], json.loads(body or b"{}")
        except ValueError:
            return target.split(".")[-1], {}
    ctype = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in ctype or environ.get("REQUEST_METHOD") == "POST" and body[:7] == b"Action=":
        q = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        return q.get("Action"), q
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    return q.get("Action"), q


def error(environ, start_response, status, code, msg, sender=True):
    """Answer with `code` in the protocol of the request's service."""
    svc = service(environ)
    headers = []
    if svc == "elasticfilesystem":
        body = json.dumps({"ErrorCode": code, "Message": msg})
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    elif svc == "backup":
        # REST-JSON: the code in x-amzn-ErrorType (and the body).
        body = json.dumps({"__type": code, "Code": code, "Message": msg})
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    elif environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": code, "message": msg})
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif svc == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{_xml(msg)}</Message></Error></Errors><RequestID>emu</RequestID></Response>"
        )
    elif svc == "s3":
        body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{_xml(msg)}</Message><RequestId>emu</RequestId></Error>'
        headers = [("Content-Type", "text/xml")]
    else:
        kind = "Sender" if sender else "Receiver"
        body = f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{_xml(msg)}</Message></Error><RequestId>emu</RequestId></ErrorResponse>"
        headers = [("Content-Type", "text/xml")]
    data = body.encode()
    start_response(status, headers + [("Content-Length", str(len(data)))])
    return [data]


def _xml(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def json_answer(start_response, value):
    body = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
