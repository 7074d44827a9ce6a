"""What the interchange renderings (OCSF, ASFF) share.

The helpers below are which findings are "resolved since the previous run", which
scopes this run really read, and the rule metadata (title, references) that a resolved
finding no longer carries.
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
