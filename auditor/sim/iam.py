"""Just enough IAM policy evaluation for bucket policies and role trust policies.

Evaluated: Effect, Principal (``*``, account id, ``arn:aws:iam::ACCT:root``, the caller's
user/role/assumed-role ARN), Action/Resource with ``*``/``?`` wildcards, explicit Deny wins,
and Condition ``StringEquals``/``StringLike`` on keys the caller supplies. Anything else
(NotPrincipal, NotAction, other condition operators or keys) never grants access.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account plus every ARN a policy may name them by."""

    account_id: str
    arns: tuple[str, ...] = field(default_factory=tuple)


@lru_cache(maxsize=512)
def _wild(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$", re.IGNORECASE
    )


def wildcard_match(pattern: str, value: str) -> bool:
    return bool(_wild(pattern).match(value))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load_policy(document: str | bytes | dict[str, Any] | None) -> dict[str, Any] | None:
    """Parse a policy document as moto stores it (JSON, sometimes URL-encoded)."""
    if document is None or document == "":
        return None
    if isinstance(document, dict):
        return document
    if isinstance(document, bytes):
        document = document.decode("utf-8")
    try:
        return json.loads(document)
    except ValueError:
        try:
            return json.loads(unquote(document))
        except ValueError:
            return None


def principal_matches(stmt_principal: Any, caller: Principal) -> bool:
    if stmt_principal == "*":
        return True
    if not isinstance(stmt_principal, dict):
        return False
    for value in _as_list(stmt_principal.get("AWS")):
        value = str(value)
        if value in ("*", caller.account_id, f"arn:aws:iam::{caller.account_id}:root"):
            return True
        if value in caller.arns:
            return True
    return False


def _conditions_hold(condition: Any, context: dict[str, str]) -> bool:
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    ctx = {k.lower(): v for k, v in context.items()}
    for operator, clauses in condition.items():
        if operator not in ("StringEquals", "StringLike") or not isinstance(clauses, dict):
            return False
        for key, expected in clauses.items():
            actual = ctx.get(key.lower())
            if actual is None:
                return False
            options = [str(e) for e in _as_list(expected)]
            if operator == "StringEquals" and actual not in options:
                return False
            if operator == "StringLike" and not any(wildcard_match(o, actual) for o in options):
                return False
    return True


def evaluate(
    policy: dict[str, Any] | None,
    caller: Principal,
    action: str,
    resource: str,
    context: dict[str, str] | None = None,
) -> str:
    """Return ``"allow"``, ``"deny"`` (explicit) or ``"implicit-deny"``."""
    if not policy:
        return "implicit-deny"
    allowed = False
    for stmt in _as_list(policy.get("Statement")):
        if not isinstance(stmt, dict) or "Principal" not in stmt:
            continue
        if not principal_matches(stmt["Principal"], caller):
            continue
        if not any(wildcard_match(str(a), action) for a in _as_list(stmt.get("Action"))):
            continue
        resources = _as_list(stmt.get("Resource")) or ["*"]
        if not any(wildcard_match(str(r), resource) for r in resources):
            continue
        if not _conditions_hold(stmt.get("Condition"), context or {}):
            continue
        if stmt.get("Effect") == "Deny":
            return "deny"
        if stmt.get("Effect") == "Allow":
            allowed = True
    return "allow" if allowed else "implicit-deny"
