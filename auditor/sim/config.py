"""AWS Config ``PutEvaluations`` as documented, where moto answers only ``TestMode`` calls.

moto implements PutEvaluations for ``TestMode=True`` only (anything else raises
NotImplementedError) and keeps nothing. A custom rule's Lambda answers with real calls, so
the simulation answers them (PutEvaluations API reference,
https://docs.aws.amazon.com/config/latest/APIReference/API_PutEvaluations.html, and the
Evaluation data type, https://docs.aws.amazon.com/config/latest/APIReference/API_Evaluation.html):

- a ``ResultToken`` Config did not issue (:func:`issue_token`, as Config does when it
  invokes the rule) -> 400 ``InvalidResultTokenException``;
- more than 100 evaluations -> 400 ``ValidationException`` (the API model's 0..100);
- ``ComplianceType`` other than COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, or an
  ``INSUFFICIENT_DATA`` ("Config does not accept INSUFFICIENT_DATA ... from a
  PutEvaluations request") -> 400 ``InvalidParameterValueException``;
- an ``Annotation`` longer than 256 characters, a resource type longer than 256 or a
  resource id longer than 768 -> 400 ``ValidationException``;
- otherwise the evaluations are kept per (account, region) (:func:`recorded`), the latest
  per (rule, resource type, resource id) replacing the earlier one as Config's
  compliance does, and the answer is ``{"FailedEvaluations": []}``. ``TestMode`` calls are
  checked the same way and keep nothing.

State is process-wide like ``SimState``; call :func:`reset` between tests.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import TYPE_CHECKING, Any

from . import exceptions
from .exceptions import Response
from .state import RESET_HOOKS

if TYPE_CHECKING:
    from .request import SimRequest
    from .state import SimState

MAX_EVALUATIONS = 100
MAX_ANNOTATION = 256
MAX_RESOURCE_TYPE = 256
MAX_RESOURCE_ID = 768
ACCEPTED = frozenset({"COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"})

_lock = threading.Lock()
_tokens: dict[str, tuple[str, str, str]] = {}  # token -> (account, region, rule name)
_evaluations: dict[tuple[str, str], dict[tuple[str, str, str], dict[str, Any]]] = {}


def reset() -> None:
    with _lock:
        _tokens.clear()
        _evaluations.clear()


def issue_token(account_id: str, region: str, rule_name: str) -> str:
    """A result token for one invocation of ``rule_name`` (what Config puts in the event)."""
    token = secrets.token_urlsafe(48)
    with _lock:
        _tokens[token] = (account_id, region, rule_name)
    return token


def recorded(account_id: str, region: str) -> list[dict[str, Any]]:
    """The evaluations Config holds for ``account_id`` in ``region`` (each with its rule)."""
    with _lock:
        return [dict(e) for e in _evaluations.get((account_id, region), {}).values()]


def _invalid(req: SimRequest, code: str, message: str) -> Response:
    return exceptions.error_response(req.service, code, message, 400, req.method)


def _check(req: SimRequest, evaluations: list[Any]) -> Response | None:
    if len(evaluations) > MAX_EVALUATIONS:
        return _invalid(
            req,
            "ValidationException",
            "1 validation error detected: Value at 'evaluations' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_EVALUATIONS}",
        )
    for e in evaluations:
        if not isinstance(e, dict):
            return _invalid(req, "ValidationException", "Evaluations must be objects")
        if e.get("ComplianceType") not in ACCEPTED:
            return _invalid(
                req,
                "InvalidParameterValueException",
                f"ComplianceType {e.get('ComplianceType')!r} is not accepted from "
                "PutEvaluations: use COMPLIANT, NON_COMPLIANT or NOT_APPLICABLE",
            )
        too_long = (
            len(str(e.get("Annotation") or "")) > MAX_ANNOTATION
            or not 1 <= len(str(e.get("ComplianceResourceType") or "")) <= MAX_RESOURCE_TYPE
            or not 1 <= len(str(e.get("ComplianceResourceId") or "")) <= MAX_RESOURCE_ID
        )
        if too_long:
            return _invalid(
                req,
                "ValidationException",
                "1 validation error detected: an evaluation's Annotation (<= 256), "
                "ComplianceResourceType (1..256) or ComplianceResourceId (1..768) "
                "failed to satisfy its length constraint",
            )
    return None


def handle(state: SimState, req: SimRequest) -> Response | None:
    """PutEvaluations answered here; every other Config operation is moto's."""
    if req.operation != "PutEvaluations":
        return None
    body = req.json()
    evaluations = body.get("Evaluations") or []
    with _lock:
        issued = _tokens.get(str(body.get("ResultToken") or ""))
    if issued is None:
        return _invalid(req, "InvalidResultTokenException", "The specified token is invalid.")
    failure = _check(req, evaluations if isinstance(evaluations, list) else [None])
    if failure is not None:
        return failure
    if not body.get("TestMode"):
        _account, _region, rule = issued
        with _lock:
            kept = _evaluations.setdefault((req.account_id, req.region), {})
            for e in evaluations:
                key = (rule, str(e["ComplianceResourceType"]), str(e["ComplianceResourceId"]))
                kept[key] = {**e, "ConfigRuleName": rule}
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "x-amzn-RequestId": exceptions.request_id(),
    }
    return 200, headers, json.dumps({"FailedEvaluations": []}).encode()


RESET_HOOKS.append(reset)
