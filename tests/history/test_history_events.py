"""history.record_event_run: an event run changes only the re-checked resources' findings,
records bucket users, and a duplicate delivery stores nothing."""

from __future__ import annotations

import sqlite3

from auditor.history.database import bucket_users, record_event_run, record_run
from tests.history.test_history import KEY, arn, document, finding


def with_bucket(f: dict, bucket: str) -> dict:
    return {**f, "bucket": bucket}


def counts(db) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM runs").fetchone()[0],
            conn.execute("SELECT count(*) FROM findings").fetchone()[0],
        )


def test_event_run_touches_only_the_rechecked_resources(tmp_path):
    db = tmp_path / "h.sqlite"
    night = [
        with_bucket(finding("a"), "shared"),
        with_bucket(finding("b"), "other"),
        with_bucket(finding("c", status="PASS"), "shared"),  # healthy: no finding row
    ]
    record_run(db, document("n1", "2026-01-01T00:00:00Z", night), KEY)
    users = bucket_users(db, "shared")
    assert [u["resource_name"] for u in users] == ["a", "c"]

    # the event re-checks a (now PASS) and c (now FAIL); b is not re-checked
    event = document(
        "e1",
        "2026-01-01T06:00:00Z",
        [with_bucket(finding("a", status="PASS"), "shared"), with_bucket(finding("c"), "shared")],
    )
    record_event_run(db, event, {arn("a"), arn("c")}, ["ev-1"], "fallback")
    assert event["history"]["scope_key"] == KEY
    assert [r["resource_name"] for r in event["history"]["resolved"]] == ["a"]
    assert {f["resource_name"]: f["change"] for f in event["findings"]} == {"a": None, "c": "new"}

    # the next scan diffs with the event's run: b unchanged (never resolved by the event),
    # c unchanged (the event reported it), nothing resolved again
    scan = document(
        "n2",
        "2026-01-02T00:00:00Z",
        [
            with_bucket(finding("a", status="PASS"), "shared"),
            with_bucket(finding("b"), "other"),
            with_bucket(finding("c"), "shared"),
        ],
    )
    record_run(db, scan, KEY)
    assert {f["resource_name"]: f["change"] for f in scan["findings"]} == {
        "a": None,
        "b": "unchanged",
        "c": "unchanged",
    }
    assert scan["history"]["resolved"] == []


def test_duplicate_delivery_stores_nothing(tmp_path):
    db = tmp_path / "h.sqlite"
    record_run(db, document("n1", "2026-01-01T00:00:00Z", [finding("a")]), KEY)
    first = document("e1", "2026-01-01T06:00:00Z", [finding("a", status="PASS")])
    record_event_run(db, first, {arn("a")}, ["ev-1"], "fallback")
    stored = counts(db)
    again = document("e2", "2026-01-01T06:05:00Z", [finding("a", status="PASS")])
    record_event_run(db, again, {arn("a")}, ["ev-1"], "fallback")
    assert again["history"]["event"]["duplicate"] is True
    assert counts(db) == stored


def test_no_covering_scope_uses_the_fallback_key(tmp_path):
    db = tmp_path / "h.sqlite"
    doc = document("e1", "2026-01-01T06:00:00Z", [finding("a")])
    record_event_run(db, doc, {arn("a")}, ["ev-1"], "accounts:x|regions:us-east-1|shard:-")
    assert doc["history"]["scope_key"] == "accounts:x|regions:us-east-1|shard:-"
    assert doc["history"]["new"] == 1


def with_role(f: dict, role: str) -> dict:
    """A finding of a role check: its evidence opens with Describe's RoleArn answer."""
    answer = f"RoleArn={role}, automatic model registration off"
    return {**f, "evidence": [{"call": "sagemaker:DescribeMlflowTrackingServer", "answer": answer}]}


def test_role_users_are_the_resources_whose_evidence_names_the_role(tmp_path):
    from auditor.history.database import role_users
    from tests.history.test_history import A

    db = tmp_path / "h.sqlite"
    role = f"arn:aws:iam::{A}:role/team/MlflowRole"
    other = f"arn:aws:iam::{A}:role/Other"
    night = [
        with_role(finding("a", status="PASS"), role),  # healthy users are known too
        with_role(finding("b"), other),
        finding("c"),  # no role check: no role known
    ]
    record_run(db, document("n1", "2026-01-01T00:00:00Z", night), KEY)
    assert [u["resource_name"] for u in role_users(db, A, "MlflowRole")] == ["a"]
    assert role_users(db, A, "MlflowRole")[0]["role_arn"] == role
    # a managed policy of the account: any of its roles may attach it
    assert [u["resource_name"] for u in role_users(db, A, None)] == ["a", "b"]
    assert role_users(db, "999999999999", None) == []
    assert role_users(tmp_path / "absent.sqlite", A, "MlflowRole") == []


def test_a_history_without_the_role_column_gains_it(tmp_path):
    from auditor.history.database import role_users
    from tests.history.test_history import A

    db = tmp_path / "h.sqlite"
    record_run(db, document("n1", "2026-01-01T00:00:00Z", [finding("a")]), KEY)
    with sqlite3.connect(db) as conn:  # as written before roles were recorded
        conn.execute("ALTER TABLE resources DROP COLUMN role_arn")
    assert bucket_users(db, "nothing") == [] and role_users(db, A, None) == []
    role = f"arn:aws:iam::{A}:role/R"
    record_run(db, document("n2", "2026-01-02T00:00:00Z", [with_role(finding("a"), role)]), KEY)
    assert [u["resource_name"] for u in role_users(db, A, "R")] == ["a"]
