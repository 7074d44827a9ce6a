"""AWS error responses in each wire protocol, so botocore parses them as it would AWS's.

botocore decides what an error *is* (``ClientError.response["Error"]["Code"]``) and whether
it is retryable (throttling) from the protocol-specific body, so every simulated error is
rendered in the protocol of the service that answers it.
"""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from xml.sax.saxutils import escape

import botocore.session

Response = tuple[int, dict[str, str], bytes]

# Protocol per signing name, for services whose botocore model name differs or is slow to load.
_KNOWN = {
    "s3": "rest-xml",
    "sagemaker": "json",
    "organizations": "json",
    "sts": "query",
    "iam": "query",
    "ec2": "ec2",
}


@lru_cache(maxsize=64)
def protocol_for(service: str) -> str:
    """Return the botocore protocol name (json, query, ec2, rest-xml, rest-json) of a service."""
    if service in _KNOWN:
        return _KNOWN[service]
    try:
        return str(botocore.session.get_session().get_service_model(service).protocol)
    except Exception:
        return "json"


def request_id() -> str:
    return str(uuid.uuid4())


def error_response(
    service: str, code: str, message: str, status: int, method: str = "POST"
) -> Response:
    """Render an AWS error for ``service`` in its protocol's format."""
    rid = request_id()
    protocol = protocol_for(service)
    headers = {"x-amzn-RequestId": rid, "x-amz-request-id": rid}
    if protocol in ("json", "rest-json"):
        headers["Content-Type"] = "application/x-amz-json-1.1"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    elif protocol == "ec2":
        headers["Content-Type"] = "text/xml"
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>"
        ).encode()
    elif protocol == "query":
        headers["Content-Type"] = "text/xml"
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
    else:  # rest-xml (S3)
        headers["Content-Type"] = "application/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
        ).encode()
    if method == "HEAD":
        body = b""
    return status, headers, body


def access_denied(service: str, message: str, method: str = "POST") -> Response:
    """403 as the service says it: AccessDenied (query, S3), AccessDeniedException (JSON),
    UnauthorizedOperation (EC2)."""
    protocol = protocol_for(service)
    if protocol in ("json", "rest-json"):
        code = "AccessDeniedException"
    elif protocol == "ec2":
        code = "UnauthorizedOperation"
    else:
        code = "AccessDenied"
    return error_response(service, code, message, 403, method)


def throttled(service: str, method: str = "POST") -> Response:
    """A throttling error whose code is in botocore's retryable throttling set."""
    protocol = protocol_for(service)
    if protocol == "rest-xml":
        return error_response(service, "SlowDown", "Please reduce your request rate.", 503, method)
    if protocol == "ec2":
        return error_response(
            service, "RequestLimitExceeded", "Request limit exceeded.", 503, method
        )
    if protocol == "query":
        return error_response(service, "Throttling", "Rate exceeded", 400, method)
    return error_response(service, "ThrottlingException", "Rate exceeded", 400, method)
