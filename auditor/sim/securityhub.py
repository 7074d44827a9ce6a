"""Security Hub BatchImportFindings/GetFindings as documented, where moto is more lenient.

moto stores imported findings (updating by ``Id``) and pages GetFindings; it does not check
who may import them, whether Security Hub is enabled, or the request rate. The simulation
adds, each with its test in tests/sim/test_securityhub_sim.py:

- Security Hub not enabled in the account-region -> 401 ``InvalidAccessException``
  ("Account ... is not subscribed to AWS Security Hub"), for BatchImportFindings and
  GetFindings (BatchImportFindings API reference, Errors).
- The default product ARN rule: with ``product/ACCOUNT/default`` the calling account must be
  the finding's ``AwsAccountId`` and the product's account, in the region called
  (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
  AWS answers a request naming another account's product or findings with 403
  ``AccessDeniedException`` "... is not authorized to perform: securityhub:BatchImportFindings
  on resource: <ProductArn>" (AWS Support's answer quoted in prowler-cloud/prowler#867).
- More than 100 findings in one request -> 400 ``InvalidInputException`` (API model: 1..100).
- A finding over 240 KB -> a ``FailedFindings`` entry, the others imported.
- Optional rate limit, 10 requests/s per account per Region with a burst of 30 ("Guidelines
  for using the BatchImportFindings API"): beyond it 429 ``LimitExceededException``.
- Injected ``FailedFindings`` entries (``fail_next``) for a given finding Id, to exercise the
  importer's retry of retryable entries and reporting of the rest.

State here is process-wide like ``SimState``; call :func:`reset` between tests.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from . import exceptions
from .exceptions import Response
from .state import RESET_HOOKS

if TYPE_CHECKING:
    from .request import SimRequest
    from .state import SimState

RATE = 10.0
BURST = 30
MAX_FINDINGS = 100
MAX_FINDING_BYTES = 240 * 1024

_lock = threading.Lock()
_failures: dict[str, list[tuple[str, str]]] = {}
_limit: dict[str, Any] = {"enabled": False, "rate": RATE, "burst": BURST}
_buckets: dict[tuple[str, str], list[float]] = {}  # scope -> [tokens, stamp]
_throttled = {"count": 0}


def reset() -> None:
    with _lock:
        _failures.clear()
        _buckets.clear()
        _limit.update(enabled=False, rate=RATE, burst=BURST)
        _throttled["count"] = 0


def fail_next(
    finding_id: str,
    code: str = "InternalException",
    times: int = 1,
    message: str = "Simulated failure",
) -> None:
    """The next ``times`` imports of ``finding_id`` answer a FailedFindings entry."""
    with _lock:
        _failures.setdefault(finding_id, []).extend([(code, message)] * times)


def enforce_rate_limit(enabled: bool = True, rate: float = RATE, burst: int = BURST) -> None:
    with _lock:
        _limit.update(enabled=enabled, rate=float(rate), burst=int(burst))
        _buckets.clear()


def throttled_count() -> int:
    return _throttled["count"]


def _backend(account_id: str, region: str) -> Any:
    from moto.securityhub.models import securityhub_backends

    return securityhub_backends[account_id][region]


def _not_enabled(account_id: str) -> Response:
    return exceptions.error_response(
        "securityhub",
        "InvalidAccessException",
        f"Account {account_id} is not subscribed to AWS Security Hub",
        401,
    )


def _rate_limited(scope: tuple[str, str]) -> bool:
    with _lock:
        if not _limit["enabled"]:
            return False
        now = time.monotonic()
        tokens, stamp = _buckets.get(scope, [float(_limit["burst"]), now])
        tokens = min(float(_limit["burst"]), tokens + (now - stamp) * _limit["rate"])
        if tokens < 1.0:
            _buckets[scope] = [tokens, now]
            _throttled["count"] += 1
            return True
        _buckets[scope] = [tokens - 1.0, now]
        return False


def _caller_arn(req: SimRequest) -> str:
    from .identity import principal_for_key

    try:
        return principal_for_key(req.access_key).arns[-1]
    except Exception:
        return f"arn:aws:iam::{req.account_id}:user/unknown"


def handle(state: SimState, req: SimRequest) -> Response | None:
    path = req.path.rstrip("/")
    if req.method != "POST" or path not in ("/findings/import", "/findings"):
        return None
    backend = _backend(req.account_id, req.region)
    if not backend.enabled:
        return _not_enabled(req.account_id)
    if path == "/findings":
        return None  # GetFindings: moto answers once the hub is known to be enabled
    if _rate_limited((req.account_id, req.region)):
        return exceptions.error_response(
            "securityhub", "LimitExceededException", "Rate exceeded", 429
        )
    findings = req.json().get("Findings") or []
    if not isinstance(findings, list) or not 1 <= len(findings) <= MAX_FINDINGS:
        return exceptions.error_response(
            "securityhub",
            "InvalidInputException",
            "Findings must contain between 1 and 100 findings",
            400,
        )
    own_product = (
        f"arn:aws:securityhub:{req.region}:{req.account_id}:product/{req.account_id}/default"
    )
    for f in findings:
        product = str(f.get("ProductArn", "")) if isinstance(f, dict) else ""
        is_default = product.endswith("/default") and ":product/" in product
        if is_default and (product != own_product or f.get("AwsAccountId") != req.account_id):
            return exceptions.access_denied(
                "securityhub",
                f"User: {_caller_arn(req)} is not authorized to perform: "
                f"securityhub:BatchImportFindings on resource: {product}",
            )
    accepted: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for f in findings:
        fid = str(f.get("Id", ""))
        with _lock:
            queued = _failures.get(fid)
            injected = queued.pop(0) if queued else None
        if injected is not None:
            failed.append({"Id": fid, "ErrorCode": injected[0], "ErrorMessage": injected[1]})
        elif len(json.dumps(f).encode("utf-8")) > MAX_FINDING_BYTES:
            failed.append(
                {"Id": fid, "ErrorCode": "InvalidInput", "ErrorMessage": "Finding exceeds 240 KB"}
            )
        else:
            accepted.append(f)
    if accepted:
        with state.lock:
            _, _, moto_entries = backend.batch_import_findings(accepted)
        failed.extend(
            {"Id": e["Id"], "ErrorCode": e["ErrorCode"], "ErrorMessage": e["ErrorMessage"]}
            for e in moto_entries
        )
    body = {
        "FailedCount": len(failed),
        "FailedFindings": failed,
        "SuccessCount": len(findings) - len(failed),
    }
    rid = exceptions.request_id()
    return (
        200,
        {"Content-Type": "application/json", "x-amzn-RequestId": rid},
        json.dumps(body).encode("utf-8"),
    )


def enable_hub(sim: Any, accounts: list[str], regions: list[str]) -> None:
    """Enable Security Hub in every account-region, as each account's administrator would
    (``EnableSecurityHub``); ``mlflow-audit demo --security-hub`` calls it."""
    for account in accounts:
        for region in regions:
            sim.session_for(account, region).client("securityhub").enable_security_hub()


RESET_HOOKS.append(reset)
