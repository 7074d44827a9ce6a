"""One simulated AWS request as the pipeline sees it, and the record of each call."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .identity import account_for_key

_CRED_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class CallRecord:
    """One request the simulation received, as the caller's account saw it."""

    account_id: str
    region: str
    service: str
    operation: str
    status_code: int


@dataclass
class SimRequest:
    """A protocol-neutral view of one AWS request (lower-cased header names)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    service: str = ""
    region: str = ""
    access_key: str = ""
    account_id: str = ""
    operation: str = ""
    _json: Any = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    def form(self) -> dict[str, str]:
        """Query-protocol parameters (form body merged over the query string)."""
        params = self.query
        if self.body and b"=" in self.body[:4096]:
            with contextlib.suppress(UnicodeDecodeError):
                params.update(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))
        return params

    def json(self) -> dict[str, Any]:
        if self._json is None:
            try:
                self._json = json.loads(self.body or b"{}")
            except ValueError:
                self._json = {}
        return self._json


#: Services whose operation is named by the method and path, not an Action or a target
#: header (S3's REST API): service -> the function that names it. Filled by the dispatch
#: when it registers the services, so this module needs none of them.
REST_OPERATIONS: dict[str, Callable[[SimRequest], str]] = {}


def identify(req: SimRequest) -> None:
    """Fill service, region, access key, account and operation from the signed request."""
    auth = req.headers.get("authorization", "")
    match = _CRED_RE.search(auth)
    if not match:
        cred = req.query.get("X-Amz-Credential", "")
        parts = cred.split("/")
        if len(parts) == 5:
            req.access_key, req.region, req.service = parts[0], parts[2], parts[3]
    else:
        req.access_key, req.region, req.service = match.group(1), match.group(2), match.group(3)
    if not req.service:
        return
    req.account_id = account_for_key(req.access_key)
    target = req.headers.get("x-amz-target")
    if target:
        req.operation = target.split(".")[-1]
    elif req.service in REST_OPERATIONS:
        req.operation = REST_OPERATIONS[req.service](req)
    else:
        req.operation = req.form().get("Action", f"{req.method} {req.path}")


def to_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read()
    return bytes(body)
