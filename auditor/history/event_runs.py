"""Event runs in the history: the resources a bucket serves, and a run that re-checked few.

An event run (``mlflow-audit event``) re-checks a handful of resources; it is stored as
a new run of every scope that covers them, with every other resource's problems exactly
as they were, so that the next scan of the scope compares with it as with any run.
CloudTrail eventIDs are stored too: EventBridge delivers at least once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from auditor.history.connection import check_ours, connection, history_timeout, prepare
from auditor.history.diff import Diff, annotate, diff_findings, history_summary, scanned_scopes
from auditor.history.runs import (
    DEFAULT_KEEP,
    insert_run,
    latest_runs,
    problems_of,
    prune,
    resources_in,
    resources_of,
    store_resources,
)


def bucket_users(path: Path, bucket: str, timeout: float | None = None) -> list[dict[str, Any]]:
    """Every resource that the newest run of any scope saw using ``bucket``.

    Read-only; an absent database knows no users. Raises HistoryError when unusable.
    """
    timeout = history_timeout() if timeout is None else timeout
    if not path.is_file():
        return []
    with connection(path, timeout, readonly=True) as conn:
        if not check_ours(conn, path):
            return []
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resources'"
        ).fetchone():
            return []  # written by a version that did not record resources
        users: dict[str, dict[str, Any]] = {}
        for run in latest_runs(conn):
            for arn, row in resources_in(conn, run["seq"]).items():
                if row[4] == bucket:
                    users[arn] = _user(arn, row)
    return [users[a] for a in sorted(users)]


_USER_FIELDS = ("account_id", "region", "resource_type", "resource_name", "bucket", "role_arn")


def _user(arn: str, row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_USER_FIELDS, row, strict=True), resource_arn=arn)


def role_users(
    path: Path, account: str, role_name: str | None, timeout: float | None = None
) -> list[dict[str, Any]]:
    """Every resource that the newest run of any scope saw using the execution role
    ``role_name`` of ``account`` (whatever its path), or any role of ``account`` when
    ``role_name`` is None (a customer managed policy of the account may be attached to
    any of them). Read-only; an absent database knows no users."""
    timeout = history_timeout() if timeout is None else timeout
    if not path.is_file():
        return []
    prefix = f":iam::{account}:role/"
    with connection(path, timeout, readonly=True) as conn:
        if (
            not check_ours(conn, path)
            or not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resources'"
            ).fetchone()
        ):
            return []
        users: dict[str, dict[str, Any]] = {}
        for run in latest_runs(conn):
            for arn, row in resources_in(conn, run["seq"]).items():
                role = str(row[5] or "")
                if prefix in role and role_name in (None, role.rsplit("/", 1)[-1]):
                    users[arn] = _user(arn, row)
    return [users[a] for a in sorted(users)]


def _covers(run: sqlite3.Row, where: set[tuple[str, str]]) -> bool:
    """Did this scope's run cover one of these (account, region) pairs?"""
    accounts = set(json.loads(run["accounts"]))
    regions = set(json.loads(run["regions"]))
    return any(a in accounts and r in regions for a, r in where)


def _covering_runs(
    conn: sqlite3.Connection, doc: dict[str, Any], rechecked: set[str]
) -> list[tuple[sqlite3.Row | None, dict[str, tuple[Any, ...]]]]:
    """The newest run of every scope that covers a re-checked resource, with its stored
    resources; ``[(None, {})]`` when no scope does."""
    started = doc["run"]["started_at"]
    where = {(row[0], row[1]) for row in resources_of(doc).values()}
    where |= {_arn_scope(arn) for arn in rechecked if _arn_scope(arn)}
    plans: list[tuple[sqlite3.Row | None, dict[str, tuple[Any, ...]]]] = []
    for run in latest_runs(conn):
        if run["started_at"] > started:
            continue
        stored = resources_in(conn, run["seq"])
        if any(arn in stored for arn in rechecked) or _covers(run, where):
            plans.append((run, stored))
    return plans or [(None, {})]


