"""``merge_documents`` alone, on small shard documents built by hand: it refuses the
same run twice, overlapping accounts and different trusted sets, names the shards that
are missing, and combines findings, errors and coverage."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.core.errors import ConfigError
from auditor.report.document import make_document, make_run
from auditor.report.merge import merge_documents

A, B, C = "111111111111", "222222222222", "333333333333"


def finding(account: str, status: str = "FAIL") -> dict[str, Any]:
    arn = f"arn:aws:sagemaker:us-east-1:{account}:mlflow-tracking-server/srv"
    return {
        "check_id": "mlflow_artifact_bucket_exists",
        "title": "The artifact bucket exists",
        "status": status,
        "severity": "critical",
        "account_id": account,
        "region": "us-east-1",
        "resource_type": "mlflow-tracking-server",
        "resource_name": "srv",
        "resource_arn": arn,
        "artifact_store_uri": f"s3://bucket-{account}/x",
        "bucket": f"bucket-{account}",
        "expected_owner": account,
        "actual_owner": None,
        "message": "m",
        "risk": "r",
        "evidence": [],
        "remediation": {"text": "t", "command": "", "auto": False},
        "muted_reason": None,
        "caused_by": None,
    }


def shard(
    account: str,
    k: int,
    n: int = 3,
    status: str = "FAIL",
    trusted: tuple[str, ...] = (A, B, C),
    complete: bool = True,
    run_id: str | None = None,
    fail_on: str = "high",
) -> dict[str, Any]:
    run = make_run(
        run_id=run_id or f"2026-11-27T02-00-0{k}Z-shard{k}",
        started_at=f"2026-11-27T02:00:0{k}Z",
        finished_at=f"2026-11-27T02:10:0{k}Z",
        caller_account_id=A,
        accounts=[{"account_id": account, "name": None, "access": "caller", "status": "ok"}],
        scopes=[
            {
                "account_id": account,
                "region": "us-east-1",
                "status": "scanned",
                "resources": 1,
                "not_offered": [],
            }
        ],
        warnings=[],
        regions_not_enabled={},
        trusted_accounts=list(trusted),
        fail_on=fail_on,
        fail_on_new=False,
        shard=f"{k}/{n}",
        policy=None,
        expired_waivers=[],
        stats={},
        complete=complete,
    )
    return make_document(run, [finding(account, status)], [], [])


def test_shards_combine_into_one_run():
    docs = [shard(A, 1, status="PASS"), shard(B, 2), shard(C, 3)]

    merged = merge_documents(docs, ["s1.json", "s2.json", "s3.json"])

    run = merged["run"]
    assert sorted(f["account_id"] for f in merged["findings"]) == [A, B, C]
    assert [a["account_id"] for a in run["accounts"]] == [A, B, C]
    assert [s["account_id"] for s in run["scopes"]] == [A, B, C]
    assert run["shard"] is None and run["missing_shards"] == []
    assert run["complete"] is True
    assert run["started_at"] == "2026-11-27T02:00:01Z"
    assert run["finished_at"] == "2026-11-27T02:10:03Z"
    assert [m["source"] for m in run["merged_from"]] == ["s1.json", "s2.json", "s3.json"]
    assert [m["shard"] for m in run["merged_from"]] == ["1/3", "2/3", "3/3"]
    assert merged["summary"] == merge_documents(docs[::-1], ["c", "b", "a"])["summary"]
    assert merged["findings"][0]["status"] == "FAIL"  # worst first, across shards


def test_the_same_run_twice_is_refused_naming_both_inputs():
    doc = shard(A, 1)

    with pytest.raises(ConfigError, match=r"second\.json is the same run .* as first\.json"):
        merge_documents([doc, doc], ["first.json", "second.json"])


def test_an_account_in_two_shards_is_refused():
    with pytest.raises(ConfigError, match=f"account {A} is in both x.json and y.json"):
        merge_documents([shard(A, 1), shard(A, 2)], ["x.json", "y.json"])


def test_shards_with_different_trusted_accounts_are_refused():
    docs = [shard(A, 1, trusted=(A, B)), shard(B, 2, trusted=(A, B, C))]

    with pytest.raises(ConfigError, match="different trusted accounts"):
        merge_documents(docs, ["x.json", "y.json"])


def test_the_same_trusted_accounts_in_another_order_are_accepted():
    docs = [shard(A, 1, n=2, trusted=(B, A)), shard(B, 2, n=2, trusted=(A, B))]

    assert merge_documents(docs, ["x.json", "y.json"])["run"]["trusted_accounts"] == [A, B]


def test_missing_shards_are_named_and_make_the_run_incomplete():
    docs = [shard(A, 1, n=4, status="PASS"), shard(C, 3, n=4, status="PASS")]

    merged = merge_documents(docs, ["x.json", "y.json"])

    assert merged["run"]["missing_shards"] == ["2/4", "4/4"]
    assert merged["run"]["complete"] is False
    assert merged["summary"]["exit_code"] == 3  # every finding passed, but not all was read


def test_an_incomplete_shard_makes_the_merge_incomplete():
    docs = [shard(A, 1, n=2, status="PASS"), shard(B, 2, n=2, status="PASS", complete=False)]

    merged = merge_documents(docs, ["x.json", "y.json"])

    assert merged["run"]["complete"] is False and merged["summary"]["exit_code"] == 3


def test_shards_of_different_counts_are_refused():
    with pytest.raises(ConfigError, match="different shard counts"):
        merge_documents([shard(A, 1, n=2), shard(B, 2, n=3)], ["x.json", "y.json"])


def test_different_fail_on_needs_a_choice():
    docs = [shard(A, 1, n=2, fail_on="high"), shard(B, 2, n=2, fail_on="low")]

    with pytest.raises(ConfigError, match="different --fail-on"):
        merge_documents(docs, ["x.json", "y.json"])
    assert merge_documents(docs, ["x.json", "y.json"], fail_on="low")["run"]["fail_on"] == "low"


def test_nothing_to_merge_is_refused():
    with pytest.raises(ConfigError, match="at least one"):
        merge_documents([], [])
