"""What the interchange renderings (OCSF, ASFF) share.

The helpers below are which findings are "resolved since the previous run", which
scopes this run really read, which findings both formats close (one decision, so the ASFF
records archived and the OCSF records closed are always the same findings), how a closed
finding is described, and the rule metadata (title, references) that a resolved finding
no longer carries.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from auditor.core.checks import shipped_checks
from auditor.core.model import finding_identity as identity

__all__ = ["identity"]

Scope = tuple[str, str]


def scanned_scopes(doc: dict[str, Any]) -> set[Scope]:
    """(account, region) pairs this run read successfully: only their findings may be closed.

    A scope of another shard, a denied region or an account whose role could not be assumed
    is absent (or ``status: error``), so a finding there is never archived by this run.
    """
    run = doc.get("run") or {}
    return {
        (str(s["account_id"]), str(s["region"]))
        for s in run.get("scopes") or []
        if s.get("status") == "scanned" and s.get("account_id") and s.get("region")
    }


def resolved_entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The history's resolved findings whose scope this run read (the rest are dropped)."""
    history = doc.get("history") or {}
    resolved = history.get("resolved") or []
    scopes = scanned_scopes(doc)
    return [
        r
        for r in resolved
        if isinstance(r, dict)
        and (str(r.get("account_id")), str(r.get("region"))) in scopes
        and r.get("check_id")
        and r.get("resource_arn")
    ]


def closed_findings(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The findings this run closes, by identity, each with the record to describe it by.

    One per resolved entry of a scope this run read (:func:`resolved_entries`): the current
    finding when the entry says it is PASS now (fresher than the stored one), else the entry
    itself (the resource is gone, or the check no longer reports it).
    """
    current = {identity(f): f for f in doc.get("findings") or []}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in resolved_entries(doc):
        key = identity(entry)
        if key not in out:
            base = current.get(key) if entry.get("now") == "PASS" else None
            out[key] = base or entry
    return out


def passes_now(closed: dict[str, Any]) -> bool:
    """Whether a closed finding was fixed (PASS now) rather than gone from the scan."""
    return closed.get("status") == "PASS" or closed.get("now") == "PASS"


def resolved_text(closed: dict[str, Any]) -> str:
    """How a closed finding is described: why it is closed, never its old failure."""
    name = str(closed.get("resource_name") or closed.get("resource_arn") or "the resource")
    if passes_now(closed):
        message = str(closed.get("message") or "") if closed.get("status") == "PASS" else ""
        return " ".join(x for x in (f"Resolved: {name} now passes this check.", message) if x)
    return (
        f"Resolved: {name} is no longer found in a scope this run read (the resource was "
        "deleted or the check no longer applies to it)."
    )


def _rules() -> dict[str, Any]:
    return dict(shipped_checks())


def rule_title(check_id: str) -> str:
    rule = _rules().get(check_id)
    return str(getattr(rule, "title", "") or check_id)


def references(finding: dict[str, Any]) -> list[str]:
    """The finding's ``references``, else the shipped rule's (findings do not carry them yet)."""
    refs = finding.get("references")
    if isinstance(refs, list) and refs:
        return [str(r) for r in refs]
    rule = _rules().get(str(finding.get("check_id")))
    return [str(r) for r in getattr(rule, "references", ()) or ()]


def parse_time(value: Any) -> dt.datetime | None:
    """``2026-11-27T15:40:02Z`` (or any ISO 8601 with offset) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def partition_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "arn" and parts[1] else "aws"


def truncate(text: Any, limit: int) -> str:
    """At most ``limit`` characters, marked with an ellipsis when cut."""
    value = str(text if text is not None else "")
    return value if len(value) <= limit else value[: max(0, limit - 1)] + "\u2026"


def json_array(records: list[dict[str, Any]]) -> Iterator[str]:
    """A JSON array of records, one record per line (as findings.json lists findings)."""
    yield "["
    for n, record in enumerate(records):
        yield ("," if n else "") + "\n  " + json.dumps(record, default=str)
    yield "\n]\n" if records else "]\n"
