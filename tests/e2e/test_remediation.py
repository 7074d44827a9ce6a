"""--remediate on a fresh simulated organisation per test (remediation changes it).

Every remediation rule (docs/remediation.md) has a test here; Update calls are
counted from the requests the simulation received.
"""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from click.testing import CliRunner

from auditor.app.pipeline import run_scan
from auditor.cli import main
from auditor.core.request import ScanRequest
from auditor.evaluate.policy import Policy
from auditor.evaluate.rules import load_rules
from auditor.remediate.apply import JOURNAL_NAME, run_remediation
from auditor.sim import build_demo_org, simulated_aws

# Every test remediates an organisation of its own, built for it (seconds each).
pytestmark = pytest.mark.slow

UPDATE = "UpdateMlflowTrackingServer"
FIXED = (
    "verification-disabled",
    "legacy-server",
    "sniped-unverified",
    "wrong-pinned-owner",
    "partner-bucket",
)


@pytest.fixture
def org(monkeypatch):
    with simulated_aws() as sim:
        demo = build_demo_org(sim)
        key, secret = sim.credentials_for(demo.management_account_id)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        sim.reset_calls()
        yield sim, demo


def scan(tmp_path, *extra, input=None):
    out = tmp_path / "out"
    args = [
        "scan",
        "--org",
        "--region",
        "us-east-1",
        "--output-dir",
        str(out),
        "--format",
        "json,csv",
        "--remediate",
        "--stable-wait",
        "0",
        *extra,
    ]
    result = CliRunner().invoke(main, args, input=input, catch_exceptions=False)
    doc = json.loads((out / "findings.json").read_text())
    return result, doc, {r["resource_name"]: r for r in doc["remediations"]}, out


def describe(sim, case):
    sm = sim.session_for(case.account_id, case.region).client("sagemaker")
    d = sm.describe_mlflow_tracking_server(TrackingServerName=case.resource_name)
    return d.get("S3BucketOwnerVerification"), d.get("S3BucketOwnerAccountId")


def test_dry_run_plans_the_fail_closed_owner_and_writes_nothing(org, tmp_path):
    sim, demo = org
    _result, doc, rem, out = scan(tmp_path, "--dry-run")
    assert sim.count(operation=UPDATE) == 0
    prod, shared = demo.accounts["prod"], demo.accounts["shared-services"]
    planned = {
        n: r["after"]["S3BucketOwnerAccountId"] for n, r in rem.items() if r["status"] == "planned"
    }
    assert planned == {
        "verification-disabled": prod,
        "legacy-server": prod,
        "sniped-unverified": prod,  # sniped: pin the server's own account
        "wrong-pinned-owner": shared,  # proven trusted owner
        "partner-bucket": prod,  # untrusted owner, untrusted pin -> own account
        "stuck-updating": prod,
    }
    assert rem["bad-uri"]["status"] == "skipped"
    # servers that already comply get no action at all
    for name in ("compliant", "sniped-verified", "missing-bucket", "central-bucket"):
        assert name not in rem
    assert demo.external_account_id not in json.dumps(doc["remediations"])
    assert not (out / JOURNAL_NAME).exists()


def test_remediate_yes_updates_verifies_and_journals(org, tmp_path):
    sim, demo = org
    _result, _doc, rem, out = scan(tmp_path, "--yes")
    assert sim.count(operation=UPDATE) == len(FIXED)
    for name in FIXED:
        assert rem[name]["status"] == "verified", rem[name]
        assert rem[name]["attempts"] == 1
        want = (True, rem[name]["after"]["S3BucketOwnerAccountId"])
        assert describe(sim, demo.case(name)) == want
    stuck = rem["stuck-updating"]
    assert stuck["status"] == "skipped" and "not in a stable state" in stuck["reason"]
    journal = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    for name in FIXED:
        results = [e["result"] for e in journal if e["server"] == name]
        assert results == ["attempt", "applied", "verified"]
        entry = next(e for e in journal if e["server"] == name)
        assert entry["before"] == rem[name]["before"] and entry["after"] == rem[name]["after"]
    # the CSV carries the remediation status of each resource's findings
    csv_text = (out / "findings.csv").read_text()
    assert "verified" in csv_text


def test_second_run_makes_no_update_call(org, tmp_path):
    sim, _ = org
    scan(tmp_path, "--yes")
    first = sim.count(operation=UPDATE)
    _, doc, rem, _ = scan(tmp_path, "--yes")
    assert sim.count(operation=UPDATE) == first
    assert {r["status"] for r in rem.values()} <= {"skipped"}
    verif = [
        f
        for f in doc["findings"]
        if f["check_id"] == "mlflow_s3_owner_verification_enabled" and f["status"] == "FAIL"
    ]
    assert [f["resource_name"] for f in verif] == ["stuck-updating"]


def test_without_yes_and_without_a_terminal_nothing_changes(org, tmp_path):
    sim, _ = org
    result, _, rem, _ = scan(tmp_path)
    assert sim.count(operation=UPDATE) == 0
    assert "no terminal and no --yes, nothing was changed" in result.output
    assert rem["legacy-server"]["status"] == "planned"


@pytest.mark.parametrize(("answer", "updates"), [("y\n", len(FIXED)), ("n\n", 0)])
def test_terminal_prompt_shows_the_plan_and_asks(org, tmp_path, monkeypatch, answer, updates):
    sim, _ = org
    monkeypatch.setattr("auditor.remediate.apply.stdin_is_terminal", lambda: True)
    result, _, _, _ = scan(tmp_path, input=answer)
    assert "will update 6 tracking server(s)" in result.output
    assert "Apply these changes?" in result.output
    assert sim.count(operation=UPDATE) == updates


