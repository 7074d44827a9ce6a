"""Findings documents under s3://bucket/prefix/ (auditor.app.results), on the simulation."""

from __future__ import annotations

import json

import pytest

from auditor.app.results import S3Prefix, S3Results, parse_prefix
from auditor.aws.errors import ConfigError
from auditor.report.document import make_document, make_run
from auditor.report.outputs import ReportWriteError
from auditor.sim import simulated_aws

ACCOUNT = "123456789012"


def document(shard: str) -> dict:
    run = make_run(
        started_at="2026-12-01T02:00:00Z",
        finished_at="2026-12-01T02:01:00Z",
        caller_account_id=ACCOUNT,
        accounts=[],
        scopes=[],
        warnings=[],
        regions_not_enabled={},
        trusted_accounts=[],
        fail_on="high",
        fail_on_new=False,
        shard=shard,
        policy=None,
        expired_waivers=[],
        stats={},
        complete=True,
    )
    return make_document(run, [], [], [])


def test_parse_prefix():
    assert parse_prefix("./out") is None
    assert parse_prefix("s3://b") == S3Prefix("b", "")
    assert parse_prefix("s3://b/run1") == S3Prefix("b", "run1/")
    assert parse_prefix("s3://b/a/b/") == S3Prefix("b", "a/b/")
    assert str(parse_prefix("s3://b/x").child("shards/1")) == "s3://b/x/shards/1/"
    with pytest.raises(ConfigError, match="names no bucket"):
        parse_prefix("s3:///x")


@pytest.fixture
def store(monkeypatch):
    with simulated_aws() as sim:
        key, secret = sim.credentials_for(ACCOUNT)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        session = sim.session_for(ACCOUNT)
        session.client("s3").create_bucket(Bucket="results")
        yield S3Results(session), session.client("s3")


def test_documents_round_trip_under_a_prefix_only(store):
    results, s3 = store
    run1, run10 = parse_prefix("s3://results/run1/"), parse_prefix("s3://results/run10/")
    for k in (1, 2):
        url = results.put_document(document(f"{k}/2"), run1.child(f"shards/{k}"))
        assert url == f"s3://results/run1/shards/{k}/findings.json"
    results.put_document(document("1/1"), run10)  # a prefix that only starts the same
    s3.put_object(Bucket="results", Key="run1/shards/notes.txt", Body=b"not a document")
    docs, sources = results.load_documents(run1)
    assert [d["run"]["shard"] for d in docs] == ["1/2", "2/2"]
    assert sources == [f"s3://results/run1/shards/{k}/findings.json" for k in (1, 2)]
    head = s3.head_object(Bucket="results", Key="run1/shards/1/findings.json")
    assert head["ContentType"] == "application/json"


def test_unusable_prefixes_and_documents_are_one_line_errors(store):
    results, s3 = store
    with pytest.raises(ConfigError, match="no findings.json under this prefix"):
        results.load_documents(parse_prefix("s3://results/empty/"))
    with pytest.raises(ConfigError, match="bucket does not exist"):
        results.load_documents(parse_prefix("s3://no-such-results/x/"))
    s3.put_object(Bucket="results", Key="bad/findings.json", Body=json.dumps({"a": 1}))
    with pytest.raises(ConfigError, match=r"^s3://results/bad/findings.json: not an mlflow"):
        results.load_documents(parse_prefix("s3://results/bad/"))
    with pytest.raises(ReportWriteError, match="s3://no-such-results/x/findings.json"):
        results.put_document(document("1/1"), parse_prefix("s3://no-such-results/x/"))
