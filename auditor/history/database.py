"""Run history in an embedded SQLite database: what is new and what was resolved.

Nightly audits answer "what changed since yesterday?" by comparing a run with the
previous run of the same *scope* (what was asked to be audited, see ``scope_key``).
The public names of the history, from the modules that do each job:

- ``auditor.history.connection``: the file (open, prove ours, create, migrate);
- ``auditor.history.diff``: the comparison of a run with its predecessor (pure);
- ``auditor.history.runs``: recording a run (``recording``, ``record_run``);
- ``auditor.history.event_runs``: event runs and the known users of a bucket or a role.

docs/history.md explains the semantics for users.
"""

from __future__ import annotations

from auditor.core.request import HISTORY_FILENAME
from auditor.history.connection import (
    TIMEOUT_ENV,
    HistoryError,
    history_timeout,
)
from auditor.history.diff import Diff, change_for, diff_findings, identity, scope_key
from auditor.history.event_runs import (
    bucket_users,
    record_event_run,
    recording_event_run,
    role_users,
)
from auditor.history.runs import DEFAULT_KEEP, record_run, recording, resources_of

__all__ = [
    "DEFAULT_KEEP",
    "HISTORY_FILENAME",
    "TIMEOUT_ENV",
    "Diff",
    "HistoryError",
    "bucket_users",
    "change_for",
    "diff_findings",
    "history_timeout",
    "identity",
    "record_event_run",
    "record_run",
    "recording",
    "recording_event_run",
    "resources_of",
    "role_users",
    "scope_key",
]
