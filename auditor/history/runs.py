"""Runs in the history database: record one, read the previous one, prune old ones.

A run is recorded in one write transaction (``recording``): the previous run of its
scope is read, the document annotated with the comparison, and the run stored, so
concurrent runs sharing one database serialize cleanly. Only problem findings (FAIL,
UNKNOWN, MUTED) are stored: a diff needs nothing else, and PASS rows would dominate the
file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditor.core.access import ROLE_ANSWER_PREFIX
from auditor.core.model import PROBLEM_STATUSES, SEVERITIES, STATUSES
from auditor.core.request import DEFAULT_HISTORY_KEEP
from auditor.history.connection import connection, history_timeout, prepare
from auditor.history.diff import (
    Diff,
    Identity,
    annotate,
    diff_findings,
    history_summary,
    identity,
    scanned_scopes,
)

DEFAULT_KEEP = DEFAULT_HISTORY_KEEP
_COUNTED = STATUSES


def previous_run(conn: sqlite3.Connection, key: str, started_at: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT seq, id, started_at FROM runs WHERE scope_key = ? AND started_at <= ? "
        "ORDER BY started_at DESC, seq DESC LIMIT 1",
        (key, started_at),
    ).fetchone()


#: Earlier runs given to the report's trend chart, which draws 30 columns: these and the
#: current run.
TREND_EARLIER = 29


def earlier_runs(
    conn: sqlite3.Connection, key: str, started_at: str, limit: int = TREND_EARLIER
) -> list[dict[str, Any]]:
    """``history.trend``: the newest ``limit`` runs of the scope before this one, oldest
    first, each with its open FAILs by severity (the stored FAIL findings, carried ones
    included) and its new / resolved counts."""
    runs = conn.execute(
        "SELECT seq, id, started_at, complete, n_new, n_resolved FROM runs "
        "WHERE scope_key = ? AND started_at <= ? ORDER BY started_at DESC, seq DESC LIMIT ?",
        (key, started_at, limit),
    ).fetchall()[::-1]
    fails: dict[int, dict[str, int]] = {r["seq"]: dict.fromkeys(SEVERITIES, 0) for r in runs}
    marks = ",".join("?" * len(fails))
    for seq, severity, n in conn.execute(
        f"SELECT run_seq, severity, count(*) FROM findings WHERE status = 'FAIL' "  # noqa: S608 - only placeholders
        f"AND run_seq IN ({marks}) GROUP BY run_seq, severity",
        list(fails),
    ):
        fails[seq][severity] = n
    return [
        {
            "run_id": r["id"],
            "started_at": r["started_at"],
            "complete": bool(r["complete"]),
            "fail_by_severity": fails[r["seq"]],
            "new": r["n_new"],
            "resolved": r["n_resolved"],
        }
        for r in runs
    ]


def problems_of(conn: sqlite3.Connection, run_seq: int) -> dict[Identity, dict[str, Any]]:
    rows = conn.execute(
        "SELECT f.*, r.started_at AS run_started_at FROM findings f "
        "JOIN runs r ON r.seq = f.run_seq WHERE f.run_seq = ?",
        (run_seq,),
    )
    return {(r["check_id"], r["resource_arn"]): dict(r) for r in rows}


def insert_run(
    conn: sqlite3.Connection, doc: dict[str, Any], key: str, diff: Diff, previous_id: str | None
) -> int:
    run = doc["run"]
    counts = {s: 0 for s in _COUNTED}
    for f in doc["findings"]:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    cur = conn.execute(
        "INSERT INTO runs (id, started_at, finished_at, scope_key, accounts, regions, shard, "
        "tool_version, complete, n_fail, n_unknown, n_muted, n_pass, n_new, n_resolved, "
        "previous_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run["id"],
            run["started_at"],
            run.get("finished_at"),
            key,
            json.dumps([a["account_id"] for a in run.get("accounts") or []]),
            json.dumps(run.get("regions") or []),
            run.get("shard"),
            run.get("tool_version"),
            int(bool(run.get("complete"))),
            counts["FAIL"],
            counts["UNKNOWN"],
            counts["MUTED"],
            counts["PASS"],
            diff.count("new"),
            len(diff.resolved),
            previous_id,
        ),
    )
    seq = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT OR REPLACE INTO findings (run_seq, check_id, resource_arn, status, severity, "
        "account_id, region, resource_type, resource_name, message, first_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                seq,
                f["check_id"],
                f["resource_arn"],
                diff.kept_status.get(identity(f), f["status"]),
                f["severity"],
                f["account_id"],
                f["region"],
                f["resource_type"],
                f["resource_name"],
                f["message"],
                diff.first_seen.get(identity(f)) or run["started_at"],
            )
            for f in doc["findings"]
            # A follow-on is not stored: the next run sees it as never a problem of its
            # own (so only the run it became one carries a first_seen for it).
            if f["status"] in PROBLEM_STATUSES and not f.get("caused_by")
        ]
        + [
            (
                seq,
                p["check_id"],
                p["resource_arn"],
                p["status"],
                p["severity"],
                p["account_id"],
                p["region"],
                p["resource_type"],
                p["resource_name"],
                p["message"],
                p.get("first_seen") or p.get("run_started_at"),
            )
            for p in diff.carried
        ],
    )
    return seq


def _role_of(finding: dict[str, Any]) -> str | None:
    """The execution role a finding's evidence names (the role checks' Describe record)."""
    for item in finding.get("evidence") or ():
        answer = str(item.get("answer") or "")
        if answer.startswith(ROLE_ANSWER_PREFIX):
            role = answer[len(ROLE_ANSWER_PREFIX) :].split(",", 1)[0]
            return role if role.startswith("arn:") else None
    return None


def resources_of(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """ARN -> (account, region, type, name, bucket, execution role) of every resource the
    run evaluated (every resource has findings, PASS included)."""
    out: dict[str, tuple[Any, ...]] = {}
    for f in doc["findings"]:
        arn = str(f["resource_arn"])
        role = _role_of(f) or (out[arn][5] if arn in out else None)
        row = (f["account_id"], f["region"], f["resource_type"], f["resource_name"])
        out[arn] = (*row, f.get("bucket"), role)
    return out


_SELECT_RESOURCES = (
    "SELECT resource_arn, account_id, region, resource_type, resource_name, bucket, role_arn "
    "FROM resources WHERE run_seq = ?"
)
_SELECT_RESOURCES_WITHOUT_ROLE = _SELECT_RESOURCES.replace(", role_arn ", ", NULL ")


def resources_in(conn: sqlite3.Connection, run_seq: int) -> dict[str, tuple[Any, ...]]:
    # a history written before roles were recorded has no role_arn column
    columns = {r[1] for r in conn.execute("PRAGMA table_info(resources)")}
    rows = conn.execute(
        _SELECT_RESOURCES if "role_arn" in columns else _SELECT_RESOURCES_WITHOUT_ROLE,
        (run_seq,),
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def store_resources(
    conn: sqlite3.Connection, seq: int, resources: dict[str, tuple[Any, ...]]
) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO resources (run_seq, resource_arn, account_id, region, "
        "resource_type, resource_name, bucket, role_arn) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(seq, arn, *row) for arn, row in sorted(resources.items())],
    )


def _insert_resources(
    conn: sqlite3.Connection,
    seq: int,
    doc: dict[str, Any],
    previous_seq: int | None,
) -> None:
    """This run's resources, plus the previous run's in scopes this run could not read
    (carried, like their findings)."""
    resources = resources_of(doc)
    if previous_seq is not None:
        scanned = scanned_scopes(doc)
        for arn, row in resources_in(conn, previous_seq).items():
            if arn not in resources and (row[0], row[1]) not in scanned:
                resources[arn] = row
    store_resources(conn, seq, resources)


def prune(conn: sqlite3.Connection, key: str, keep: int) -> None:
    """Keep the newest ``keep`` runs of this scope (other scopes are not touched)."""
    old = [
        r[0]
        for r in conn.execute(
            "SELECT seq FROM runs WHERE scope_key = ? ORDER BY started_at DESC, seq DESC "
            "LIMIT -1 OFFSET ?",
            (key, keep),
        )
    ]
    for seq in old:
        conn.execute("DELETE FROM findings WHERE run_seq = ?", (seq,))
        conn.execute("DELETE FROM resources WHERE run_seq = ?", (seq,))
        conn.execute("DELETE FROM runs WHERE seq = ?", (seq,))


@contextmanager
def recording(
    path: Path,
    doc: dict[str, Any],
    key: str,
    *,
    keep: int = DEFAULT_KEEP,
    timeout: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Compare ``doc`` with the previous run of its scope, annotate it, and store it.

    One write transaction (BEGIN IMMEDIATE: the read of the previous run and the insert
    cannot interleave with another writer) spans the ``with`` block. On entry ``doc`` is
    annotated (``change``, ``first_seen``, ``history``) and the history summary yielded;
    the caller writes its reports inside the block, so they say exactly what is stored.
    When the block ends normally the run is stored and committed. When it raises (the
    reports could not be written), the transaction is rolled back and the exception
    propagates: such a run is never recorded, so the next run still sees every problem
    as new. Raises HistoryError with a one-line message; on error nothing is stored.
    """
    timeout = history_timeout() if timeout is None else timeout
    with connection(path, timeout) as conn:
        conn.execute("BEGIN IMMEDIATE")
        prepare(conn, path)
        started = doc["run"]["started_at"]
        previous = previous_run(conn, key, started)
        problems = problems_of(conn, previous["seq"]) if previous else {}
        diff = diff_findings(doc["findings"], problems, scanned_scopes(doc), started)
        summary = history_summary(diff, dict(previous) if previous else None, key, path)
        summary["trend"] = earlier_runs(conn, key, started)
        annotate(doc, diff, summary)
        yield summary
        seq = insert_run(conn, doc, key, diff, previous["id"] if previous else None)
        _insert_resources(conn, seq, doc, previous["seq"] if previous else None)
        prune(conn, key, keep)
        conn.execute("COMMIT")


def record_run(
    path: Path,
    doc: dict[str, Any],
    key: str,
    *,
    keep: int = DEFAULT_KEEP,
    timeout: float | None = None,
) -> dict[str, Any]:
    """``recording`` with nothing written inside: annotate ``doc`` and store the run.

    Returns the history summary (``doc["history"]``).
    """
    with recording(path, doc, key, keep=keep, timeout=timeout) as summary:
        return summary


def latest_runs(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The newest run of every scope key (what the next scan of that scope diffs with)."""
    return conn.execute(
        "SELECT r.* FROM runs r WHERE r.seq = (SELECT p.seq FROM runs p WHERE "
        "p.scope_key = r.scope_key ORDER BY p.started_at DESC, p.seq DESC LIMIT 1) "
        "ORDER BY r.started_at DESC, r.seq DESC"
    ).fetchall()
