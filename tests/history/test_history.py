"""Run history: identity, scope keys, new/unchanged/resolved diffing, the SQLite store,
and the shipped example policy (docs/policy.example.yaml) staying loadable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from auditor.evaluate.policy import load_policy
from auditor.evaluate.rules import load_rules
from auditor.history.database import (
    HistoryError,
    change_for,
    diff_findings,
    identity,
    record_run,
    scope_key,
)
from auditor.history.views import format_table, list_runs
from auditor.report.document import gate_on_new

ROOT = Path(__file__).resolve().parents[2]
A, B = "111111111111", "222222222222"
CHECK, OTHER = "mlflow_artifact_bucket_exists", "mlflow_s3_owner_verification_enabled"


def arn(name: str, account: str = A) -> str:
    return f"arn:aws:sagemaker:us-east-1:{account}:mlflow-tracking-server/{name}"


def finding(
    name: str,
    status: str = "FAIL",
    check: str = CHECK,
    account: str = A,
    region: str = "us-east-1",
    severity: str = "high",
) -> dict:
    return {
        "check_id": check,
        "status": status,
        "severity": severity,
        "account_id": account,
        "region": region,
        "resource_type": "mlflow-tracking-server",
        "resource_name": name,
        "resource_arn": arn(name, account),
        "message": f"{name} is {status}",
        "change": None,
    }


def document(
    run_id: str,
    started: str,
    findings: list[dict],
    scanned: tuple[tuple[str, str], ...] = ((A, "us-east-1"),),
    failed: tuple[tuple[str, str], ...] = (),
) -> dict:
    scopes = [{"account_id": a, "region": r, "status": "scanned"} for a, r in scanned]
    scopes += [{"account_id": a, "region": r, "status": "error"} for a, r in failed]
    return {
        "run": {
            "id": run_id,
            "started_at": started,
            "finished_at": started,
            "tool_version": "0.1.0",
            "accounts": [{"account_id": A}],
            "regions": ["us-east-1"],
            "scopes": scopes,
            "shard": None,
            "complete": not failed,
            "fail_on": "high",
        },
        "summary": {"exit_code": 0},
        "findings": findings,
    }


def changes(doc: dict) -> dict[str, str | None]:
    return {f["resource_name"]: f["change"] for f in doc["findings"]}


def resolved_names(doc: dict) -> set[str]:
    return {r["resource_name"] for r in doc["history"]["resolved"]}


# ------------------------------------------------------------------ pure functions


def test_identity_is_check_and_resource_arn():
    assert identity(finding("s1")) == (CHECK, arn("s1"))
    assert identity(finding("s1", check=OTHER)) != identity(finding("s1"))
    assert identity(finding("s1", status="PASS")) == identity(finding("s1"))


def test_scope_key_is_stable_and_names_the_request():
    key = scope_key(
        org=False, accounts=[B, A, A], regions=["us-east-1", "eu-west-1"], shard=None, caller=A
    )
    assert key == f"accounts:{A},{B}|regions:eu-west-1,us-east-1|shard:-"
    assert key == scope_key(
        org=False, accounts=[A, B], regions=["eu-west-1", "us-east-1"], shard=None, caller=B
    )
    # the default scope (the caller's account) is the same as naming it
    assert scope_key(org=False, accounts=[], regions=[], shard=None, caller=A) == scope_key(
        org=False, accounts=[A], regions=[], shard=None, caller=B
    )
    org = scope_key(org=True, accounts=[], regions=[], shard="2/4", caller=A)
    assert org == f"org:{A}|regions:*|shard:2/4"
    assert org != scope_key(org=True, accounts=[], regions=[], shard="3/4", caller=A)


@pytest.mark.parametrize(
    ("now", "before", "expected"),
    [
        ("PASS", None, None),
        ("PASS", "FAIL", None),
        ("FAIL", None, "new"),
        ("FAIL", "PASS", "new"),
        ("UNKNOWN", None, "new"),
        ("MUTED", "PASS", "new"),
        ("FAIL", "FAIL", "unchanged"),
        ("UNKNOWN", "UNKNOWN", "unchanged"),
        ("FAIL", "UNKNOWN", "new"),  # newly proven
        ("UNKNOWN", "FAIL", "unchanged"),  # lost sight of a known problem: not new
        ("MUTED", "FAIL", "unchanged"),  # waived
        ("FAIL", "MUTED", "new"),  # waiver expired since the previous run: alerts again
    ],
)
def test_change_for(now, before, expected):
    assert change_for(now, before) == expected


def test_first_run_every_problem_is_new_and_nothing_resolved():
    d = diff_findings(
        [finding("a"), finding("b", "UNKNOWN"), finding("c", "PASS")], {}, {(A, "us-east-1")}
    )
    assert d.count("new") == 2 and d.count("unchanged") == 0
    assert d.changes[identity(finding("c"))] is None
    assert d.resolved == [] and d.not_rechecked == 0


def test_diff_new_unchanged_and_resolved():
    previous = {
        identity(f): f
        for f in (finding("kept"), finding("fixed"), finding("gone"), finding("waived"))
    }
    current = [
        finding("kept"),
        finding("fixed", "PASS"),
        finding("fresh"),
        finding("waived", "MUTED"),
    ]
    d = diff_findings(current, previous, {(A, "us-east-1")})
    assert d.changes == {
        identity(finding("kept")): "unchanged",
        identity(finding("fixed")): None,
        identity(finding("fresh")): "new",
        identity(finding("waived")): "unchanged",
    }
    assert {(r["resource_name"], r["now"]) for r in d.resolved} == {
        ("fixed", "PASS"),
        ("gone", None),
    }
    gone = next(r for r in d.resolved if r["resource_name"] == "gone")
    assert gone["status"] == "FAIL" and gone["resource_arn"] == arn("gone")
    assert set(gone) >= {"check_id", "severity", "account_id", "region", "resource_type", "message"}


def test_a_finding_missing_from_an_unread_scope_is_not_resolved():
    previous = {identity(f): f for f in (finding("here"), finding("there", account=B))}
    d = diff_findings([], previous, {(A, "us-east-1")})  # B's scope failed this time
    assert [r["resource_name"] for r in d.resolved] == ["here"]
    assert d.not_rechecked == 1


def test_gate_on_new_counts_only_new_fails_and_fails_safe_without_history():
    doc = document("r", "2026-01-01T00:00:00Z", [finding("old"), finding("low", severity="low")])
    doc["findings"][0]["change"] = "unchanged"
    doc["findings"][1]["change"] = "new"
    gate_on_new(doc, history_ok=True)
    assert doc["summary"]["exit_code"] == 0  # the new one is below --fail-on high
    gate_on_new(doc, history_ok=False)
    assert doc["summary"]["exit_code"] == 1  # no history: every FAIL counts as new
    doc["findings"][0]["change"] = "new"
    gate_on_new(doc, history_ok=True)
    assert doc["summary"]["exit_code"] == 1


# ------------------------------------------------------------------ the SQLite store


KEY = f"accounts:{A}|regions:us-east-1|shard:-"


def test_three_runs_and_a_reappearing_finding(tmp_path):
    db = tmp_path / "h.sqlite"
    run1 = document("r1", "2026-01-01T00:00:00Z", [finding("x"), finding("y")])
    record_run(db, run1, KEY)
    assert run1["history"]["previous_run_id"] is None
    assert changes(run1) == {"x": "new", "y": "new"}

    run2 = document("r2", "2026-01-02T00:00:00Z", [finding("x", "PASS"), finding("y")])
    record_run(db, run2, KEY)
    assert run2["history"]["previous_run_id"] == "r1"
    assert run2["history"]["previous_started_at"] == "2026-01-01T00:00:00Z"
    assert changes(run2) == {"x": None, "y": "unchanged"}
    assert resolved_names(run2) == {"x"}
    assert (run2["history"]["new"], run2["history"]["unchanged"]) == (0, 1)

    run3 = document("r3", "2026-01-03T00:00:00Z", [finding("x"), finding("y")])
    record_run(db, run3, KEY)
    assert changes(run3) == {"x": "new", "y": "unchanged"}  # reappeared: new again
    assert run3["history"]["resolved"] == []

    runs = list_runs(db)
    assert [r["id"] for r in runs] == ["r3", "r2", "r1"]
    assert [(r["new"], r["resolved"]) for r in runs] == [(1, 0), (0, 1), (2, 0)]
    assert [r["fail_delta"] for r in runs] == [1, -1, None]
    assert runs[0]["counts"] == {"FAIL": 2, "UNKNOWN": 0, "MUTED": 0, "PASS": 0}
    lines = format_table(runs)
    assert lines[0] == f"scope {KEY}" and lines[1].split()[0] == "RUN"
    assert "r3" in lines[2] and "first run" in lines[-1]


def test_the_history_table_fits_a_terminal_with_every_region(tmp_path):
    """17 regions and a long scope: counts in the table, the lists in --json."""
    db = tmp_path / "h.sqlite"
    regions = [f"ap-southeast-{i}" for i in range(1, 18)]
    key = scope_key(org=False, accounts=[A, B], regions=regions, shard=None, caller=A)
    for day in (1, 2):
        doc = document(f"2026-01-0{day}T00-00-00Z-abcdef", f"2026-01-0{day}T00:00:00Z", [])
        doc["run"]["regions"] = regions
        doc["run"]["complete"] = day == 1
        record_run(db, doc, key)
    record_run(db, document("other", "2026-01-03T00:00:00Z", [finding("x")]), KEY)
    lines = format_table(list_runs(db))
    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    # grouped by scope, the newest run's scope first; a region count, not the list
    assert lines[0] == f"scope {KEY}" and lines[3] == ""
    assert lines[4].startswith("scope accounts:") and lines[4].endswith("~")
    assert lines[6].split()[:3] == ["2026-01-02T00-00-00Z-abcdef*", "1", "17"]
    assert lines[-1].startswith("* incomplete")


def test_previous_run_is_the_latest_of_the_same_scope(tmp_path):
    db = tmp_path / "h.sqlite"
    record_run(db, document("a1", "2026-01-01T00:00:00Z", [finding("x")]), KEY)
    record_run(db, document("b1", "2026-01-02T00:00:00Z", [finding("y")]), "other")
    later = document("a2", "2026-01-03T00:00:00Z", [finding("x")])
    record_run(db, later, KEY)
    assert later["history"]["previous_run_id"] == "a1"
    assert changes(later) == {"x": "unchanged"}
    # same second: insertion order decides
    same = document("a3", "2026-01-03T00:00:00Z", [])
    record_run(db, same, KEY)
    assert same["history"]["previous_run_id"] == "a2"


def test_only_problems_are_stored_and_old_runs_are_pruned_per_scope(tmp_path):
    db = tmp_path / "h.sqlite"
    record_run(db, document("other", "2025-12-01T00:00:00Z", [finding("z")]), "other", keep=1)
    for day in range(1, 5):
        record_run(
            db,
            document(f"r{day}", f"2026-01-0{day}T00:00:00Z", [finding("x"), finding("p", "PASS")]),
            KEY,
            keep=2,
        )
    assert [r["id"] for r in list_runs(db)] == ["r4", "r3", "other"]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT resource_name FROM findings").fetchall()
    assert sorted(rows) == [("x",), ("x",), ("z",)]


def test_corrupt_database_is_a_one_line_error_and_the_doc_is_untouched(tmp_path):
    db = tmp_path / "h.sqlite"
    db.write_bytes(b"this is not sqlite at all\x00\xff" * 100)
    doc = document("r1", "2026-01-01T00:00:00Z", [finding("x")])
    with pytest.raises(HistoryError, match="corrupt") as err:
        record_run(db, doc, KEY)
    assert "\n" not in str(err.value) and str(db) in str(err.value)
    assert "history" not in doc and doc["findings"][0]["change"] is None
    with pytest.raises(HistoryError, match="corrupt"):
        list_runs(db)


def test_someone_elses_sqlite_database_is_refused(tmp_path):
    db = tmp_path / "h.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(HistoryError, match="not an mlflow-audit history"):
        record_run(db, document("r1", "2026-01-01T00:00:00Z", []), KEY)


def test_locked_database_gives_up_after_the_busy_timeout(tmp_path):
    db = tmp_path / "h.sqlite"
    record_run(db, document("r1", "2026-01-01T00:00:00Z", [finding("x")]), KEY)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        doc = document("r2", "2026-01-02T00:00:00Z", [finding("x")])
        with pytest.raises(HistoryError, match="locked"):
            record_run(db, doc, KEY, timeout=0.2)
        assert time.monotonic() - t0 < 5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [r["id"] for r in list_runs(db)] == ["r1"]  # nothing half-stored


def test_missing_database_is_an_error_for_the_listing(tmp_path):
    with pytest.raises(HistoryError, match="no history database"):
        list_runs(tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()


# ------------------------------------------------------------------ example policy


def test_shipped_example_policy_loads_with_the_shipped_rules():
    """docs/policy.example.yaml documents every key; it must never rot."""
    policy = load_policy(ROOT / "docs" / "policy.example.yaml", {r.id for r in load_rules()})
    assert policy.trusted_accounts and policy.severities and policy.waivers
    assert all(w.reason and w.expires for w in policy.waivers)
    text = (ROOT / "docs" / "policy.example.yaml").read_text()
    for key in (
        "trusted_accounts",
        "checks",
        "enabled",
        "severity",
        "waivers",
        "check_id",
        "resource",
        "reason",
        "expires",
    ):
        assert f"{key}:" in text


def test_first_seen_is_the_run_start_when_new_and_carried_while_unchanged(tmp_path):
    db, key = tmp_path / "h.sqlite", "k"
    t1, t2, t3 = "2026-11-01T02:00:00Z", "2026-11-02T02:00:00Z", "2026-11-03T02:00:00Z"
    d1 = document("r1", t1, [finding("a"), finding("b")])
    record_run(db, d1, key)
    assert {f["first_seen"] for f in d1["findings"]} == {t1}
    # b fixed, c new; a carried from run 1
    d2 = document("r2", t2, [finding("a"), finding("b", "PASS"), finding("c")])
    record_run(db, d2, key)
    seen = {f["resource_name"]: f["first_seen"] for f in d2["findings"]}
    assert seen == {"a": t1, "b": t1, "c": t2}  # a resolved one keeps its creation time
    (resolved,) = d2["history"]["resolved"]
    assert resolved["resource_name"] == "b" and resolved["first_seen"] == t1
    # b comes back: a new problem, first seen again now
    d3 = document("r3", t3, [finding("a"), finding("b"), finding("c")])
    record_run(db, d3, key)
    assert {f["resource_name"]: f["first_seen"] for f in d3["findings"]} == {
        "a": t1,
        "b": t3,
        "c": t2,
    }


def test_a_format_1_history_is_migrated_and_first_seen_backfilled(tmp_path):
    """A database written before first_seen existed (format 1): the column is added and
    filled from the runs it holds, oldest first, inside the first write transaction."""
    db, key = tmp_path / "h.sqlite", "k"
    t1, t2, t3 = "2026-11-01T02:00:00Z", "2026-11-02T02:00:00Z", "2026-11-03T02:00:00Z"
    record_run(db, document("r1", t1, [finding("a")]), key)
    record_run(db, document("r2", t2, [finding("a"), finding("b")]), key)
    conn = sqlite3.connect(db)  # make it what format 1 wrote
    conn.execute("ALTER TABLE findings DROP COLUMN first_seen")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    d3 = document("r3", t3, [finding("a"), finding("b")])
    record_run(db, d3, key)
    assert {f["resource_name"]: f["first_seen"] for f in d3["findings"]} == {"a": t1, "b": t2}
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM findings WHERE first_seen IS NULL").fetchone()[0] == 0
    conn.close()


def test_the_trend_lists_the_newest_earlier_runs_of_the_scope_oldest_first(tmp_path):
    db = tmp_path / "h.sqlite"
    first = document("r1", "2026-01-01T00:00:00Z", [finding("x", severity="critical")])
    record_run(db, first, KEY)
    assert first["history"]["trend"] == []  # no earlier run: no trend
    record_run(db, document("o1", "2026-01-01T12:00:00Z", [finding("o")]), "other scope")
    second = document(
        "r2",
        "2026-01-02T00:00:00Z",
        [finding("x", severity="critical"), finding("y", "UNKNOWN"), finding("z", severity="low")],
        failed=((B, "eu-west-1"),),
    )
    record_run(db, second, KEY)
    third = document("r3", "2026-01-03T00:00:00Z", [finding("z", severity="low")])
    record_run(db, third, KEY)
    zero = dict.fromkeys(("critical", "high", "medium", "low", "info"), 0)
    assert third["history"]["trend"] == [
        {
            "run_id": "r1",
            "started_at": "2026-01-01T00:00:00Z",
            "complete": True,
            "fail_by_severity": {**zero, "critical": 1},
            "new": 1,
            "resolved": 0,
        },
        {
            "run_id": "r2",
            "started_at": "2026-01-02T00:00:00Z",
            "complete": False,
            "fail_by_severity": {**zero, "critical": 1, "low": 1},  # UNKNOWN is not a FAIL
            "new": 2,
            "resolved": 0,
        },
    ]
    assert third["history"]["previous_run_id"] == "r2"
    # at most 29 earlier runs: with the current one, the report's 30 columns
    for day in range(1, 29):
        record_run(db, document(f"d{day}", f"2026-02-{day:02d}T00:00:00Z", []), KEY)
    last = document("last", "2026-03-01T00:00:00Z", [])
    record_run(db, last, KEY)
    trend = last["history"]["trend"]
    assert [t["run_id"] for t in trend] == ["r3"] + [f"d{day}" for day in range(1, 29)]
