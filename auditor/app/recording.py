"""A run's history around its reports: compare, write the reports, then store the run.

The history (auditor.history) opens one transaction, annotates the findings document with
what is new and resolved, and stores the run when the block ends; the reports are
written inside that block, here, so they say exactly what was stored, and a run whose
reports failed is never recorded. A history kept in S3 is downloaded, updated and
uploaded around the same block (auditor.history.s3).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import boto3

from auditor.aws.clients import ClientCache
from auditor.aws.credentials import caller_credentials
from auditor.core.request import ScanRequest
from auditor.core.terminal import echo
from auditor.history.database import HISTORY_FILENAME, HistoryError, recording, scope_key
from auditor.history.s3 import parse_location, update_history

#: ``recorder(path, doc)``: the history's recording block for ``doc`` in the database file
#: at ``path`` (scan: auditor.history.runs.recording; event: its event-run variant).
Recorder = Callable[[Path, dict[str, Any]], AbstractContextManager[Any]]
#: ``write(history_ok)``: write the reports; ``history_ok`` False when they go without it.
ReportWriter = Callable[[bool], list[Path]]


def scope_key_of(doc: dict[str, Any], request: ScanRequest) -> str:
    run = doc["run"]
    return scope_key(
        org=request.org,
        accounts=list(request.accounts),
        regions=list(request.regions),
        shard=run["shard"],
        caller=run["caller_account_id"],
    )


def history_location(request: ScanRequest, out_dir: Path) -> str:
    """``--history`` (a path or ``s3://bucket/key``), else OUTPUT_DIR/history.sqlite."""
    return str(request.history_path or out_dir / HISTORY_FILENAME)


def with_history(session: boto3.Session, location: str, update: Callable[[Path], Any]) -> Any:
    """``update(path)`` on the local or s3:// history (auditor.history.s3), the S3
    object read and written as the caller."""
    if parse_location(location) is None:
        return update(Path(location))
    cache = ClientCache(session, pool_size=1)
    with cache.acting_as(caller_credentials(session)):
        return update_history(location, update, s3_client=cache.client(cache.default_region, "s3"))


def scan_recorder(request: ScanRequest) -> Recorder:
    """A scan's record: compared with the previous run of the same scope."""

    def record(path: Path, doc: dict[str, Any]) -> AbstractContextManager[Any]:
        return recording(path, doc, scope_key_of(doc, request), keep=request.history_keep)

    return record


def _without_history(
    doc: dict[str, Any], request: ScanRequest, location: str, exc: HistoryError
) -> None:
    """The document of a run whose history could not be used: no ``change``, and why."""
    for f in doc["findings"]:
        f["change"] = None
        f["first_seen"] = None
    doc["history"] = {
        "error": str(exc),
        "database": location,
        "scope_key": scope_key_of(doc, request),
    }
    note = ""
    if request.fail_on_new:
        note = "; --fail-on-new counts every FAIL as new"
        doc["history"]["fail_on_new"] = "history unavailable: every FAIL counted as new"
    echo(f"warning: {exc}; reports are written without history{note}")


def write_with_history(
    doc: dict[str, Any],
    request: ScanRequest,
    out_dir: Path,
    write: ReportWriter,
    session: boto3.Session,
    recorder: Recorder,
) -> list[Path]:
    """Annotate ``doc`` with the history, write the reports, then record the run.

    The run is recorded only once the reports are written (inside ``recorder``'s
    block): a run whose reports failed (exit 4) leaves no trace, so the next run still
    sees every problem as new. A history failure (corrupt or locked database,
    unreadable S3 object) is a one-line warning and a ``history.error`` note: the
    reports are still written and the exit code is unchanged (``--fail-on-new`` then
    counts every FAIL as new).
    """
    if request.no_history:
        return write(False)
    location = history_location(request, out_dir)
    remote = parse_location(location) is not None
    written: list[Path] | None = None

    def update(path: Path) -> None:
        nonlocal written
        with recorder(path, doc):
            if remote and isinstance(doc.get("history"), dict):
                doc["history"]["database"] = location  # not the temporary copy
            written = write(True)

    try:
        with_history(session, location, update)
    except HistoryError as exc:
        if written is not None:  # reports written, but the run could not be stored
            echo(f"warning: {exc}; this run is not recorded in the history")
            return written
        _without_history(doc, request, location, exc)
        return write(False)
    if remote and isinstance(doc.get("history"), dict):
        doc["history"]["database"] = location
    return written or []
