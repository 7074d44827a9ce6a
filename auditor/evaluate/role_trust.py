"""Whose SageMaker may assume an execution role: its trust policy's source conditions.

An Allow that lets ``sagemaker.amazonaws.com`` (or any principal) call
``sts:AssumeRole`` is scoped when a condition limits the request's source to trusted
accounts: ``aws:SourceAccount`` naming trusted accounts, ``aws:SourceArn`` whose account
is trusted, or ``aws:SourceOrgID``/``aws:SourceOrgPaths`` naming a trusted organisation,
with a positive operator (``StringEquals``/``StringLike``/``ArnEquals``/``ArnLike``,
optionally ``ForAnyValue``). ``...IfExists`` and ``ForAllValues`` are true when the key
is absent, so they scope nothing. Without such a condition SageMaker acting for any
account could be made to use the role (the cross-service confused deputy). Other
condition keys may scope the statement in ways not evaluated: UNKNOWN, the statement
quoted.

https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html#cross-service-confused-deputy-prevention
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceaccount
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from auditor.evaluate.role_conditions import ACCOUNT_RE, as_list, wild
from auditor.evaluate.role_policy import Decision, quote
from auditor.evaluate.writers import statements

SAGEMAKER = "sagemaker.amazonaws.com"
_POSITIVE = frozenset({"stringequals", "stringlike", "arnequals", "arnlike"})
_SOURCE_KEYS = frozenset(
    {"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths"}
)


def _admits_sagemaker(stmt: dict[str, Any]) -> bool:
    if "NotPrincipal" in stmt:
        return True  # everyone not listed: SageMaker is not a listed principal
    principal = stmt.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    services = [str(s).lower() for s in as_list(principal.get("Service"))]
    return SAGEMAKER in services or "*" in [str(a) for a in as_list(principal.get("AWS"))]


def _may_assume(stmt: dict[str, Any]) -> bool:
    from policyuniverse.statement import Statement

    doc = {k: stmt[k] for k in ("Effect", "Action", "NotAction") if k in stmt}
    return "sts:assumerole" in Statement({**doc, "Resource": "*"}).actions_expanded


def _source_trusted(key: str, values: list[str], accounts: frozenset[str], orgs: frozenset[str]):
    """Whether every value names a trusted source; else the first one that does not."""
    for value in values:
        if key == "aws:sourceaccount":
            ok = not wild(value) and value in accounts
        elif key == "aws:sourcearn":
            parts = value.split(":")
            ok = len(parts) > 4 and bool(ACCOUNT_RE.match(parts[4])) and parts[4] in accounts
        elif key == "aws:sourceorgid":
            ok = not wild(value) and value in orgs
        else:
            head, sep, _ = value.partition("/")
            ok = bool(sep) and head in orgs and not wild(head)
        if not ok:
            return value
    return None if values else "(no value)"


def _scope(stmt: dict[str, Any], accounts: frozenset[str], orgs: frozenset[str]) -> tuple[str, str]:
    """('PASS' | 'FAIL' | 'UNKNOWN', why) for one statement that admits SageMaker."""
    condition = stmt.get("Condition") or {}
    if not isinstance(condition, dict):
        return "UNKNOWN", "its Condition block is not a mapping of operators to keys"
    others: list[str] = []
    loose: list[str] = []
    for operator, block in condition.items():
        op = str(operator).lower()
        prefix, _, base = op.rpartition(":")
        for key, values in (block or {}).items() if isinstance(block, dict) else ():
            key = str(key).lower()
            if key not in _SOURCE_KEYS:
                others.append(f"{operator} on {key}")
            elif base not in _POSITIVE or prefix not in ("", "foranyvalue"):
                loose.append(f"{operator} on {key} holds when the key is absent")
            else:
                bad = _source_trusted(key, [str(v) for v in as_list(values)], accounts, orgs)
                if bad is None:
                    return "PASS", f"{operator} {key} names trusted sources only"
                loose.append(f"{key} admits {bad}, outside the trusted accounts")
    if others:
        return "UNKNOWN", "condition " + ", ".join(others) + " may scope it (not evaluated)"
    if loose:
        return "FAIL", "; ".join(loose)
    return "FAIL", "no aws:SourceAccount or aws:SourceArn condition"


def trust_fix(role_account: str) -> str:
    """The trust statement SageMaker documents, for the role's own account."""
    stmt = {
        "Effect": "Allow",
        "Principal": {"Service": SAGEMAKER},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": role_account},
            "ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:*:{role_account}:*"},
        },
    }
    return json.dumps(stmt, separators=(", ", ": "))


def trust_decision(
    trust: dict[str, Any],
    role_account: str,
    trusted_accounts: Collection[str],
    trusted_orgs: Collection[str] = (),
) -> Decision:
    """FAIL when SageMaker may assume the role for a source outside the trusted set."""
    accounts, orgs = frozenset(trusted_accounts) | {role_account}, frozenset(trusted_orgs)
    verdicts: list[tuple[str, str, dict[str, Any]]] = []
    for stmt in statements(trust):
        if str(stmt.get("Effect")).lower() != "allow" or not _admits_sagemaker(stmt):
            continue
        if _may_assume(stmt):
            verdicts.append((*_scope(stmt, accounts, orgs), stmt))
    if not verdicts:
        return Decision("PASS", ["no statement lets SageMaker assume the role"])
    for status in ("FAIL", "UNKNOWN"):
        hits = [(why, stmt) for s, why, stmt in verdicts if s == status]
        if hits:
            notes = [
                {"source": "trust policy", "role": status, "statement": quote(st), "why": why}
                for why, st in hits
            ]
            fix = trust_fix(role_account) if status == "FAIL" else ""
            return Decision(status, [why for why, _ in hits], notes, [], fix)
    notes = [
        {"source": "trust policy", "role": "scoped", "statement": quote(st), "why": why}
        for _, why, st in verdicts
    ]
    return Decision("PASS", [why for _, why, _ in verdicts], notes)
