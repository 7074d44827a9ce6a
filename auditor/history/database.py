"""Run history in an embedded SQLite database: what is new and what was resolved.

Nightly audits answer "what changed since yesterday?" by comparing a run with the
previous run of the same *scope* (what was asked to be audited, see ``scope_key``).
A finding's identity is ``(check_id, resource_arn)``. Only problem findings (FAIL,
UNKNOWN, MUTED) are stored: a diff needs nothing else, and PASS rows would dominate the
file. A run is recorded in one transaction (read the previous run, insert this one,
prune old runs), so concurrent runs sharing one database serialize cleanly.

docs/history.md explains the semantics for users.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from auditor.core.model import PROBLEM_STATUSES, STATUSES
from auditor.evaluate.evidence import ROLE_ANSWER_PREFIX

HISTORY_FILENAME = "history.sqlite"
DEFAULT_KEEP = 90
TIMEOUT_ENV = "MLFLOW_AUDIT_HISTORY_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
APPLICATION_ID = 0x4D4C4155  # "MLAU" in the SQLite header: proves the file is ours
#: 1: the first format; 2: ``findings.first_seen`` (migrated in place, see _migrate).
DB_VERSION = 2
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
_COUNTED = STATUSES

Identity = tuple[str, str]
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  id           TEXT NOT NULL UNIQUE,
  started_at   TEXT NOT NULL,
  finished_at  TEXT,
  scope_key    TEXT NOT NULL,
  accounts     TEXT NOT NULL,  -- JSON list of account ids in scope
  regions      TEXT NOT NULL,  -- JSON list of regions covered
  shard        TEXT,
  tool_version TEXT,
  complete     INTEGER NOT NULL,
  n_fail       INTEGER NOT NULL,
  n_unknown    INTEGER NOT NULL,
  n_muted      INTEGER NOT NULL,
  n_pass       INTEGER NOT NULL,
  n_new        INTEGER NOT NULL,
  n_resolved   INTEGER NOT NULL,
  previous_run_id TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_scope ON runs (scope_key, started_at, seq);
CREATE TABLE IF NOT EXISTS findings (
  run_seq       INTEGER NOT NULL REFERENCES runs (seq),
  check_id      TEXT NOT NULL,
  resource_arn  TEXT NOT NULL,
  status        TEXT NOT NULL,
  severity      TEXT NOT NULL,
  account_id    TEXT,
  region        TEXT,
  resource_type TEXT,
  resource_name TEXT,
  message       TEXT,
  first_seen    TEXT,  -- ISO 8601 UTC: start of the first run of an unbroken problem streak
  PRIMARY KEY (run_seq, check_id, resource_arn)
);
"""

