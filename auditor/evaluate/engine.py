"""Evaluate the loaded rules over facts records: status, severity, message, finding.

A rule that reads a fact which is null yields ``UNKNOWN`` with the reason the facts stage
recorded: never a guessed PASS or FAIL. The policy's severity overrides and waivers are
applied here (``make_finding``); rules are loaded by ``auditor.evaluate.rules``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import jmespath

from auditor.core.kinds import kind_of
from auditor.core.model import Finding, Status
from auditor.evaluate.evidence import evidence_for
from auditor.evaluate.policy import Policy
from auditor.evaluate.rules import Rule

_SHARED: dict[str, str] = {}


def _shared(text: str) -> str:
    """One object per distinct string: fix commands repeat across a resource's checks."""
    if len(_SHARED) > 200_000:
        _SHARED.clear()
    return _SHARED.setdefault(text, text)


def _safe_render(template: Any, context: dict[str, Any]) -> str:
    try:
        return _render(template, context)
    except Exception as exc:  # a user rule's template that breaks on this resource
        return f"(the rule's fix could not be rendered: {type(exc).__name__})"


def _render(template: Any, context: dict[str, Any]) -> str:
    return " ".join(template.render(**context).split())


def evaluate(rule: Rule, facts: dict[str, Any]) -> tuple[str, str, str]:
    """(status, severity, message) of one rule over one facts record."""
    for path in rule.reads:
        if jmespath.search(path, facts) is None:
            reason = facts.get("unknown", {}).get(path) or f"{path} is not known"
            return Status.UNKNOWN.value, rule.severity, f"Could not evaluate: {reason}."
    try:
        outcome = rule.pass_when.search(facts)
        if outcome is None:  # the condition reached a null fact it did not declare
            return (
                Status.UNKNOWN.value,
                rule.severity,
                "Could not evaluate: the condition reads a fact that is not known.",
            )
        status = Status.PASS if outcome else Status.FAIL
        severity = rule.severity
        if status is Status.FAIL:
            for condition, sev in rule.severity_when:
                if condition.search(facts):
                    severity = sev
                    break
        return status.value, severity, _render(rule.messages[status.value], facts)
    except Exception as exc:  # a user rule that breaks on this resource: say so, never guess
        return (
            Status.UNKNOWN.value,
            rule.severity,
            f"Could not evaluate: the rule failed on this resource ({type(exc).__name__}).",
        )


def make_finding(
    rule: Rule, facts: dict[str, Any], policy: Policy, today: dt.date
) -> tuple[Finding, dict[str, Any] | None]:
    """One finding, with the policy's severity override and waivers applied.

    Returns the finding and, when an expired waiver matched it, that waiver's record.
    """
    status, severity, message = evaluate(rule, facts)
    severity = policy.severities.get(rule.id, severity)
    resource = facts["resource"]
    muted_reason = None
    expired_record = None
    if status != Status.PASS.value:
        waiver, expired = policy.waiver_for(rule.id, resource["arn"], today)
        if waiver is not None:
            muted_reason = f"{waiver.reason} (waiver expires {waiver.expires.isoformat()})"
            message = f"{message} Muted: {waiver.reason}."
            status = Status.MUTED.value
        elif expired is not None:
            expired_record = expired.to_dict()
            message = f"{message} The waiver for it expired on {expired.expires.isoformat()}."
    # A plain dict in the findings.json shape (docs/findings-schema.md): the document is
    # built from these without copying, which matters at organisation scale.
    finding: Finding = {
        "check_id": rule.id,
        "title": rule.title,
        "status": status,
        "severity": severity,
        "account_id": resource["account_id"],
        "region": resource["region"],
        "resource_type": resource["type"],
        "resource_name": resource["name"],
        "resource_arn": resource["arn"],
        "artifact_store_uri": resource["artifact_store_uri"],
        "bucket": facts["uri"]["bucket"],
        "expected_owner": facts["expected_owner"],
        "actual_owner": facts["bucket"]["owner_account_id"],
        "message": message,
        "risk": rule.risk,
        "evidence": evidence_for(facts, rule),
        "remediation": {
            "text": _shared(_safe_render(rule.fix_text, facts)),
            "command": _shared(_safe_render(rule.fix_command, facts)),
            "auto": rule.fix_auto
            and kind_of(resource["type"]).remediable
            and facts["fix"]["owner"] is not None,
        },
        "muted_reason": muted_reason,
    }
    return finding, expired_record


def evaluate_all(
    rules: Iterable[Rule], facts_list: Iterable[dict[str, Any]], policy: Policy, today: dt.date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every applicable (resource, enabled check) pair, and the expired waivers met."""
    active = [r for r in rules if r.id not in policy.disabled_checks]
    findings: list[dict[str, Any]] = []
    expired: dict[int, dict[str, Any]] = {}
    for facts in facts_list:
        for rule in active:
            if facts["resource"]["type"] not in rule.resource_types:
                continue
            finding, expired_waiver = make_finding(rule, facts, policy, today)
            findings.append(finding)
            if expired_waiver is not None:
                expired[expired_waiver["line"]] = expired_waiver
    return findings, list(expired.values())


__all__ = ["Rule", "evaluate", "evaluate_all", "make_finding"]