def test_max_changes_limits_the_blast_radius(org, tmp_path):
    sim, _ = org
    _, _, rem, _ = scan(tmp_path, "--yes", "--max-changes", "2")
    assert sim.count(operation=UPDATE) == 2
    over = [r for r in rem.values() if "over --max-changes 2" in r["reason"]]
    assert len(over) == 4 and all(r["status"] == "planned" for r in over)


def test_owner_unknown_is_skipped_not_guessed(org, tmp_path):
    sim, demo = org
    # Trusting the partner (which cannot be inventoried) leaves the sniped bucket's
    # owner unproven: not enough evidence to pin anything.
    _, _, rem, _ = scan(tmp_path, "--yes", "--trusted-account", demo.partner_account_id)
    assert rem["sniped-unverified"]["status"] == "skipped"
    assert "not proven" in rem["sniped-unverified"]["reason"]
    assert describe(sim, demo.case("sniped-unverified")) == (False, None)
    # the partner is now trusted and proven: its pin is kept, nothing to do
    assert "partner-bucket" not in rem


def test_server_in_flux_is_retried_within_the_bounded_wait(org, tmp_path):
    sim, demo = org
    case = demo.case("stuck-updating")
    sim.set_tracking_server_status(case.account_id, case.region, case.resource_name, "Created")
    sim.transition_reads = 4
    sm = sim.session_for(case.account_id, case.region).client("sagemaker")
    sm.update_mlflow_tracking_server(
        TrackingServerName=case.resource_name, TrackingServerSize="Medium"
    )
    _result, _, rem, _ = scan(tmp_path, "--yes", "--stable-wait", "10")
    assert rem["stuck-updating"]["status"] == "verified", rem["stuck-updating"]
    assert describe(sim, case) == (True, case.account_id)


def _scan_library(sim, demo):
    session = boto3.Session(region_name="us-east-1")
    return run_scan(
        session,
        ScanRequest(org=True, regions=("us-east-1",), concurrency=4),
        load_rules(),
        Policy(),
        today=dt.date(2026, 11, 27),
    ), session


def test_one_failure_does_not_stop_the_others(org, tmp_path):
    sim, demo = org
    result, session = _scan_library(sim, demo)
    gone = demo.case("verification-disabled")
    sm = sim.session_for(gone.account_id, gone.region).client("sagemaker")
    sm.delete_mlflow_tracking_server(TrackingServerName=gone.resource_name)
    records = run_remediation(
        result,
        session,
        dry_run=False,
        yes=True,
        max_changes=25,
        out_dir=tmp_path,
        concurrency=4,
        quiet=True,
        stable_wait_s=0,
    )
    by = {r["resource_name"]: r for r in records}
    assert by["verification-disabled"]["status"] == "skipped"
    assert by["verification-disabled"]["reason"] == "the server no longer exists"
    for name in ("legacy-server", "sniped-unverified", "wrong-pinned-owner"):
        assert by[name]["status"] == "verified"


def test_describe_error_is_recorded_as_failed_and_the_rest_go_on(org, tmp_path):
    sim, demo = org
    result, session = _scan_library(sim, demo)
    shared = demo.accounts["shared-services"]
    # deny SageMaker in prod after the scan: every prod action fails, cleanly
    sim.faults.deny(demo.accounts["prod"], "us-east-1", "sagemaker")
    records = run_remediation(
        result,
        session,
        dry_run=False,
        yes=True,
        max_changes=25,
        out_dir=tmp_path,
        concurrency=2,
        quiet=True,
        stable_wait_s=0,
    )
    sim.faults.clear()
    failed = [r for r in records if r["status"] == "failed"]
    assert failed and all(r["error"]["code"] == "AccessDeniedException" for r in failed)
    assert sim.count(operation=UPDATE) == 0
    assert shared  # the organisation is intact; nothing else was attempted


def test_configuration_changed_since_the_scan_is_skipped(org, tmp_path):
    sim, demo = org
    result, session = _scan_library(sim, demo)
    case = demo.case("legacy-server")
    sm = sim.session_for(case.account_id, case.region).client("sagemaker")
    sm.update_mlflow_tracking_server(
        TrackingServerName=case.resource_name,
        S3BucketOwnerVerification=True,
        S3BucketOwnerAccountId=demo.accounts["dev"],
    )
    sim.reset_calls()
    records = run_remediation(
        result,
        session,
        dry_run=False,
        yes=True,
        max_changes=25,
        out_dir=tmp_path,
        concurrency=2,
        quiet=True,
        stable_wait_s=0,
    )
    by = {r["resource_name"]: r for r in records}
    assert by["legacy-server"]["status"] == "skipped"
    assert "changed since the scan" in by["legacy-server"]["reason"]
    assert describe(sim, case) == (True, demo.accounts["dev"])
    assert sim.count(operation=UPDATE) == 4  # the other planned, stable servers


def test_throttled_updates_are_retried_by_botocore(org, tmp_path):
    sim, demo = org
    result, session = _scan_library(sim, demo)
    sim.faults.seed(7)
    sim.faults.throttle_rate = 0.4
    records = run_remediation(
        result,
        session,
        dry_run=False,
        yes=True,
        max_changes=25,
        out_dir=tmp_path,
        concurrency=1,
        quiet=True,
        stable_wait_s=0,
    )
    sim.faults.clear()
    throttled = sim.count(operation=UPDATE, status_code=400)
    assert throttled >= 1, "the seed should throttle at least one Update"
    by = {r["resource_name"]: r for r in records}
    for name in FIXED:
        assert by[name]["status"] == "verified", by[name]
