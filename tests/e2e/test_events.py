"""``mlflow-audit event`` and ``auditor.app.aws_lambda.lambda_handler`` end to end on the simulation.

The payloads are the fixtures of tests/events/ (their shapes and sources are documented in
tests/events/test_event_parse.py: the DeleteBucket record from the CloudTrail User Guide's S3
examples in an EventBridge "AWS API Call via CloudTrail" envelope, the SageMaker MLflow
records with the API's member names in lower camel case), re-addressed to the simulated
organisation's accounts, buckets and servers.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.app.aws_lambda import lambda_handler
from auditor.cli import main
from auditor.remediate.apply import JOURNAL_NAME
from auditor.sim import build_demo_org, simulated_aws

# Every test changes an organisation of its own, built for it (seconds each).
pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "events"
EXISTS = "mlflow_artifact_bucket_exists"
VERIFY = "mlflow_s3_owner_verification_enabled"
UPDATE = "UpdateMlflowTrackingServer"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def delete_bucket_event(account: str, bucket: str, event_id: str = "del-1") -> dict:
    event = fixture("eventbridge_delete_bucket.json")
    event["account"], event["region"] = account, "us-east-1"
    detail = event["detail"]
    detail.update(recipientAccountId=account, awsRegion="us-east-1", eventID=event_id)
    detail["userIdentity"]["accountId"] = account
    detail["requestParameters"]["bucketName"] = bucket
    return event


def create_server_event(account: str, name: str, bucket: str) -> dict:
    event = fixture("eventbridge_create_tracking_server.json")
    event["account"], event["region"] = account, "us-east-1"
    detail = event["detail"]
    detail.update(recipientAccountId=account, awsRegion="us-east-1")
    detail["requestParameters"].update(
        trackingServerName=name, artifactStoreUri=f"s3://{bucket}/runs"
    )
    arn = f"arn:aws:sagemaker:us-east-1:{account}:mlflow-tracking-server/{name}"
    detail["responseElements"]["trackingServerArn"] = arn
    return event


def update_server_record(account: str, name: str) -> dict:
    record = fixture("record_update_tracking_server.json")
    record.update(recipientAccountId=account, awsRegion="us-east-1")
    record["requestParameters"].update(trackingServerName=name, s3BucketOwnerAccountId=account)
    arn = f"arn:aws:sagemaker:us-east-1:{account}:mlflow-tracking-server/{name}"
    record["responseElements"]["trackingServerArn"] = arn
    return record


@pytest.fixture
def org(monkeypatch):
    """A fresh organisation (the tests change it), the caller being its management account."""
    with simulated_aws() as sim:
        demo = build_demo_org(sim, regions=("us-east-1",))
        key, secret = sim.credentials_for(demo.management_account_id)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        for name in list(os.environ):
            if name.startswith("MLFLOW_AUDIT_"):
                monkeypatch.delenv(name)
        yield sim, demo


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def nightly_scan(tmp_path: Path, db: Path, name: str = "scan") -> dict:
    out = tmp_path / name
    invoke("scan", "--org", "--region", "us-east-1", "--history", str(db), "--output-dir",
           str(out), "--quiet")  # fmt: skip
    return json.loads((out / "findings.json").read_text())


def verdicts(doc: dict) -> dict[tuple[str, str], str]:
    return {(f["resource_name"], f["check_id"]): f["status"] for f in doc["findings"]}


def sagemaker(sim, account: str):
    return sim.session_for(account, "us-east-1").client("sagemaker")


def add_server(sim, account: str, name: str, bucket: str, verification: bool) -> None:
    sagemaker(sim, account).create_mlflow_tracking_server(
        TrackingServerName=name,
        ArtifactStoreUri=f"s3://{bucket}/second",
        RoleArn=f"arn:aws:iam::{account}:role/MlflowServerRole",
        S3BucketOwnerVerification=verification,
    )


def delete_bucket(sim, account: str, bucket: str) -> None:
    s3 = sim.session_for(account, "us-east-1").client("s3")
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)


def history_rows(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("runs", "findings", "resources")
        )


def test_bucket_deleted_under_two_servers_then_duplicate_then_next_scan(org, tmp_path):
    sim, demo = org
    db = tmp_path / "history.sqlite"
    case = demo.case("compliant")
    add_server(sim, case.account_id, "second", case.bucket, verification=True)
    before = nightly_scan(tmp_path, db, "night1")
    assert verdicts(before)[("second", EXISTS)] == "PASS"
    delete_bucket(sim, case.account_id, case.bucket)
    payload = json.dumps(delete_bucket_event(case.account_id, case.bucket))

    result = invoke("event", "--org", "--history", str(db), "-", input=payload)
    assert result.exit_code == 1  # a FAIL at or above --fail-on high, as scan
    doc = json.loads(result.stdout)
    assert {f["resource_name"] for f in doc["findings"]} == {"compliant", "second"}
    got = verdicts(doc)
    assert got[("compliant", EXISTS)] == got[("second", EXISTS)] == "FAIL"
    assert {f["change"] for f in doc["findings"] if f["check_id"] == EXISTS} == {"new"}
    assert doc["history"]["resolved"] == []  # no other finding is resolved by an event
    rows = history_rows(db)

    # duplicate delivery: the same findings, the history untouched
    again = invoke("event", "--org", "--history", str(db), "-", input=payload)
    assert verdicts(json.loads(again.stdout)) == got
    assert json.loads(again.stdout)["history"]["event"]["duplicate"] is True
    assert history_rows(db) == rows

    # the next scan diffs with the event's run: the bucket FAILs are known, nothing resolved
    after = nightly_scan(tmp_path, db, "night2")
    changes = {(f["resource_name"], f["check_id"]): f["change"] for f in after["findings"]}
    assert changes[("compliant", EXISTS)] == changes[("second", EXISTS)] == "unchanged"
    assert after["history"]["resolved"] == []
    assert after["history"]["new"] == 0


def test_bucket_deleted_remediate_yes_pins_both_fail_closed(org, tmp_path):
    sim, demo = org
    db = tmp_path / "history.sqlite"
    case = demo.case("verification-disabled")
    add_server(sim, case.account_id, "second-off", case.bucket, verification=False)
    nightly_scan(tmp_path, db)
    delete_bucket(sim, case.account_id, case.bucket)
    sim.reset_calls()
    out = tmp_path / "event"
    payload = json.dumps(delete_bucket_event(case.account_id, case.bucket))
    result = invoke(
        "event", "--org", "--history", str(db), "--output-dir", str(out), "--remediate", "--yes",
        "--quiet", "-", input=payload,
    )  # fmt: skip
    doc = json.loads((out / "findings.json").read_text())
    assert result.exit_code == 1
    rem = {r["resource_name"]: r for r in doc["remediations"]}
    assert set(rem) == {"verification-disabled", "second-off"}
    for name, record in rem.items():
        assert record["status"] == "verified", record
        # the bucket is gone: the server's own account is pinned, so a sniper's is refused
        assert record["after"]["S3BucketOwnerAccountId"] == case.account_id
        server = sagemaker(sim, case.account_id).describe_mlflow_tracking_server(
            TrackingServerName=name
        )
        assert server["S3BucketOwnerVerification"] is True
        assert server["S3BucketOwnerAccountId"] == case.account_id
    assert sim.count(operation=UPDATE) == 2
    assert (out / JOURNAL_NAME).is_file()


def test_created_without_verification_then_fixed_through_lambda(org, tmp_path, monkeypatch):
    sim, demo = org
    db = tmp_path / "history.sqlite"
    nightly_scan(tmp_path, db)
    prod = demo.case("compliant").account_id
    bucket = demo.case("compliant-namespace").bucket  # passes every other check
    add_server(sim, prod, "team-a-experiments", bucket, verification=False)
    monkeypatch.setenv("MLFLOW_AUDIT_HISTORY", str(db))
    monkeypatch.setenv("MLFLOW_AUDIT_ORG", "true")

    created = lambda_handler(create_server_event(prod, "team-a-experiments", bucket), None)
    assert created["status"] == "checked"
    arn = f"arn:aws:sagemaker:us-east-1:{prod}:mlflow-tracking-server/team-a-experiments"
    assert created["resources"] == [arn]
    assert f"{arn} {VERIFY}" in created["failed"]
    assert created["history"]["new"] >= 1
    json.dumps(created)  # JSON-able

    sagemaker(sim, prod).update_mlflow_tracking_server(
        TrackingServerName="team-a-experiments", S3BucketOwnerVerification=True,
        S3BucketOwnerAccountId=prod,
    )  # fmt: skip
    fixed = lambda_handler(update_server_record(prod, "team-a-experiments"), None)
    assert fixed["status"] == "checked" and fixed["failed"] == []
    assert fixed["history"]["resolved"] == 1

    # the CLI on the same history says what was resolved
    out = tmp_path / "scan-after"
    doc = nightly_scan(tmp_path, db, out.name)
    assert ("team-a-experiments", VERIFY) not in {
        (r["resource_name"], r["check_id"]) for r in doc["history"]["resolved"]
    }  # already resolved by the event run, not again by the scan
    assert verdicts(doc)[("team-a-experiments", VERIFY)] == "PASS"


def test_unrelated_bucket_is_nothing_to_do(org, tmp_path, monkeypatch):
    sim, demo = org
    db = tmp_path / "history.sqlite"
    nightly_scan(tmp_path, db)
    prod = demo.case("compliant").account_id
    s3 = sim.session_for(prod, "us-east-1").client("s3")
    s3.create_bucket(Bucket=f"scratch-{prod}")
    s3.delete_bucket(Bucket=f"scratch-{prod}")
    rows = history_rows(db)
    event = delete_bucket_event(prod, f"scratch-{prod}")

    result = invoke("event", "--org", "--history", str(db), "-", input=json.dumps(event))
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"nothing to do: no known resource uses bucket scratch-{prod}"
    ]
    monkeypatch.setenv("MLFLOW_AUDIT_HISTORY", str(db))
    summary = lambda_handler(event, None)
    assert summary["status"] == "nothing_to_do" and "scratch-" in summary["message"]
    assert history_rows(db) == rows


def test_failed_call_is_nothing_to_do_without_any_aws_call(org, tmp_path):
    sim, _ = org
    sim.reset_calls()
    path = FIXTURES / "eventbridge_delete_bucket_failed.json"
    result = invoke("event", str(path))
    assert result.exit_code == 0 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("nothing to do: DeleteBucket failed")
    assert lambda_handler(fixture(path.name), None)["status"] == "nothing_to_do"
    assert sim.calls == []


def test_malformed_event_is_one_line_and_exit_2(org, tmp_path):
    result = invoke("event", "-", input="{not json")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "bad event: input is not JSON" in line
    missing = invoke("event", str(tmp_path / "absent.json"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    # the Lambda never raises for a bad event (EventBridge would retry it)
    summary = lambda_handler({"detail-type": "AWS API Call via CloudTrail"}, None)
    assert summary["status"] == "bad_event"
    odd = copy.deepcopy(fixture("eventbridge_sagemaker_state_change.json"))
    assert lambda_handler(odd, None)["status"] == "nothing_to_do"


def test_history_in_s3_for_scan_and_event(org, tmp_path):
    """``--history s3://bucket/key`` (auditor.history.s3): the scan creates the object,
    the event run reads the bucket's users from it and updates it, with conditional writes."""
    sim, demo = org
    caller = demo.management_account_id
    s3 = sim.session_for(caller, "us-east-1").client("s3")
    s3.create_bucket(Bucket=f"audit-history-{caller}")
    location = f"s3://audit-history-{caller}/mlflow/history.sqlite"
    case = demo.case("compliant")
    invoke("scan", "--org", "--region", "us-east-1", "--history", location, "--output-dir",
           str(tmp_path / "night"), "--quiet")  # fmt: skip
    night = json.loads((tmp_path / "night" / "findings.json").read_text())
    assert night["history"]["database"] == location and "error" not in night["history"]
    first = s3.head_object(Bucket=f"audit-history-{caller}", Key="mlflow/history.sqlite")
    delete_bucket(sim, case.account_id, case.bucket)
    payload = json.dumps(delete_bucket_event(case.account_id, case.bucket, "s3-del"))
    result = invoke("event", "--org", "--history", location, "-", input=payload)
    doc = json.loads(result.stdout)
    assert doc["history"]["database"] == location
    assert verdicts(doc)[("compliant", EXISTS)] == "FAIL"
    assert doc["history"]["previous_run_id"] == night["run"]["id"]
    second = s3.head_object(Bucket=f"audit-history-{caller}", Key="mlflow/history.sqlite")
    assert second["ETag"] != first["ETag"]


def test_unreadable_scope_is_never_nothing_to_do(org, tmp_path):
    """A bucket event whose scope cannot be listed is an incomplete run (exit 3), not
    "nothing to do": the deleted bucket may well be used there."""
    sim, demo = org
    prod = demo.case("compliant").account_id
    sim.faults.deny(prod, "us-east-1", "sagemaker")
    event = delete_bucket_event(prod, f"unknown-{prod}")
    result = invoke("event", "--org", "-", input=json.dumps(event))
    assert result.exit_code == 3, result.stderr
    doc = json.loads(result.stdout)
    assert doc["findings"] == [] and doc["errors"]
    assert doc["run"]["complete"] is False
