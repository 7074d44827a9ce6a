"""The request pipeline shared by in-process and server mode.

Every request moto would answer passes through :func:`handle` exactly once:

    identify (account, region, service, operation) -> faults (latency, deny, throttle,
    token-bucket rate limits)
    -> sim handlers (MLflow API, S3 ownership, STS trust, EC2 regions, Security Hub)
    -> moto -> post hooks -> call record

The interception points that feed it are in ``patch.py`` (in-process) and ``wsgi.py``
(server mode).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import exceptions
from .exceptions import Response
from .request import REST_OPERATIONS, CallRecord, SimRequest
from .state import STATE, SimState

Handler = Callable[[SimState, SimRequest], Response | None]
PostHook = Callable[[SimState, SimRequest, Response], Response]


_PRE: dict[str, list[Handler]] = {}
_POST: dict[str, list[PostHook]] = {}


def _register_hooks() -> None:
    from . import config, org, s3, s3_config, sagemaker, securityhub, sts

    _PRE.update(
        {
            "securityhub": [securityhub.handle],
            "sagemaker": [sagemaker.handle],
            "s3": [s3_config.pre_control, s3.pre, s3_config.pre],
            "sts": [sts.pre],
            "ec2": [org.describe_regions],
            "config": [config.handle],
        }
    )
    _POST.update({"s3": [s3.post]})
    REST_OPERATIONS["s3"] = s3.classify


def handle(req: SimRequest, forward: Callable[[], Response]) -> Response:
    """Run one identified request through faults, sim handlers, moto and accounting."""
    state = STATE
    faults = state.faults
    if faults.latency_s > 0:
        time.sleep(faults.latency_s)
    resp: Response | None = None
    if faults.is_denied(req.account_id, req.region, req.service):
        resp = exceptions.access_denied(
            req.service,
            f"User is not authorized to perform: {req.service}:{req.operation} "
            f"(simulated deny for account {req.account_id} in {req.region})",
            req.method,
        )
    elif faults.is_rejected(req.account_id, req.region, req.service):
        resp = exceptions.error_response(
            req.service,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            400,
            req.method,
        )
    elif faults.should_throttle() or not state.rate_limits.take(
        req.account_id, req.region, req.service, req.operation
    ):
        resp = exceptions.throttled(req.service, req.method)
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
