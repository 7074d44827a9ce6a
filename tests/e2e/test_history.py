"""Run history end to end: new/unchanged/resolved across runs in JSON, CSV and HTML,
--fail-on-new, a shared database, and a corrupt or locked database never losing a report."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.history.database import TIMEOUT_ENV
from auditor.sim import build_demo_org, simulated_aws

VERIFY = "mlflow_s3_owner_verification_enabled"


def invoke(*args: str) -> tuple:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result, result.stderr


def load(out: Path) -> dict:
    return json.loads((out / "findings.json").read_text())


def changes(doc: dict) -> dict[tuple[str, str], str | None]:
    return {(f["resource_name"], f["check_id"]): f["change"] for f in doc["findings"]}


def new_set(doc: dict) -> set[tuple[str, str]]:
    return {k for k, v in changes(doc).items() if v == "new"}


def resolved_set(doc: dict) -> set[tuple[str, str]]:
    return {(r["resource_name"], r["check_id"]) for r in doc["history"]["resolved"]}


def csv_changes(out: Path) -> dict[tuple[str, str], str]:
    with open(out / "findings.csv", newline="", encoding="utf-8") as fh:
        return {(r["resource_name"], r["check_id"]): r["change"] for r in csv.DictReader(fh)}


def history_section(out: Path) -> str:
    page = (out / "report.html").read_text()
    start = page.index('<section id="history"')
    text = page[start : page.index("</section>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


@pytest.fixture
def fresh_org(monkeypatch):
    """A simulated organisation of its own: this test changes its servers between runs."""
    with simulated_aws() as sim:
        org = build_demo_org(sim, regions=("us-east-1",))
        key, secret = sim.credentials_for(org.management_account_id)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        yield sim, org


def set_verification(sim, case, enabled: bool) -> None:
    sm = sim.session_for(case.account_id, case.region).client("sagemaker")
    sm.update_mlflow_tracking_server(
        TrackingServerName=case.resource_name, S3BucketOwnerVerification=enabled
    )
    sm.describe_mlflow_tracking_server(TrackingServerName=case.resource_name)  # settle


@pytest.mark.slow  # an organisation of its own, scanned three times
def test_three_runs_new_resolved_and_reappearing(fresh_org, tmp_path):
    sim, org = fresh_org
    db = tmp_path / "shared" / "history.sqlite"
    base = ["scan", "--org", "--region", "us-east-1", "--history", str(db), "--quiet"]

    # run 1: first run of the scope, every problem is new; --fail-on-new fails safe
    out1 = tmp_path / "run1"
    r1, _ = invoke(*base, "--output-dir", str(out1), "--fail-on-new")
    doc1 = load(out1)
    assert doc1["history"]["previous_run_id"] is None
    non_pass = {
        (f["resource_name"], f["check_id"])
        for f in doc1["findings"]
        if f["status"] != "PASS" and not f["caused_by"]
    }
    assert new_set(doc1) == non_pass and doc1["history"]["new"] == len(non_pass)
    assert all(f["change"] is None for f in doc1["findings"] if f["status"] == "PASS")
    # an UNKNOWN that follows from a FAIL of its resource is not new: its root is
    assert all(f["change"] is None for f in doc1["findings"] if f["caused_by"])
    assert r1.exit_code == 1 and doc1["run"]["fail_on_new"] is True
    assert "First recorded run of this scope" in history_section(out1)

    # fix verification-disabled, break compliant
    set_verification(sim, org.case("verification-disabled"), True)
    set_verification(sim, org.case("compliant"), False)

    out2 = tmp_path / "run2"
    r2, _ = invoke(*base, "--output-dir", str(out2), "--fail-on-new", "--fail-on", "critical")
    doc2 = load(out2)
    assert doc2["history"]["previous_run_id"] == doc1["run"]["id"]
    assert doc2["history"]["previous_started_at"] == doc1["run"]["started_at"]
    assert new_set(doc2) == {("compliant", VERIFY)}
    assert resolved_set(doc2) == {("verification-disabled", VERIFY)}
    (resolved,) = doc2["history"]["resolved"]
    assert resolved["status"] == "FAIL" and resolved["now"] == "PASS"
    assert resolved["resource_arn"] == org.case("verification-disabled").resource_arn
    assert changes(doc2)[("sniped-unverified", VERIFY)] == "unchanged"
    # the only new FAIL is high: below --fail-on critical, although old critical FAILs exist
    assert doc2["summary"]["fail_by_severity"]["critical"] > 0
    assert r2.exit_code == 0 and doc2["summary"]["exit_code"] == 0
    assert doc2["summary"]["verdict"] == "FAIL"  # the verdict still describes every finding
    rows = csv_changes(out2)
    assert rows[("compliant", VERIFY)] == "new"
    assert rows[("sniped-unverified", VERIFY)] == "unchanged"
    assert rows[("verification-disabled", VERIFY)] == ""  # PASS: no change
    section = history_section(out2)
    assert f"Compared with run {doc1['run']['id']}" in section
    assert "1 new finding" in section and "1 resolved" in section
    assert "verification-disabled" in section

    # re-break verification-disabled: the finding reappears and is new again
    set_verification(sim, org.case("verification-disabled"), False)
    out3 = tmp_path / "run3"
    r3, _ = invoke(*base, "--output-dir", str(out3), "--fail-on-new")
    doc3 = load(out3)
    assert doc3["history"]["previous_run_id"] == doc2["run"]["id"]
    assert new_set(doc3) == {("verification-disabled", VERIFY)}
    assert changes(doc3)[("compliant", VERIFY)] == "unchanged"
    assert resolved_set(doc3) == set()
    assert r3.exit_code == 1  # a new high FAIL
    assert csv_changes(out3)[("verification-disabled", VERIFY)] == "new"

    # the listing: newest first, counts and trend
    result, _ = invoke("history", "--history", str(db), "--json")
    assert result.exit_code == 0
    runs = json.loads(result.stdout)
    assert [r["id"] for r in runs] == [doc3["run"]["id"], doc2["run"]["id"], doc1["run"]["id"]]
    assert [(r["new"], r["resolved"]) for r in runs] == [(1, 0), (1, 1), (len(non_pass), 0)]
    assert runs[0]["counts"]["FAIL"] == doc3["summary"]["by_status"]["FAIL"]
    assert [r["fail_delta"] for r in runs] == [1, 0, None]
    table, _ = invoke("history", "--history", str(db), "--limit", "2")
    lines = table.stdout.splitlines()
    assert lines[0].startswith("scope org:") and len(lines) == 4
    assert lines[1].split()[:3] == ["RUN", "ACCTS", "REGIONS"]
    assert lines[2].split()[0] == doc3["run"]["id"] and lines[2].endswith("up +1")
    assert lines[3].endswith("same") and max(map(len, lines)) <= 100


def test_history_defaults_to_the_output_dir_and_fail_on_new(run_cli, demo_org, tmp_path):
    _, org = demo_org
    args = (
        "scan",
        "--account",
        org.accounts["prod"],
        "--region",
        "us-east-1",
        "--format",
        "json",
        "--fail-on-new",
    )
    first, doc1 = run_cli(*args)
    assert (tmp_path / "out" / "history.sqlite").is_file()
    assert first.exit_code == 1  # first run: every FAIL is new
    second, doc2 = run_cli(*args)
    assert doc2["history"]["previous_run_id"] == doc1["run"]["id"]
    assert doc2["history"]["new"] == 0 and doc2["history"]["resolved"] == []
    assert second.exit_code == 0, second.output  # nothing new: the old FAILs do not fail
    assert "history (since run" in second.stderr
    plain, _ = run_cli(*args[:-1])
    assert plain.exit_code == 1  # without --fail-on-new every FAIL counts


@pytest.mark.slow  # scans the organisation three times
def test_a_shared_database_compares_runs_across_output_dirs(run_cli, demo_org, tmp_path):
    _, org = demo_org
    db = tmp_path / "shared.sqlite"
    args = (
        "scan",
        "--account",
        org.accounts["prod"],
        "--region",
        "us-east-1",
        "--format",
        "json",
        "--history",
        str(db),
    )
    _, doc1 = run_cli(*args, out=tmp_path / "a")
    _, doc2 = run_cli(*args, out=tmp_path / "b")
    assert doc2["history"]["previous_run_id"] == doc1["run"]["id"]
    assert not (tmp_path / "a" / "history.sqlite").exists()
    # another scope in the same database has its own baseline
    _, doc3 = run_cli(
        "scan",
        "--region",
        "us-east-1",
        "--format",
        "json",
        "--history",
        str(db),
        out=tmp_path / "c",
    )
    assert doc3["history"]["previous_run_id"] is None


def test_corrupt_history_warns_and_every_report_is_written(run_cli, demo_org, tmp_path):
    _, org = demo_org
    out = tmp_path / "out"
    out.mkdir()
    (out / "history.sqlite").write_bytes(b"\x00garbage\xff" * 512)
    args = ("scan", "--account", org.accounts["prod"], "--region", "us-east-1")
    result, doc = run_cli(*args)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "corrupt" in warnings[0] and "history.sqlite" in warnings[0]
    assert "Traceback" not in result.output
    assert result.exit_code == 1  # the same as with a working history: prod has FAILs
    assert "corrupt" in doc["history"]["error"]
    assert all(f["change"] is None for f in doc["findings"])
    assert {p.name for p in out.iterdir()} >= {"findings.json", "findings.csv", "report.html"}
    assert "History unavailable" in history_section(out)
    # --fail-on-new fails safe: every FAIL counts as new, and it says so
    result, doc = run_cli(*args, "--fail-on-new", "--format", "json")
    assert result.exit_code == 1
    assert "counts every FAIL as new" in result.stderr
    assert "every FAIL counted as new" in doc["history"]["fail_on_new"]
    # the listing refuses it in one line
    listing = CliRunner().invoke(main, ["history", "--history", str(out / "history.sqlite")])
    assert listing.exit_code == 2 and "corrupt" in listing.output
    assert len(listing.output.strip().splitlines()) == 1


@pytest.mark.slow  # waits out the busy timeout
def test_locked_history_warns_within_the_busy_timeout(run_cli, demo_org, tmp_path, monkeypatch):
    _, org = demo_org
    args = (
        "scan",
        "--account",
        org.accounts["prod"],
        "--region",
        "us-east-1",
        "--format",
        "json,html",
    )
    _, first = run_cli(*args)
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")
    holder = sqlite3.connect(tmp_path / "out" / "history.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        (tmp_path / "out" / "findings.json").unlink()
        t0 = time.monotonic()
        result, doc = run_cli(*args)
        elapsed = time.monotonic() - t0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in result.stderr and "Traceback" not in result.output
    assert doc is not None and "locked" in doc["history"]["error"]
    assert doc["run"]["id"] != first["run"]["id"] and result.exit_code == 1
    assert elapsed < 30
    # nothing was stored: the next run still compares with the first one
    _, after = run_cli(*args)
    assert after["history"]["previous_run_id"] == first["run"]["id"]


def test_no_history(run_cli, demo_org, tmp_path):
    _, org = demo_org
    result, doc = run_cli(
        "scan",
        "--account",
        org.accounts["prod"],
        "--region",
        "us-east-1",
        "--format",
        "json",
        "--no-history",
    )
    assert "history" not in doc and all(f["change"] is None for f in doc["findings"])
    assert not (tmp_path / "out" / "history.sqlite").exists()
    result, _ = run_cli("scan", "--no-history", "--fail-on-new", out=tmp_path / "x")
    assert result.exit_code == 2 and "--no-history" in result.output


def test_history_listing_without_a_database_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["history", "--history", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: no history database at {tmp_path / 'none.sqlite'}"
    ]
    assert not (tmp_path / "none.sqlite").exists()
