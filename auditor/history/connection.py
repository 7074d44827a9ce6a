"""The history database file: open it, prove it is ours, create or migrate its tables.

Every connection is in autocommit mode with explicit transactions; whatever goes wrong
inside one (a locked, corrupt or foreign file, a full disk) is a HistoryError with one
line for the user, and an open transaction is rolled back: nothing is half stored.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from auditor.history.diff import Identity

TIMEOUT_ENV = "MLFLOW_AUDIT_HISTORY_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
APPLICATION_ID = 0x4D4C4155  # "MLAU" in the SQLite header: proves the file is ours
#: 1: the first format; 2: ``findings.first_seen`` (migrated in place, see migrate).
DB_VERSION = 2

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


def history_timeout() -> float:
    """Seconds to wait for a locked database ($MLFLOW_AUDIT_HISTORY_TIMEOUT, default 30)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value >= 0 else DEFAULT_TIMEOUT_S


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
def connection(path: Path, timeout: float, readonly: bool = False) -> Iterator[sqlite3.Connection]:
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
            if not path.exists():
                _create_whole(path, timeout)
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


def _create_whole(path: Path, timeout: float) -> None:
    """A new history database appears whole or not at all.

    Its tables are written to a temporary file beside it, which is then hard-linked into
    place (link fails rather than replace a database another run created meanwhile; that
    one is used instead). A full disk or an I/O error leaves no empty or half-written
    file at ``path``, only the error.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        conn = sqlite3.connect(tmp, timeout=timeout, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            _create_schema(conn)
            _create_event_tables(conn)
            conn.execute("COMMIT")
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another run created it first: the tables are the same
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)


def check_ours(conn: sqlite3.Connection, path: Path) -> bool:
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


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Inside a write transaction: create or migrate the schema, add the event tables."""
    if not check_ours(conn, path):
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
