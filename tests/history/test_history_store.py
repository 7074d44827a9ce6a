"""--history s3://...: the SQLite history in S3 with conditional writes.

Against the simulation (moto underneath): moto 5.2 enforces PutObject's If-Match (412
when the ETag differs, 404 NoSuchKey when the object is gone) and If-None-Match: * (412
when the key exists), as the PutObject API reference documents. It never answers 409
ConditionalRequestConflict (AWS's answer to two conditional writes racing), and its
check-then-store is not atomic across threads, so the interleaving of two runs is made
deterministic here (the second run happens inside the first run's update) and the 409
and exhausted-retry paths use botocore's Stubber.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from auditor.history.database import HistoryError, record_run
from auditor.history.s3 import S3Location, parse_location, record_run_at, update_history
from auditor.history.views import list_runs
from auditor.sim import simulated_aws

A, B = "111111111111", "222222222222"
BUCKET = "audit-history-111111111111"
URL = f"s3://{BUCKET}/mlflow-audit/history.sqlite"


def finding(name: str, status: str = "FAIL") -> dict:
    return {
        "check_id": "mlflow_artifact_bucket_exists",
        "status": status,
        "severity": "critical",
        "account_id": A,
        "region": "us-east-1",
        "resource_type": "mlflow-tracking-server",
        "resource_name": name,
        "resource_arn": f"arn:aws:sagemaker:us-east-1:{A}:mlflow-tracking-server/{name}",
        "message": f"{name} is {status}",
        "change": None,
    }


def document(run_id: str, started: str, findings: list[dict]) -> dict:
    return {
        "run": {
            "id": run_id,
            "started_at": started,
            "finished_at": started,
            "tool_version": "0.1.0",
            "accounts": [{"account_id": A}],
            "regions": ["us-east-1"],
            "scopes": [{"account_id": A, "region": "us-east-1", "status": "scanned"}],
            "shard": None,
            "complete": True,
        },
        "summary": {"exit_code": 0},
        "findings": findings,
    }


def recorder(doc: dict, key: str = "accounts:111111111111|regions:*|shard:-"):
    def update(path: Path) -> dict:
        record_run(path, doc, key, timeout=1)
        return doc["history"]

    return update


def run_ids(client) -> list[str]:
    def read(path: Path) -> list[str]:
        return sorted(r["id"] for r in list_runs(path, limit=100, timeout=1))

    return update_history(URL, read, s3_client=client)


@pytest.fixture
def s3():
    with simulated_aws() as sim:
        client = sim.session_for(A).client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield sim, client


def test_parse_location():
    assert parse_location("./out/history.sqlite") is None
    assert parse_location("s3://b/k/h.sqlite") == S3Location("b", "k/h.sqlite")
    assert parse_location("s3://b") == S3Location("b", "history.sqlite")
    assert parse_location("s3://b/dir/") == S3Location("b", "dir/history.sqlite")
    assert str(S3Location("b", "k")) == "s3://b/k"
    with pytest.raises(HistoryError, match="names no bucket"):
        parse_location("s3:///key")


def test_local_path_is_passed_through(tmp_path):
    path = tmp_path / "h.sqlite"
    history = update_history(path, recorder(document("r1", "2026-01-01T00:00:00Z", [])))
    assert history["previous_run_id"] is None
    assert path.is_file()


def test_first_run_creates_the_object_with_if_none_match(s3):
    _, client = s3
    history = update_history(
        URL, recorder(document("r1", "2026-01-01T00:00:00Z", [finding("a")])), s3_client=client
    )
    assert history["new"] == 1
    body = client.get_object(Bucket=BUCKET, Key="mlflow-audit/history.sqlite")["Body"].read()
    assert body.startswith(b"SQLite format 3\x00")
    assert run_ids(client) == ["r1"]


def test_second_run_sees_the_first_and_updates_in_place(s3):
    _, client = s3
    update_history(
        URL, recorder(document("r1", "2026-01-01T00:00:00Z", [finding("a")])), s3_client=client
    )
    etag1 = client.head_object(Bucket=BUCKET, Key="mlflow-audit/history.sqlite")["ETag"]
    history = update_history(
        URL,
        recorder(document("r2", "2026-01-02T00:00:00Z", [finding("a"), finding("b")])),
        s3_client=client,
    )
    assert history["previous_run_id"] == "r1"
    assert (history["new"], history["unchanged"]) == (1, 1)
    etag2 = client.head_object(Bucket=BUCKET, Key="mlflow-audit/history.sqlite")["ETag"]
    assert etag1 != etag2
    assert run_ids(client) == ["r1", "r2"]


def test_a_read_does_not_upload(s3):
    _, client = s3
    update_history(URL, recorder(document("r1", "2026-01-01T00:00:00Z", [])), s3_client=client)
    etag = client.head_object(Bucket=BUCKET, Key="mlflow-audit/history.sqlite")["ETag"]
    assert run_ids(client) == ["r1"]
    assert client.head_object(Bucket=BUCKET, Key="mlflow-audit/history.sqlite")["ETag"] == etag


def test_moto_enforces_the_conditions_we_rely_on(s3):
    _, client = s3
    key = "probe"
    client.put_object(Bucket=BUCKET, Key=key, Body=b"1", IfNoneMatch="*")
    with pytest.raises(client.exceptions.ClientError) as exists:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"2", IfNoneMatch="*")
    assert exists.value.response["Error"]["Code"] == "PreconditionFailed"
    assert exists.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(client.exceptions.ClientError) as stale:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"3", IfMatch='"0123"')
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


@pytest.mark.parametrize("first_exists", [False, True])
def test_concurrent_runs_both_land(s3, first_exists):
    """Run 2 downloads, then run 1 writes before run 2 uploads: run 2's conditional write
    gets 412, it re-downloads (now with run 1 in it) and re-applies. Nothing is lost."""
    _, client = s3
    if first_exists:
        update_history(URL, recorder(document("r0", "2026-01-01T00:00:00Z", [])), s3_client=client)
    calls = {"n": 0}
    slow_doc = document("r2", "2026-01-03T00:00:00Z", [finding("b")])

    def slow_update(path: Path) -> dict:
        calls["n"] += 1
        if calls["n"] == 1:  # the other run finishes while this one is still working
            update_history(
                URL,
                recorder(document("r1", "2026-01-02T00:00:00Z", [finding("a")])),
                s3_client=client,
            )
        return recorder(slow_doc)(path)

    history = update_history(URL, slow_update, s3_client=client, sleep=lambda s: None)
    assert calls["n"] == 2  # applied again on the fresh copy
    assert history["previous_run_id"] == "r1"  # and it saw the other run's update
    expected = ["r1", "r2"] if not first_exists else ["r0", "r1", "r2"]
    assert run_ids(client) == expected


def test_object_deleted_between_read_and_write_is_retried(s3):
    _, client = s3
    update_history(URL, recorder(document("r0", "2026-01-01T00:00:00Z", [])), s3_client=client)
    calls = {"n": 0}

    def update(path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            client.delete_object(Bucket=BUCKET, Key="mlflow-audit/history.sqlite")
        record_run(path, document(f"r{calls['n']}", "2026-01-02T00:00:00Z", []), "k", timeout=1)

    update_history(URL, update, s3_client=client, sleep=lambda s: None)
    assert calls["n"] == 2
    assert run_ids(client) == ["r2"]  # written with If-None-Match on the second attempt


def test_missing_bucket_is_one_clear_error(s3):
    _, client = s3
    with pytest.raises(HistoryError) as err:
        update_history(
            "s3://no-such-history-bucket/h.sqlite",
            recorder(document("r1", "2026-01-01T00:00:00Z", [])),
            s3_client=client,
        )
    assert str(err.value) == (
        "history bucket 'no-such-history-bucket' does not exist "
        "(s3://no-such-history-bucket/h.sqlite)"
    )


def test_denied_is_one_clear_error_and_nothing_is_written(s3):
    sim, owner = s3
    other = sim.session_for(B).client("s3", region_name="us-east-1")
    calls = []
    with pytest.raises(HistoryError) as err:
        update_history(URL, calls.append, s3_client=other)
    assert str(err.value) == (
        f"access denied reading history {URL} (needs s3:GetObject and s3:PutObject on it)"
    )
    assert calls == []  # the callback never ran on a history it could not read
    assert owner.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_a_failing_callback_stores_nothing(s3):
    _, client = s3

    def broken(path: Path) -> None:
        sqlite3.connect(path).execute("CREATE TABLE x (y)").connection.commit()
        raise HistoryError("history database is corrupt")

    with pytest.raises(HistoryError, match="corrupt"):
        update_history(URL, broken, s3_client=client)
    assert client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_no_client_for_s3_is_an_error():
    with pytest.raises(HistoryError, match="no S3 client"):
        update_history(URL, lambda p: None)


# ------------------------------------------------------------- Stubber: 409 and give-up


def _stubbed(region: str = "us-east-1"):
    import boto3

    client = boto3.Session(region_name=region).client("s3")
    return client, Stubber(client)


def _get_response(data: bytes, etag: str) -> dict:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ETag": etag}


def _db_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "seed.sqlite"
    record_run(path, document("r0", "2026-01-01T00:00:00Z", []), "k", timeout=1)
    return path.read_bytes()


def test_409_conflict_is_retried_with_the_new_etag(tmp_path):
    client, stub = _stubbed()
    seed = _db_bytes(tmp_path)
    key = {"Bucket": BUCKET, "Key": "mlflow-audit/history.sqlite"}
    stub.add_response("get_object", _get_response(seed, '"e1"'), key)
    stub.add_client_error(
        "put_object",
        service_error_code="ConditionalRequestConflict",
        service_message="A conflicting operation occurred.",
        http_status_code=409,
        expected_params={**key, "Body": stub_any(), "ContentType": stub_any(), "IfMatch": '"e1"'},
    )
    stub.add_response("get_object", _get_response(seed, '"e2"'), key)
    stub.add_response(
        "put_object",
        {"ETag": '"e3"'},
        {**key, "Body": stub_any(), "ContentType": stub_any(), "IfMatch": '"e2"'},
    )
    slept: list[float] = []
    with stub:
        history = update_history(
            URL,
            recorder(document("r1", "2026-01-02T00:00:00Z", []), key="k"),
            s3_client=client,
            sleep=slept.append,
        )
    stub.assert_no_pending_responses()
    assert history["previous_run_id"] == "r0"
    assert len(slept) == 1 and 0 < slept[0] <= 0.2


def test_412_every_time_gives_up_after_the_bounded_attempts(tmp_path):
    client, stub = _stubbed()
    key = {"Bucket": BUCKET, "Key": "mlflow-audit/history.sqlite"}
    for _ in range(3):
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
        stub.add_client_error(
            "put_object",
            service_error_code="PreconditionFailed",
            http_status_code=412,
            expected_params={
                **key,
                "Body": stub_any(),
                "ContentType": stub_any(),
                "IfNoneMatch": "*",
            },
        )
    slept: list[float] = []
    with stub, pytest.raises(HistoryError) as err:
        update_history(
            URL,
            recorder(document("r1", "2026-01-02T00:00:00Z", []), key="k"),
            s3_client=client,
            attempts=3,
            sleep=slept.append,
        )
    stub.assert_no_pending_responses()
    assert "3 attempts ended in a conflicting write" in str(err.value)
    assert len(slept) == 2 and slept[1] > slept[0] * 0.5  # backoff between attempts


def test_denied_write_is_not_retried(tmp_path):
    client, stub = _stubbed()
    stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
    stub.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
    with stub, pytest.raises(HistoryError) as err:
        update_history(
            URL, recorder(document("r1", "2026-01-02T00:00:00Z", []), key="k"), s3_client=client
        )
    assert str(err.value).startswith(f"access denied writing history {URL}")


def stub_any():
    from botocore.stub import ANY

    return ANY


def test_record_run_at_names_the_s3_location_not_the_temporary_copy(s3):
    _, client = s3
    doc = document("r1", "2026-01-01T00:00:00Z", [finding("a")])
    record_run_at(URL, doc, "k", s3_client=client)
    assert doc["history"]["database"] == URL
    assert doc["findings"][0]["change"] == "new"
    again = document("r2", "2026-01-02T00:00:00Z", [finding("a")])
    record_run_at(URL, again, "k", s3_client=client)
    assert again["findings"][0]["change"] == "unchanged"
    assert again["history"]["previous_run_id"] == "r1"


def test_record_run_at_a_local_path(tmp_path):
    doc = document("r1", "2026-01-01T00:00:00Z", [])
    record_run_at(tmp_path / "h.sqlite", doc, "k")
    assert doc["history"]["database"] == str(tmp_path / "h.sqlite")
