"""``mlflow-audit history``: the runs of a history database as a table or JSON (read only)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from auditor.history.connection import HistoryError, check_ours, connection, history_timeout


def list_runs(path: Path, limit: int = 20, timeout: float | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, newest first, each with ``fail_delta`` to its previous."""
    timeout = history_timeout() if timeout is None else timeout
    if not path.is_file():
        raise HistoryError(f"no history database at {path}")
    with connection(path, timeout, readonly=True) as conn:
        if not check_ours(conn, path):
            raise HistoryError(f"{path} holds no mlflow-audit history")
        rows = conn.execute(
            "SELECT r.*, (SELECT p.n_fail FROM runs p WHERE p.scope_key = r.scope_key AND "
            "(p.started_at < r.started_at OR (p.started_at = r.started_at AND p.seq < r.seq))"
            " ORDER BY p.started_at DESC, p.seq DESC LIMIT 1) AS previous_fail "
            "FROM runs r ORDER BY r.started_at DESC, r.seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [_run_record(r) for r in rows]


def _run_record(row: sqlite3.Row) -> dict[str, Any]:
    prev = row["previous_fail"]
    return {
        "id": row["id"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "scope_key": row["scope_key"],
        "accounts": json.loads(row["accounts"]),
        "regions": json.loads(row["regions"]),
        "shard": row["shard"],
        "tool_version": row["tool_version"],
        "complete": bool(row["complete"]),
        "counts": {
            "FAIL": row["n_fail"],
            "UNKNOWN": row["n_unknown"],
            "MUTED": row["n_muted"],
            "PASS": row["n_pass"],
        },
        "new": row["n_new"],
        "resolved": row["n_resolved"],
        "previous_run_id": row["previous_run_id"],
        "fail_delta": None if prev is None else row["n_fail"] - prev,
    }


def trend(record: dict[str, Any]) -> str:
    """A short ASCII trend of FAILs against the previous run of the same scope."""
    delta = record["fail_delta"]
    if delta is None:
        return "first run"
    arrow = "up" if delta > 0 else "down" if delta < 0 else "same"
    return f"FAIL {arrow} {delta:+d}" if delta else "FAIL same"


def format_table(records: list[dict[str, Any]]) -> list[str]:
    """Fixed-width lines for ``mlflow-audit history`` (newest first)."""
    head = (
        "RUN",
        "STARTED",
        "SCOPE",
        "ACCTS",
        "REGIONS",
        "FAIL",
        "UNKN",
        "MUTED",
        "PASS",
        "NEW",
        "RESOLVED",
        "TREND",
    )
    rows = [head]
    for r in records:
        scope = r["scope_key"] if len(r["scope_key"]) <= 48 else r["scope_key"][:47] + "~"
        c = r["counts"]
        rows.append(
            (
                r["id"],
                r["started_at"],
                scope,
                str(len(r["accounts"])),
                ",".join(r["regions"]) or "-",
                str(c["FAIL"]),
                str(c["UNKNOWN"]),
                str(c["MUTED"]),
                str(c["PASS"]),
                str(r["new"]),
                str(r["resolved"]),
                trend(r) + ("" if r["complete"] else " (incomplete)"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def history_text(path: Path, limit: int, as_json: bool) -> str:
    """What ``mlflow-audit history`` prints: the newest runs as a table, or as JSON."""
    records = list_runs(path, limit=limit)
    return json.dumps(records, indent=2) if as_json else "\n".join(format_table(records))
