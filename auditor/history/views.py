"""``mlflow-audit history``: the runs of a history database as a table or JSON (read only)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from auditor.core.errors import ConfigError
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
    return f"{arrow} {delta:+d}" if delta else "same"


WIDTH = 100  # the table's lines stay readable in a terminal of this many columns
_HEAD = (
    "RUN",
    "ACCTS",
    "REGIONS",
    "FAIL",
    "UNKN",
    "MUTED",
    "PASS",
    "NEW",
    "RESOLVED",
    "FAIL TREND",
)
_INCOMPLETE = "* incomplete: an account or region could not be read (see the run's errors)"


def _row(r: dict[str, Any]) -> tuple[str, ...]:
    c = r["counts"]
    return (
        r["id"] + ("" if r["complete"] else "*"),
        str(len(r["accounts"])),
        str(len(r["regions"])),  # the list is in --json: 17 names do not fit a line
        *(str(c[s]) for s in ("FAIL", "UNKNOWN", "MUTED", "PASS")),
        str(r["new"]),
        str(r["resolved"]),
        trend(r),
    )


def format_table(records: list[dict[str, Any]]) -> list[str]:
    """Lines of at most ``WIDTH`` columns for ``mlflow-audit history``: the runs grouped by
    scope (the scope of the newest run first), each group newest first; counts of
    accounts and regions (their lists are in ``--json``)."""
    scopes: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        scopes.setdefault(r["scope_key"], []).append(r)
    rows = [_HEAD, *(_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEAD))]

    def line(row: tuple[str, ...]) -> str:
        # text columns left-aligned, numbers right-aligned under their heading
        cells = [
            cell.ljust(w) if i in (0, len(row) - 1) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return ("  " + "  ".join(cells)).rstrip()

    lines: list[str] = []
    for key, runs in scopes.items():
        scope = f"scope {key}"
        lines += [*([""] if lines else []), scope if len(scope) <= WIDTH else scope[:99] + "~"]
        lines += [line(_HEAD), *(line(_row(r)) for r in runs)]
    if any(not r["complete"] for r in records):
        lines.append(_INCOMPLETE)
    return lines


def history_text(path: Path, limit: int, as_json: bool) -> str:
    """What ``mlflow-audit history`` prints: the newest runs as a table, or as JSON.

    A missing, corrupt or foreign database is a ConfigError: one line, exit code 2."""
    try:
        records = list_runs(path, limit=limit)
    except HistoryError as exc:
        raise ConfigError(str(exc)) from None
    return json.dumps(records, indent=2) if as_json else "\n".join(format_table(records))