# Added beside format 2 without a version bump: older versions ignore extra tables.
# ``resources``: every resource a run evaluated and the bucket it uses. Findings store
# only problems, and the servers whose deleted bucket matters most are the healthy ones
# (all PASS), so "who uses bucket B" needs a row per resource, not a column per finding.
# ``events``: CloudTrail eventIDs already recorded (EventBridge delivers at least once).
_EVENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
  run_seq       INTEGER NOT NULL REFERENCES runs (seq),
  resource_arn  TEXT NOT NULL,
  account_id    TEXT,
  region        TEXT,
  resource_type TEXT,
  resource_name TEXT,
  bucket        TEXT,
  role_arn      TEXT,  -- the execution role: IAM events re-check the resources using it
  PRIMARY KEY (run_seq, resource_arn)
);
CREATE INDEX IF NOT EXISTS resources_by_bucket ON resources (bucket, run_seq);
CREATE TABLE IF NOT EXISTS events (
  event_id    TEXT PRIMARY KEY,
  run_id      TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
"""


class HistoryError(Exception):
    """The history database cannot be used; the message is one line for the user."""


# ---------------------------------------------------------------- pure functions


def identity(finding: dict[str, Any]) -> Identity:
    """Two findings are "the same" across runs when check and resource match."""
    return (str(finding["check_id"]), str(finding["resource_arn"]))


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
        change = change_for(f["status"], prev_status)
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


def history_timeout() -> float:
    """Seconds to wait for a locked database ($MLFLOW_AUDIT_HISTORY_TIMEOUT, default 30)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value >= 0 else DEFAULT_TIMEOUT_S


# ---------------------------------------------------------------- database


def _describe(exc: BaseException, path: Path, timeout: float) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "locked" in text or "busy" in text:
        return (
            f"history database {path} is locked by another process "
            f"(waited {timeout:g}s; set {TIMEOUT_ENV} to wait longer)"
        )
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return f"history database {path} is corrupt ({text}); move it aside to start a new history"
    return f"history database {path} is unusable ({text})"


@contextmanager
def _connection(path: Path, timeout: float, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    """An autocommit connection (transactions are explicit); errors as HistoryError.

    Whatever goes wrong inside, an open transaction is rolled back: nothing half-stored.
    """
    conn = None
    try:
        if readonly:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=timeout,
                isolation_level=None,
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        yield conn
    except (sqlite3.Error, OSError) as exc:
        raise HistoryError(_describe(exc, path, timeout)) from None
    finally:
        if conn is not None:
            with suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            conn.close()


def _check_ours(conn: sqlite3.Connection, path: Path) -> bool:
    """True when the database holds our tables; False when it is empty."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if not tables:
        return False
    if app_id != APPLICATION_ID:
        raise HistoryError(f"{path} is an SQLite database but not an mlflow-audit history")
    if version > DB_VERSION:
        raise HistoryError(
            f"history database {path} was written by a newer mlflow-audit "
            f"(format {version}, this one reads {DB_VERSION})"
        )
    return True


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring an older history up to DB_VERSION, inside the caller's write transaction.

    1 -> 2 adds ``findings.first_seen`` and fills it by walking each scope's runs oldest
    first: a problem present in the previous run of its scope keeps that run's value, any
    other starts at its own run (the best a format-1 history can tell).
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= DB_VERSION:
        return
    if version < 2:
        conn.execute("ALTER TABLE findings ADD COLUMN first_seen TEXT")
        last: dict[str, dict[Identity, str]] = {}
        for run in conn.execute(
            "SELECT seq, scope_key, started_at FROM runs ORDER BY started_at, seq"
        ).fetchall():
            before = last.get(run["scope_key"], {})
            seen: dict[Identity, str] = {}
            for row in conn.execute(
                "SELECT check_id, resource_arn FROM findings WHERE run_seq = ?", (run["seq"],)
            ).fetchall():
                key = (row["check_id"], row["resource_arn"])
                seen[key] = before.get(key, run["started_at"])
            conn.executemany(
                "UPDATE findings SET first_seen = ? WHERE run_seq = ? AND check_id = ? "
                "AND resource_arn = ?",
                [(v, run["seq"], k[0], k[1]) for k, v in seen.items()],
            )
            last[run["scope_key"]] = seen
    conn.execute(f"PRAGMA user_version = {DB_VERSION}")


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Inside a write transaction: create or migrate the schema, add the event tables."""
    if not _check_ours(conn, path):
        _create_schema(conn)
    _migrate(conn)
    _create_event_tables(conn)


def _create_event_tables(conn: sqlite3.Connection) -> None:
    for statement in filter(str.strip, _EVENT_SCHEMA.split(";")):
        conn.execute(statement)
    if "role_arn" not in {r[1] for r in conn.execute("PRAGMA table_info(resources)")}:
        conn.execute("ALTER TABLE resources ADD COLUMN role_arn TEXT")


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in filter(str.strip, _SCHEMA.split(";")):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {DB_VERSION}")


def _previous_run(conn: sqlite3.Connection, key: str, started_at: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT seq, id, started_at FROM runs WHERE scope_key = ? AND started_at <= ? "
        "ORDER BY started_at DESC, seq DESC LIMIT 1",
        (key, started_at),
    ).fetchone()


def _problems_of(conn: sqlite3.Connection, run_seq: int) -> dict[Identity, dict[str, Any]]:
    rows = conn.execute(
        "SELECT f.*, r.started_at AS run_started_at FROM findings f "
        "JOIN runs r ON r.seq = f.run_seq WHERE f.run_seq = ?",
        (run_seq,),
    )
    return {(r["check_id"], r["resource_arn"]): dict(r) for r in rows}


def _insert_run(
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
            if f["status"] in PROBLEM_STATUSES
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


def _resources_in(conn: sqlite3.Connection, run_seq: int) -> dict[str, tuple[Any, ...]]:
    # a history written before roles were recorded has no role_arn column
    columns = {r[1] for r in conn.execute("PRAGMA table_info(resources)")}
    rows = conn.execute(
        _SELECT_RESOURCES if "role_arn" in columns else _SELECT_RESOURCES_WITHOUT_ROLE,
        (run_seq,),
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def _store_resources(
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
        for arn, row in _resources_in(conn, previous_seq).items():
            if arn not in resources and (row[0], row[1]) not in scanned:
                resources[arn] = row
    _store_resources(conn, seq, resources)


def _prune(conn: sqlite3.Connection, key: str, keep: int) -> None:
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


def record_run(
    path: Path,
    doc: dict[str, Any],
    key: str,
    *,
    keep: int = DEFAULT_KEEP,
    timeout: float | None = None,
    write: Callable[[], T] | None = None,
) -> T | None:
    """Compare ``doc`` with the previous run of its scope, annotate it, and store it.

    One write transaction (BEGIN IMMEDIATE: the read of the previous run and the insert
    cannot interleave with another writer). ``write`` (the report writer) runs inside it,
    after ``doc`` is annotated and before the run is stored: a run whose reports could
    not be written is never recorded (its exception propagates, the transaction is rolled
    back), so the next run still sees every problem as new. Returns what ``write``
    returned. Raises HistoryError with a one-line message; on error nothing is stored.
    """
    timeout = history_timeout() if timeout is None else timeout
    written: T | None = None
    with _connection(path, timeout) as conn:
        conn.execute("BEGIN IMMEDIATE")
        _prepare(conn, path)
        started = doc["run"]["started_at"]
        previous = _previous_run(conn, key, started)
        problems = _problems_of(conn, previous["seq"]) if previous else {}
        diff = diff_findings(doc["findings"], problems, scanned_scopes(doc), started)
        summary = history_summary(diff, dict(previous) if previous else None, key, path)
        if write is not None:
            annotate(doc, diff, summary)
            written = write()
        seq = _insert_run(conn, doc, key, diff, previous["id"] if previous else None)
        _insert_resources(conn, seq, doc, previous["seq"] if previous else None)
        _prune(conn, key, keep)
        conn.execute("COMMIT")
    annotate(doc, diff, summary)
    return written


# ---------------------------------------------------------------- event runs


def _latest_runs(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The newest run of every scope key (what the next scan of that scope diffs with)."""
    return conn.execute(
        "SELECT r.* FROM runs r WHERE r.seq = (SELECT p.seq FROM runs p WHERE "
        "p.scope_key = r.scope_key ORDER BY p.started_at DESC, p.seq DESC LIMIT 1) "
        "ORDER BY r.started_at DESC, r.seq DESC"
    ).fetchall()


def bucket_users(path: Path, bucket: str, timeout: float | None = None) -> list[dict[str, Any]]:
    """Every resource that the newest run of any scope saw using ``bucket``.

    Read-only; an absent database knows no users. Raises HistoryError when unusable.
    """
    timeout = history_timeout() if timeout is None else timeout
    if not path.is_file():
        return []
    with _connection(path, timeout, readonly=True) as conn:
        if not _check_ours(conn, path):
            return []
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resources'"
        ).fetchone():
            return []  # written by a version that did not record resources
        users: dict[str, dict[str, Any]] = {}
        for run in _latest_runs(conn):
            for arn, row in _resources_in(conn, run["seq"]).items():
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
    with _connection(path, timeout, readonly=True) as conn:
        if (
            not _check_ours(conn, path)
            or not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'resources'"
            ).fetchone()
        ):
            return []
        users: dict[str, dict[str, Any]] = {}
        for run in _latest_runs(conn):
            for arn, row in _resources_in(conn, run["seq"]).items():
                role = str(row[5] or "")
                if prefix in role and role_name in (None, role.rsplit("/", 1)[-1]):
                    users[arn] = _user(arn, row)
    return [users[a] for a in sorted(users)]


def _covers(run: sqlite3.Row, where: set[tuple[str, str]]) -> bool:
    """Did this scope's run cover one of these (account, region) pairs?"""
    accounts = set(json.loads(run["accounts"]))
    regions = set(json.loads(run["regions"]))
    return any(a in accounts and r in regions for a, r in where)


def record_event_run(
    path: Path,
    doc: dict[str, Any],
    rechecked: set[str],
    event_ids: Iterable[str],
    fallback_key: str,
    *,
    keep: int = DEFAULT_KEEP,
    timeout: float | None = None,
    write: Callable[[], T] | None = None,
) -> T | None:
    """Record an event run: only the findings of the ``rechecked`` resources change.

    For the newest run of every scope that covers a re-checked resource (its resources
    table names it, or its accounts and regions include the resource's), a new run of
    that scope is stored: the previous run's problems of every *other* resource exactly
    as they were (never resolved by an event), and this run's findings for the
    re-checked ones, diffed with the previous (new, unchanged, resolved). The next scan
    of the scope then diffs with it as with any run. With no covering scope the run is
    stored under ``fallback_key`` (the event's own accounts and regions).

    ``event_ids`` (CloudTrail eventIDs) are stored too: when every one of them was
    recorded before (a duplicate delivery), ``doc`` is annotated and ``write`` runs, but
    nothing is stored, so the history is unchanged. Same transaction and error contract
    as ``record_run``.
    """
    timeout = history_timeout() if timeout is None else timeout
    ids = sorted(set(event_ids))
    written: T | None = None
    with _connection(path, timeout) as conn:
        conn.execute("BEGIN IMMEDIATE")
        _prepare(conn, path)
        known = {
            i
            for i in ids
            if conn.execute("SELECT 1 FROM events WHERE event_id = ?", (i,)).fetchone()
        }
        duplicate = bool(ids) and known >= set(ids)
        started = doc["run"]["started_at"]
        current = resources_of(doc)
        where = {(row[0], row[1]) for row in current.values()}
        where |= {_arn_scope(arn) for arn in rechecked if _arn_scope(arn)}
        plans = []
        for run in _latest_runs(conn):
            if run["started_at"] > started:
                continue
            stored = _resources_in(conn, run["seq"])
            if any(arn in stored for arn in rechecked) or _covers(run, where):
                plans.append((run, stored))
        if not plans:
            plans = [(None, {})]
        summary: dict[str, Any] | None = None
        diff = Diff()
        for index, (run, stored) in enumerate(plans):
            key = run["scope_key"] if run is not None else fallback_key
            problems = _problems_of(conn, run["seq"]) if run is not None else {}
            mine = {k: p for k, p in problems.items() if k[1] in rechecked}
            others = [p for k, p in problems.items() if k[1] not in rechecked]
            this = diff_findings(doc["findings"], mine, scanned_scopes(doc), started)
            this.carried += others
            prev = dict(run) if run is not None else None
            if summary is None:
                diff = this
                summary = history_summary(this, prev, key, path)
                summary["event"] = {"event_ids": ids, "duplicate": duplicate, "scope_keys": []}
            summary["event"]["scope_keys"].append(key)
            if duplicate:
                continue
            seq = _insert_event_run(conn, doc, key, this, run, index)
            kept = {a: r for a, r in stored.items() if a not in rechecked}
            _store_resources(conn, seq, {**kept, **current})
            _prune(conn, key, keep)
        assert summary is not None
        summary["not_rechecked"] = summary["carried_forward"] = 0  # an event re-checks few
        annotate(doc, diff, summary)
        if write is not None:
            written = write()
        if not duplicate:
            conn.executemany(
                "INSERT OR IGNORE INTO events (event_id, run_id, recorded_at) VALUES (?, ?, ?)",
                [(i, doc["run"]["id"], started) for i in ids],
            )
        conn.execute("COMMIT")
    annotate(doc, diff, summary)
    return written


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
    return _insert_run(conn, stored, key, diff, previous["id"] if previous else None)
