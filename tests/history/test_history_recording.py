"""auditor.history.runs.recording: the reports are written inside the history's block.

The block is the contract that keeps the reports and the history in agreement: the
document is annotated when it opens, the run is stored when it ends, and a failure
inside it (the reports could not be written) stores nothing at all.
"""

from __future__ import annotations

import sqlite3

import pytest

from auditor.history.database import HistoryError, record_run, recording, recording_event_run
from auditor.history.views import list_runs
from tests.history.test_history import KEY, document, finding


class DiskFull(Exception):
    pass


def test_the_document_is_annotated_when_the_block_opens_and_stored_when_it_ends(tmp_path):
    db = tmp_path / "h.sqlite"
    doc = document("r1", "2026-01-01T00:00:00Z", [finding("a")])
    with recording(db, doc, KEY) as summary:
        # what the reports written here say is what will be stored
        assert doc["history"] is summary
        assert doc["findings"][0]["change"] == "new"
        with sqlite3.connect(db) as other:  # another reader sees no run committed yet
            # (a new database's empty tables are committed first: it appears whole)
            assert other.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert [r["id"] for r in list_runs(db)] == ["r1"]


def test_a_failure_inside_the_block_stores_nothing(tmp_path):
    db = tmp_path / "h.sqlite"
    record_run(db, document("r1", "2026-01-01T00:00:00Z", [finding("a")]), KEY)
    doc = document("r2", "2026-01-02T00:00:00Z", [finding("a"), finding("b")])
    with pytest.raises(DiskFull), recording(db, doc, KEY):
        raise DiskFull
    assert [r["id"] for r in list_runs(db)] == ["r1"]
    # the next run still sees b as new: the failed run left no trace
    again = document("r3", "2026-01-03T00:00:00Z", [finding("a"), finding("b")])
    record_run(db, again, KEY)
    assert [f["change"] for f in again["findings"]] == ["unchanged", "new"]


def test_an_event_run_that_fails_inside_its_block_stores_no_event_id(tmp_path):
    db = tmp_path / "h.sqlite"
    doc = document("e1", "2026-01-01T00:00:00Z", [finding("a")])
    rechecked = {doc["findings"][0]["resource_arn"]}
    with pytest.raises(DiskFull), recording_event_run(db, doc, rechecked, ["ev-1"], KEY):
        raise DiskFull
    retry = document("e2", "2026-01-01T00:00:01Z", [finding("a")])
    with recording_event_run(db, retry, rechecked, ["ev-1"], KEY) as summary:
        assert summary["event"]["duplicate"] is False  # the failed delivery was not kept


def test_an_unusable_database_is_a_history_error_before_the_block_runs(tmp_path):
    db = tmp_path / "h.sqlite"
    db.write_bytes(b"not a database at all" * 100)
    ran = []
    with pytest.raises(HistoryError, match="corrupt"), recording(db, document("r", "t", []), KEY):
        ran.append(True)
    assert ran == []
