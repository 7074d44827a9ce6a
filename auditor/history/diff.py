"""A run compared with the previous run of its scope: new, unchanged, resolved, carried.

Pure functions over findings documents and stored rows; no database here. A finding's
identity is ``(check_id, resource_arn)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.core.model import PROBLEM_STATUSES
from auditor.core.model import finding_identity as identity

RESOLVED_FIELDS = (
    "check_id",
    "status",
    "severity",
    "account_id",
    "region",
    "resource_type",
    "resource_name",
    "resource_arn",
    "message",
    "first_seen",
)

Identity = tuple[str, str]

__all__ = ["Diff", "Identity", "change_for", "diff_findings", "identity", "scope_key"]


def scope_key(
    *, org: bool, accounts: Iterable[str], regions: Iterable[str], shard: str | None, caller: str
) -> str:
    """A stable, readable key for "what this run was asked to audit".

    Built from the request, not from what was discovered: a nightly ``--org`` run stays
    comparable when an account joins the organisation or a region is enabled (their
    findings are simply new). Without ``--account``/``--org`` the caller's account is
    the scope, so that it matches ``--account <caller>``.
    """
    listed = ",".join(sorted(set(accounts) or {caller}))
    who = f"org:{caller}" if org else f"accounts:{listed}"
    where = "regions:" + (",".join(sorted(set(regions))) or "*")
    return f"{who}|{where}|shard:{shard or '-'}"


def change_for(status: str, previous_status: str | None) -> str | None:
    """``new``, ``unchanged`` or None (PASS) for a finding, given its previous status.

    A problem is new when its identity was PASS or absent in the previous run; also when
    it is a FAIL that was only UNKNOWN before (newly proven), or MUTED before (its waiver
    expired or was removed since the previous run: the mute lifted, so it alerts).
    Waiving a finding (FAIL -> MUTED) is not new: the problem was known.
    """
    if status not in PROBLEM_STATUSES:
        return None
    if previous_status not in PROBLEM_STATUSES:
        return "new"
    if status == "FAIL" and previous_status in ("UNKNOWN", "MUTED"):
        return "new"
    return "unchanged"


@dataclass
class Diff:
    """The comparison of a run with its predecessor."""

    changes: dict[Identity, str | None] = field(default_factory=dict)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    #: Previous problems of scopes this run could not read, stored again as they were.
    carried: list[dict[str, Any]] = field(default_factory=list)
    #: Identity -> status to store instead of this run's (a FAIL now only UNKNOWN).
    kept_status: dict[Identity, str] = field(default_factory=dict)
    #: Identity -> when the problem was first seen (this run's start when new).
    first_seen: dict[Identity, str | None] = field(default_factory=dict)

    @property
    def not_rechecked(self) -> int:
        return len(self.carried)

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes.values() if c == change)


def diff_findings(
    current: list[dict[str, Any]],
    previous: dict[Identity, dict[str, Any]],
    scanned: set[tuple[str, str]],
    started_at: str | None = None,
) -> Diff:
    """Compare this run's findings with the previous run's problem findings.

    ``previous`` maps identity to the previous problem finding (empty for a first run).
    A previous problem is resolved when it is PASS now, or absent now while its
    (account, region) was read successfully in this run. Absent from a scope that could
    not be read it is *carried forward*: stored again as it was, so that it is neither
    resolved now nor new on the next run (an incomplete scan must never look like a fix,
    and a transient denial must not re-page the backlog). A known FAIL that is only
    UNKNOWN now (a blind spot, e.g. S3 denied tonight) stays stored as the FAIL.

    ``first_seen``: ``started_at`` (this run) for a new problem, the stored one otherwise
    (a PASS that was a problem keeps it, so its archived record keeps its creation time;
    a PASS that never was one has none).
    """
    result = Diff()
    now: dict[Identity, str] = {}
    for f in current:
        key = identity(f)
        now[key] = f["status"]
        prev = previous.get(key)
        prev_status = prev["status"] if prev else None
        # A follow-on of a FAIL (``caused_by``) is neither new nor unchanged: its root is.
        change = None if f.get("caused_by") else change_for(f["status"], prev_status)
        result.changes[key] = change
        stored = (prev or {}).get("first_seen") or (prev or {}).get("run_started_at")
        result.first_seen[key] = started_at if change == "new" else stored
        if f["status"] == "UNKNOWN" and prev_status in ("FAIL", "MUTED"):
            result.kept_status[key] = str(prev_status)
    for key, prev in sorted(previous.items()):
        status = now.get(key)
        if status in PROBLEM_STATUSES:
            continue
        if status is None and (prev.get("account_id"), prev.get("region")) not in scanned:
            result.carried.append(prev)
            continue
        item = {k: prev.get(k) for k in RESOLVED_FIELDS}
        item["first_seen"] = prev.get("first_seen") or prev.get("run_started_at")
        item["now"] = status  # "PASS", or None when the finding is gone
        result.resolved.append(item)
    return result


def scanned_scopes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(account, region) pairs this run read successfully."""
    return {
        (s["account_id"], s["region"])
        for s in doc["run"].get("scopes") or []
        if s.get("status") == "scanned"
    }


def annotate(doc: dict[str, Any], diff: Diff, history: dict[str, Any]) -> None:
    """Write ``change`` on every finding and the ``history`` object into the document."""
    for f in doc["findings"]:
        key = identity(f)
        f["change"] = diff.changes.get(key)
        f["first_seen"] = diff.first_seen.get(key)
    doc["history"] = history


def history_summary(
    diff: Diff, previous: dict[str, Any] | None, key: str, database: Path
) -> dict[str, Any]:
    """The ``history`` object of findings.json (docs/findings-schema.md)."""
    return {
        "database": str(database),
        "scope_key": key,
        "previous_run_id": previous["id"] if previous else None,
        "previous_started_at": previous["started_at"] if previous else None,
        "new": diff.count("new"),
        "unchanged": diff.count("unchanged"),
        "not_rechecked": diff.not_rechecked,
        "carried_forward": diff.not_rechecked,
        "resolved": diff.resolved,
    }