@contextmanager
def recording_event_run(
    path: Path,
    doc: dict[str, Any],
    rechecked: set[str],
    event_ids: Iterable[str],
    fallback_key: str,
    *,
    keep: int = DEFAULT_KEEP,
    timeout: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Record an event run: only the findings of the ``rechecked`` resources change.

    For the newest run of every scope that covers a re-checked resource (its resources
    table names it, or its accounts and regions include the resource's), a new run of
    that scope is stored: the previous run's problems of every *other* resource exactly
    as they were (never resolved by an event), and this run's findings for the
    re-checked ones, diffed with the previous (new, unchanged, resolved). The next scan
    of the scope then diffs with it as with any run. With no covering scope the run is
    stored under ``fallback_key`` (the event's own accounts and regions).

    ``event_ids`` (CloudTrail eventIDs) are stored too: when every one of them was
    recorded before (a duplicate delivery), ``doc`` is annotated and the block runs, but
    nothing is stored, so the history is unchanged. Same transaction and error contract
    as ``auditor.history.runs.recording``: the caller writes its reports inside the block.
    """
    timeout = history_timeout() if timeout is None else timeout
    ids = sorted(set(event_ids))
    with connection(path, timeout) as conn:
        conn.execute("BEGIN IMMEDIATE")
        prepare(conn, path)
        known = {
            i
            for i in ids
            if conn.execute("SELECT 1 FROM events WHERE event_id = ?", (i,)).fetchone()
        }
        duplicate = bool(ids) and known >= set(ids)
        started = doc["run"]["started_at"]
        current = resources_of(doc)
        summary: dict[str, Any] | None = None
        diff = Diff()
        for index, (run, stored) in enumerate(_covering_runs(conn, doc, rechecked)):
            key = run["scope_key"] if run is not None else fallback_key
            problems = problems_of(conn, run["seq"]) if run is not None else {}
            mine = {k: p for k, p in problems.items() if k[1] in rechecked}
            others = [p for k, p in problems.items() if k[1] not in rechecked]
            this = diff_findings(doc["findings"], mine, scanned_scopes(doc), started)
            this.carried += others
            if summary is None:
                diff = this
                summary = history_summary(this, dict(run) if run else None, key, path)
                summary["event"] = {"event_ids": ids, "duplicate": duplicate, "scope_keys": []}
            summary["event"]["scope_keys"].append(key)
            if duplicate:
                continue
            seq = _insert_event_run(conn, doc, key, this, run, index)
            kept = {a: r for a, r in stored.items() if a not in rechecked}
            store_resources(conn, seq, {**kept, **current})
            prune(conn, key, keep)
        assert summary is not None
        summary["not_rechecked"] = summary["carried_forward"] = 0  # an event re-checks few
        annotate(doc, diff, summary)
        yield summary
        if not duplicate:
            conn.executemany(
                "INSERT OR IGNORE INTO events (event_id, run_id, recorded_at) VALUES (?, ?, ?)",
                [(i, doc["run"]["id"], started) for i in ids],
            )
        conn.execute("COMMIT")


def record_event_run(
    path: Path,
    doc: dict[str, Any],
    rechecked: set[str],
    event_ids: Iterable[str],
    fallback_key: str,
    *,
    keep: int = DEFAULT_KEEP,
    timeout: float | None = None,
) -> dict[str, Any]:
    """``recording_event_run`` with nothing written inside; returns the history summary."""
    with recording_event_run(
        path, doc, rechecked, event_ids, fallback_key, keep=keep, timeout=timeout
    ) as summary:
        return summary


def _arn_scope(arn: str) -> tuple[str, str] | None:
    parts = arn.split(":")
    return (parts[4], parts[3]) if len(parts) > 5 and parts[3] and parts[4] else None


def _insert_event_run(
    conn: sqlite3.Connection,
    doc: dict[str, Any],
    key: str,
    diff: Diff,
    previous: sqlite3.Row | None,
    index: int,
) -> int:
    """A run row for ``key`` that keeps the previous run's coverage (accounts, regions,
    shard, completeness) with this run's findings for the re-checked resources."""
    run = doc["run"]
    if previous is not None:
        run = {
            **run,
            "id": run["id"] if index == 0 else f"{run['id']}.{index}",
            "accounts": [{"account_id": a} for a in json.loads(previous["accounts"])],
            "regions": json.loads(previous["regions"]),
            "shard": previous["shard"],
            "complete": bool(previous["complete"]) and bool(run.get("complete")),
        }
    stored = {**doc, "run": run}
    return insert_run(conn, stored, key, diff, previous["id"] if previous else None)
