"""The request pipeline shared by in-process and server mode, global sim state, patching.

Every request moto would answer passes through :func:`handle` exactly once:

    identify (account, region, service, operation) -> faults (latency, deny, throttle,
    token-bucket rate limits)
    -> sim handlers (MLflow API, S3 ownership, STS trust, EC2 regions) -> moto -> post hooks
    -> call record

Two interception points feed it: ``BotocoreStubber.process_request`` (in-process, inside
``moto.mock_aws``) and ``DomainDispatcherApplication.__call__`` (moto's WSGI server app, see
``server.py``). Both are patched idempotently by :func:`install`.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import errors
from .errors import Response
from .faults import Faults
from .identity import account_for_key
from .ratelimit import RateLimits

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
    elif req.service == "s3":
        from .s3 import classify

        req.operation = classify(req)
    else:
        req.operation = req.form().get("Action", f"{req.method} {req.path}")


Handler = Callable[["SimState", SimRequest], Response | None]
PostHook = Callable[["SimState", SimRequest, Response], Response]


class SimState:
    """Everything the simulation keeps beside moto's backends (one per process)."""

    def __init__(self) -> None:
        from .sagemaker import MlflowStore

        self.lock = threading.RLock()
        self.faults = Faults()
        self.calls: list[CallRecord] = []
        self.mlflow = MlflowStore()
        self.enabled_regions: dict[str, list[str]] = {}
        self.credentials: dict[str, tuple[str, str]] = {}
        self.rate_limits = RateLimits()
        # Regions where SageMaker does not offer the MLflow operations, per resource kind
        # ("server": tracking servers, "app": MLflow Apps); see sagemaker.not_offered.
        self.mlflow_not_offered: dict[str, set[str]] = {"server": set(), "app": set()}

    def reset(self) -> None:
        with self.lock:
            self.faults = Faults()
            self.rate_limits = RateLimits()
            self.mlflow_not_offered = {"server": set(), "app": set()}
            self.calls = []
            self.mlflow.reset()
            self.enabled_regions = {}
            self.credentials = {}
        from . import securityhub  # its documented-rules state (fail_next, rate) too

        securityhub.reset()

    def record(self, rec: CallRecord) -> None:
        with self.lock:
            self.calls.append(rec)

    def credentials_for(self, account_id: str) -> tuple[str, str]:
        """Access keys of an admin IAM user in ``account_id`` (created in moto on first use).

        No AWS API can mint credentials for an account from outside it; this is the one
        place the simulation writes to moto's IAM backend directly.
        """
        with self.lock:
            if account_id not in self.credentials:
                from moto.iam.models import iam_backends

                iam = iam_backends[account_id]["aws"]
                name = "mlflow-audit-sim-admin"
                if name not in iam.users:
                    iam.create_user(region_name="us-east-1", user_name=name, path="/")
                key = iam.create_access_key(user_name=name)
                self.credentials[account_id] = (key.access_key_id, key.secret_access_key)
            return self.credentials[account_id]


STATE = SimState()

_PRE: dict[str, list[Handler]] = {}
_POST: dict[str, list[PostHook]] = {}


def _register_hooks() -> None:
    from . import org, s3, s3_config, sagemaker, securityhub, sts

    _PRE.update(
        {
            "securityhub": [securityhub.handle],
            "sagemaker": [sagemaker.handle],
            "s3": [s3_config.pre_control, s3.pre, s3_config.pre],
            "sts": [sts.pre],
            "ec2": [org.describe_regions],
        }
    )
    _POST.update({"s3": [s3.post]})


def handle(req: SimRequest, forward: Callable[[], Response]) -> Response:
    """Run one identified request through faults, sim handlers, moto and accounting."""
    state = STATE
    faults = state.faults
    if faults.latency_s > 0:
        time.sleep(faults.latency_s)
    resp: Response | None = None
    if faults.is_denied(req.account_id, req.region, req.service):
        resp = errors.access_denied(
            req.service,
            f"User is not authorized to perform: {req.service}:{req.operation} "
            f"(simulated deny for account {req.account_id} in {req.region})",
            req.method,
        )
    elif faults.is_rejected(req.account_id, req.region, req.service):
        resp = errors.error_response(
            req.service,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            400,
            req.method,
        )
    elif faults.should_throttle() or not state.rate_limits.take(
        req.account_id, req.region, req.service, req.operation
    ):
        resp = errors.throttled(req.service, req.method)
    else:
        for pre in _PRE.get(req.service, []):
            resp = pre(state, req)
            if resp is not None:
                break
        if resp is None:
            resp = forward()
            for post in _POST.get(req.service, []):
                resp = post(state, req, resp)
    state.record(CallRecord(req.account_id, req.region, req.service, req.operation, int(resp[0])))
    return resp


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


# --------------------------------------------------------------------------- patching

_install_lock = threading.Lock()
_AWS_HOST = re.compile(r"^[^/]*amazonaws\.com(\.cn)?(:\d+)?$")


def _inprocess_process_request(original: Callable[..., Any]) -> Callable[..., Any]:
    def process_request(self: Any, request: Any) -> Any:
        host = urlsplit(request.url).netloc
        if not _AWS_HOST.match(host):
            return original(self, request)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
            request.body = body
        headers = {
            str(k).lower(): (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            for k, v in request.headers.items()
        }
        req = SimRequest(request.method, request.url, headers, to_bytes(body))
        identify(req)
        if not req.service:
            return original(self, request)

        def forward() -> Response:
            result = original(self, request)
            if result is None:
                return 404, {}, b"Not yet implemented"
            status, resp_headers, resp_body = result
            return int(status), dict(resp_headers), resp_body

        return handle(req, forward)

    process_request._mlflow_audit_sim = True  # type: ignore[attr-defined]
    return process_request


def install() -> None:
    """Patch moto's in-process stubber and its WSGI app (idempotent, process-wide)."""
    with _install_lock:
        if not _PRE:
            _register_hooks()
        from moto.core.botocore_stubber import BotocoreStubber

        if not getattr(BotocoreStubber.process_request, "_mlflow_audit_sim", False):
            BotocoreStubber.process_request = _inprocess_process_request(  # type: ignore[method-assign]
                BotocoreStubber.process_request
            )
        from .server import install_wsgi_patch

        install_wsgi_patch()


def count_calls(calls: list[CallRecord], **criteria: Any) -> int:
    """Count records whose fields equal every given criterion (None means any)."""
    wanted = {k: v for k, v in criteria.items() if v is not None}
    return sum(1 for c in calls if all(getattr(c, k) == v for k, v in wanted.items()))


def calls_summary(calls: list[CallRecord]) -> dict[str, Any]:
    """Counts for ``GET /_sim/calls``: total, by service:operation, by account."""
    return {
        "total": len(calls),
        "by_operation": dict(Counter(f"{c.service}:{c.operation}" for c in calls)),
        "by_account": dict(Counter(c.account_id for c in calls)),
        "by_status": dict(Counter(str(c.status_code) for c in calls)),
    }
