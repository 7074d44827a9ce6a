"""``--security-lake`` end to end: scan, report and the Lambda write the run's findings to
a Security Lake custom source in the simulated organisation, as its provider role.

The custom source's location and role are what Security Lake creates ("Adding a custom
source in Security Lake"): objects under ``s3://aws-security-data-lake-<region>-<id>/
ext/<source>/``, written by ``AmazonSecurityLake-Provider-<source>-<region>``, which the
caller assumes with the external id Security Lake gave.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from auditor.app.aws_lambda import lambda_handler
from auditor.cli import main
from auditor.integrations import securitylake as lake
from auditor.sim import build_demo_org, simulated_aws

REGION = "us-east-1"
BUCKET = "aws-security-data-lake-us-east-1-abcdef123456"
SOURCE = "mlflowaudit"
LOCATION = f"s3://{BUCKET}/ext/{SOURCE}/"
EXTERNAL_ID = "lake-external-id"
VERIFY = "mlflow_s3_owner_verification_enabled"

# Every test here changes the organisation (a server fixed, objects written).
pytestmark = pytest.mark.slow


@pytest.fixture
def org(monkeypatch):
    with simulated_aws() as sim:
        demo = build_demo_org(sim, regions=(REGION,))
        caller = demo.management_account_id
        key, secret = sim.credentials_for(caller)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        for name in list(os.environ):
            if name.startswith("MLFLOW_AUDIT_"):
                monkeypatch.delenv(name)
        lake_account = demo.accounts["shared-services"]
        session = sim.session_for(lake_account, REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{caller}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
                }
            ],
        }
        role = session.client("iam").create_role(
            RoleName=f"AmazonSecurityLake-Provider-{SOURCE}-{REGION}",
            AssumeRolePolicyDocument=json.dumps(trust),
        )["Role"]["Arn"]
        yield sim, demo, session.client("s3"), role


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def lake_options(role: str) -> list[str]:
    return [
        "--security-lake", LOCATION, "--security-lake-role", role,
        "--security-lake-external-id", EXTERNAL_ID,
    ]  # fmt: skip


def night(out: Path, db: Path, role: str):
    result = invoke(
        "scan", "--org", "--region", REGION, "--history", str(db), "--format", "json",
        "--output-dir", str(out), *lake_options(role),
    )  # fmt: skip
    return result, json.loads((out / "findings.json").read_text())


def download(s3, into: Path) -> list[str]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    for key in keys:
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return sorted(keys)


def test_two_nights_through_the_cli_read_back_as_one_table(org, tmp_path):
    sim, demo, s3, role = org
    db = tmp_path / "history.sqlite"
    first, doc1 = night(tmp_path / "n1", db, role)
    assert first.exit_code == 1, first.stderr  # the demo has FAILs at or above high
    written1 = doc1["security_lake"]
    assert written1["status"] == "written" and written1["warnings"] == [], written1
    assert f"security lake: {written1['records']} record(s)" in first.stderr
    assert sim.count(service="sts", operation="AssumeRole", status_code=200) >= 1

    # fixed overnight: night 2 closes that finding in the lake as findings.ocsf.json does
    case = demo.case("verification-disabled")
    sim.session_for(case.account_id, REGION).client("sagemaker").update_mlflow_tracking_server(
        TrackingServerName=case.resource_name,
        S3BucketOwnerVerification=True,
        S3BucketOwnerAccountId=case.account_id,
    )
    _, doc2 = night(tmp_path / "n2", db, role)
    written2 = doc2["security_lake"]
    assert written2["status"] == "written", written2
    assert (case.resource_arn, VERIFY) in {
        (r["resource_arn"], r["check_id"]) for r in doc2["history"]["resolved"]
    }

    keys = download(s3, tmp_path / "lake")
    assert keys == sorted(o["key"] for o in [*written1["objects"], *written2["objects"]])
    schema = lake.arrow_schema(pa)
    for key in keys:
        assert pq.read_schema(tmp_path / "lake" / key).remove_metadata() == schema
    table = ds.dataset(
        tmp_path / "lake" / "ext" / SOURCE, format="parquet", partitioning="hive"
    ).to_table()
    assert table.num_rows == written1["records"] + written2["records"]
    columns = table.schema.remove_metadata()
    for name in ("region", "accountId", "eventDay"):
        columns = columns.remove(columns.get_field_index(name))
    assert columns == schema  # one schema across both nights, the class's columns
    rows = table.to_pylist()
    for r in rows:  # each record lies in its own region, account and day
        assert r["region"] == r["cloud"]["region"] == REGION
        assert str(r["accountId"]) == r["cloud"]["account"]["uid"]
        assert r["metadata"]["version"] == "1.3.0" and r["class_uid"] == 2003
    accounts = {f["account_id"] for f in doc1["findings"]}
    assert {str(r["accountId"]) for r in rows} == accounts
    closed = [r for r in rows if r["activity_name"] == "Close"]
    assert closed and all(r["status"] == "Resolved" for r in closed)
    assert case.resource_arn in {res["uid"] for r in closed for res in r["resources"]}


def test_report_and_lambda_write_the_lake_and_failures_are_warnings(org, tmp_path, monkeypatch):
    _sim, demo, s3, role = org
    out = tmp_path / "run"
    invoke("scan", "--org", "--region", REGION, "--no-history", "-q", "--output-dir", str(out))
    result = invoke("report", str(out / "findings.json"), "--format", "csv", *lake_options(role))
    assert result.exit_code == 0, result.output
    assert "security lake: " in result.stderr and "written to " + LOCATION in result.stderr
    after_report = download(s3, tmp_path / "a")
    assert after_report

    # a wrong external id: a warning, the reports intact, the exit code unchanged
    bad = invoke(
        "scan", "--org", "--region", REGION, "--no-history", "-q", "--output-dir",
        str(tmp_path / "bad"), "--security-lake", LOCATION, "--security-lake-role", role,
        "--security-lake-external-id", "wrong",
    )  # fmt: skip
    assert bad.exit_code == 1
    doc = json.loads((tmp_path / "bad" / "findings.json").read_text())
    assert doc["security_lake"]["status"] == "failed"
    assert "warning: Security Lake: nothing written" in bad.stderr
    assert download(s3, tmp_path / "b") == after_report

    # the Lambda, configured from its environment, writes its event run's findings
    monkeypatch.setenv("MLFLOW_AUDIT_ORG", "true")
    monkeypatch.setenv("MLFLOW_AUDIT_SECURITY_LAKE", LOCATION)
    monkeypatch.setenv("MLFLOW_AUDIT_SECURITY_LAKE_ROLE", role)
    monkeypatch.setenv("MLFLOW_AUDIT_SECURITY_LAKE_EXTERNAL_ID", EXTERNAL_ID)
    case = demo.case("verification-disabled")
    record = json.loads(
        (
            Path(__file__).resolve().parents[1] / "events" / "record_update_tracking_server.json"
        ).read_text()
    )
    record.update(recipientAccountId=case.account_id, awsRegion=REGION)
    record["requestParameters"].update(
        trackingServerName=case.resource_name, s3BucketOwnerAccountId=case.account_id
    )
    record["responseElements"]["trackingServerArn"] = case.resource_arn
    summary = lambda_handler(record, None)
    assert summary["status"] == "checked", summary
    new = sorted(set(download(s3, tmp_path / "c")) - set(after_report))
    assert new and all(f"accountId={case.account_id}/" in key for key in new)


def test_bad_location_and_missing_extra_are_one_line_exit_2(org, monkeypatch):
    result = invoke("scan", "--security-lake", "s3://bucket/not-ext/")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "expected the custom source's location" in line
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = invoke("scan", "--security-lake", LOCATION)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == f"Error: {lake.EXTRA_MISSING}"
    result = invoke("scan", "--security-lake-role", "arn:aws:iam::111122223333:role/x")
    assert result.exit_code == 2 and "need --security-lake" in result.stderr
