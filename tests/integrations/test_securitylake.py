"""Security Lake custom source: two nights of the demo organisation's findings written to an
S3 bucket (moto, then the simulation with the provider role) and read back with
pyarrow.dataset as one hive-partitioned table in the one schema."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from auditor.aws.clients import ClientCache
from auditor.aws.errors import ConfigError
from auditor.integrations import securitylake as lake
from auditor.report.formats.common import closed_findings
from tests.report.demo_document import demo_document

BUCKET = "aws-security-data-lake-us-east-1-abcdef123456"
SOURCE = "mlflowaudit"
DEST = lake.LakeDestination(BUCKET, SOURCE)
LAKE_ACCOUNT = "999988887777"
NIGHT1 = "2026-11-26T02:10:00Z"
NIGHT2 = "2026-11-27T02:10:00Z"


def night(doc: dict, finished: str, run_id: str) -> dict:
    doc = copy.deepcopy(doc)
    doc["run"].update(id=run_id, started_at=finished, finished_at=finished)
    return doc


@pytest.fixture(scope="module")
def nights() -> tuple[dict, dict]:
    first = night(demo_document(), NIGHT1, "2026-11-26T02-00-00Z-aaaaaa")
    first.pop("history")  # the first night has nothing to close
    second = night(demo_document(), NIGHT2, "2026-11-27T02-00-00Z-bbbbbb")
    for f in second["findings"]:  # attributes absent all night must not change a type
        f.pop("evidence", None)
        f["muted_reason"] = None
    return first, second


def download(s3, into: Path) -> list[str]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    for key in keys:
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return keys


def test_two_nights_read_back_as_one_table_in_one_schema(nights, tmp_path):
    first, second = nights
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        results = [lake.write_lake(doc, DEST, s3.put_object) for doc in (first, second)]
        keys = download(s3, tmp_path)
    assert [r["status"] for r in results] == ["written", "written"]
    assert all(not r["warnings"] for r in results)
    records = [lake.lake_records(doc) for doc in (first, second)]
    assert [r["records"] for r in results] == [len(x) for x in records]
    scopes = {(f["region"], f["account_id"]) for f in first["findings"]}
    assert len(keys) == 2 * len(scopes)  # one object per (region, account, eventDay)
    schema = lake.arrow_schema(pa)
    for key in keys:
        assert key.startswith(f"ext/{SOURCE}/region=") and key.endswith(".parquet")
        assert pq.read_schema(tmp_path / key).remove_metadata() == schema

    table = ds.dataset(tmp_path / "ext" / SOURCE, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == sum(len(x) for x in records)
    data_columns = table.schema.remove_metadata()
    for name in ("region", "accountId", "eventDay"):
        data_columns = data_columns.remove(data_columns.get_field_index(name))
    assert data_columns == schema
    rows = table.to_pylist()
    for r in rows:  # the partition is the record's own region, account and day
        assert r["region"] == r["cloud"]["region"]
        assert str(r["accountId"]) == r["cloud"]["account"]["uid"]
        assert (
            str(r["eventDay"])
            == {NIGHT1: "20261126", NIGHT2: "20261127"}[
                {"aaaaaa": NIGHT1, "bbbbbb": NIGHT2}[r["metadata"]["correlation_uid"][-6:]]
            ]
        )
        assert r["metadata"]["version"] == "1.3.0" and r["class_uid"] == 2003
    closed = [r for r in rows if r["activity_name"] == "Close"]
    # what findings.ocsf.json closes, the lake closes: the fixed finding and the vanished
    # server's (a resolved entry of a scope the run did not read stays open)
    resolved = closed_findings(second)
    assert len(closed) == len(resolved) == 2
    for record in closed:
        assert record["status"] == "Resolved" and record["type_uid"] == 200303
        assert str(record["eventDay"]) == "20261127"


def test_records_are_ocsf_1_3_and_nothing_is_dropped_by_the_schema(nights):
    first, _ = nights
    schema = lake.arrow_schema(pa)

    def covered(value, kind, where):
        if isinstance(value, dict) and pa.types.is_struct(kind):
            names = {kind.field(i).name: kind.field(i).type for i in range(kind.num_fields)}
            for key, inner in value.items():
                if inner is not None:
                    assert key in names, f"{where}.{key} has no column"
                    covered(inner, names[key], f"{where}.{key}")
        elif isinstance(value, list) and pa.types.is_list(kind):
            for item in value:
                covered(item, kind.value_type, where)

    for record in lake.lake_records(first):
        assert "evidences" not in record and "checks" not in record["compliance"]
        row = lake.row(record)
        for key, value in row.items():
            assert key in schema.names, key
            covered(value, schema.field(key).type, key)
        unmapped = dict(row["unmapped"])
        assert unmapped["mlflow_audit.status"] == record["status_code"]
        assert (
            json.loads(unmapped["mlflow_audit.compliance_checks"])[0]["uid"]
            == (record["compliance"]["control"])
        )


def test_a_missing_extra_is_one_line_and_nothing_is_written(monkeypatch, nights):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ConfigError) as err:
        lake.require_pyarrow()
    assert err.value.message == lake.EXTRA_MISSING and "\n" not in err.value.message
    puts: list[dict] = []
    result = lake.write_lake(nights[0], DEST, lambda **kw: puts.append(kw))
    assert puts == [] and result["status"] == "failed"
    assert result["warnings"] == [f"Security Lake: nothing written: {lake.EXTRA_MISSING}"]


def test_a_failed_upload_is_a_warning(nights):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")  # the bucket was never created
        result = lake.write_lake(nights[0], DEST, s3.put_object)
    assert result["status"] == "failed" and result["objects"] == []
    assert result["warnings"] and all("NoSuchBucket" in w for w in result["warnings"])


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/ext/", "s3://bucket/other/src/", "https://bucket/ext/src/", "s3://b/ext/a/b/"],
)
def test_bad_destinations_are_config_errors(uri):
    with pytest.raises(ConfigError):
        lake.parse_destination(uri)


def test_destination_and_role_parsing():
    dest = lake.parse_destination(f"s3://{BUCKET}/ext/{SOURCE}/")
    assert (dest.bucket, dest.source, dest.region) == (BUCKET, SOURCE, "us-east-1")
    assert dest.key("eu-west-1", "111111111111", "20261127", "run/../x") == (
        f"ext/{SOURCE}/region=eu-west-1/accountId=111111111111/eventDay=20261127/"
        "mlflow-audit-run-..-x.zstd.parquet"
    )
    role = f"arn:aws:iam::{LAKE_ACCOUNT}:role/AmazonSecurityLake-Provider-{SOURCE}-us-east-1"
    assert lake.parse_role(role) == (
        LAKE_ACCOUNT,
        f"AmazonSecurityLake-Provider-{SOURCE}-us-east-1",
    )
    with pytest.raises(ConfigError):
        lake.parse_role("arn:aws:iam::123:user/x")


def provider_role(sim, caller: str, external_id: str) -> str:
    iam = sim.session_for(LAKE_ACCOUNT).client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{caller}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }
    name = f"AmazonSecurityLake-Provider-{SOURCE}-us-east-1"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def test_push_assumes_the_provider_role_with_the_external_id(nights):
    from botocore.credentials import Credentials

    from auditor.sim import simulated_aws

    caller = "111111111111"
    with simulated_aws() as sim:
        role = provider_role(sim, caller, "lake-external-id")
        lake_s3 = sim.session_for(LAKE_ACCOUNT).client("s3", region_name="us-east-1")
        lake_s3.create_bucket(Bucket=BUCKET)
        cache = ClientCache(boto3.Session(region_name="us-east-1"), pool_size=4)
        creds = Credentials(*sim.credentials_for(caller))
        denied = lake.push_security_lake(nights[0], DEST, cache, creds, role, "wrong-id")
        assert denied["status"] == "failed" and denied["objects"] == []
        assert "AccessDenied" in denied["warnings"][0]
        written = lake.push_security_lake(nights[0], DEST, cache, creds, role, "lake-external-id")
        keys = [o["Key"] for o in lake_s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        assert sim.count(service="sts", operation="AssumeRole", status_code=200) == 1
    assert written["status"] == "written", written["warnings"]
    assert sorted(keys) == sorted(o["key"] for o in written["objects"])
