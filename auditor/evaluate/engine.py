"""Evaluate the loaded rules over facts records: status, severity, message, finding.

A rule that reads a fact which is null yields ``UNKNOWN`` with the reason the facts stage
recorded: never a guessed PASS or FAIL. The policy's severity overrides and waivers are
applied here (``make_finding``); rules are loaded by ``auditor.evaluate.rules``.

Once every check of a resource is evaluated, an UNKNOWN that only reads facts which a
FAILing check of the same resource leaves unknowable (the rules' ``root_cause_of``) is
that FAIL's follow-on: ``caused_by`` names the root check and it carries no fix of its
own (the fix is the root's). It is not a problem to investigate on its own.
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
        "caused_by": None,
    }
    return finding, expired_record


def _fails(rule: Rule, finding: Finding, facts: dict[str, Any]) -> bool:
    """FAIL, or FAIL under a waiver: a muted root still leaves the same facts unknowable."""
    if finding["status"] == Status.MUTED.value:
        return evaluate(rule, facts)[0] == Status.FAIL.value
    return finding["status"] == Status.FAIL.value


def link_follow_ons(made: list[tuple[Rule, Finding]], facts: dict[str, Any]) -> None:
    """Mark each UNKNOWN of one resource that a FAILing root check explains (in place).

    Only an UNKNOWN whose every unknown fact the root's FAIL explains is linked: one that
    also misses a fact for another reason (S3 denied, a rule error) stays a real unknown.
    """
    roots = [(r, f) for r, f in made if r.root_cause_of and _fails(r, f, facts)]
    if not roots:
        return
    for rule, finding in made:
        if finding["status"] != Status.UNKNOWN.value:
            continue
        missing = [p for p in rule.reads if jmespath.search(p, facts) is None]
        root = next(
            (
                r
                for r, _ in roots
                if r.id != rule.id and missing and all(r.explains(p) for p in missing)
            ),
            None,
        )
        if root is not None:
            finding["caused_by"] = root.id
            finding["remediation"] = {
                "text": _shared(
                    f"Nothing to fix on its own: decided once {root.id} passes "
                    f"({root.title.rstrip('.')}); fix that first."
                ),
                "command": "",
                "auto": False,
            }


def evaluate_all(
    rules: Iterable[Rule], facts_list: Iterable[dict[str, Any]], policy: Policy, today: dt.date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every applicable (resource, enabled check) pair, and the expired waivers met."""
    active = [r for r in rules if r.id not in policy.disabled_checks]
    findings: list[dict[str, Any]] = []
    expired: dict[int, dict[str, Any]] = {}
    for facts in facts_list:
        made: list[tuple[Rule, Finding]] = []
        for rule in active:
            if facts["resource"]["type"] not in rule.resource_types:
                continue
            finding, expired_waiver = make_finding(rule, facts, policy, today)
            made.append((rule, finding))
            if expired_waiver is not None:
                expired[expired_waiver["line"]] = expired_waiver
        link_follow_ons(made, facts)
        findings.extend(f for _, f in made)
    return findings, list(expired.values())


__all__ = ["Rule", "evaluate", "evaluate_all", "link_follow_ons", "make_finding"]
