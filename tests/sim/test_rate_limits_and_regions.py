"""Token-bucket rate limits per (account, region, operation) and regions without MLflow."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from auditor.sim import SimServer

from .conftest import OTHER, PROD, ROLE

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
DESCRIBE = "sagemaker:DescribeMlflowTrackingServer"


def _codes(call, n: int) -> list[str]:
    out = []
    for _ in range(n):
        try:
            call()
            out.append("ok")
        except ClientError as exc:
            out.append(exc.response["Error"]["Code"])
    return out


def test_token_bucket_allows_burst_then_throttles_with_sagemaker_error(sim):
    """A bucket of ``burst`` tokens, refilled at ``rate``/s; an empty bucket answers HTTP 400
    ThrottlingException (JSON protocol), as SageMaker throttles per account and Region
    (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html describes the
    token bucket AWS uses)."""
    sim.set_rate_limit("sagemaker:ListMlflowTrackingServers", rate=5, burst=3)
    sm = sim.session_for(PROD).client("sagemaker", config=NO_RETRY)
    codes = _codes(sm.list_mlflow_tracking_servers, 5)
    assert codes[:3] == ["ok"] * 3
    assert codes[3:] == ["ThrottlingException"] * 2
    try:
        sm.list_mlflow_tracking_servers()
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    time.sleep(0.25)  # 5 tokens/s: at least one token back
    sm.list_mlflow_tracking_servers()
    # Another operation of the same account is not limited by this bucket.
    assert _codes(sm.list_mlflow_apps, 5) == ["ok"] * 5


def test_buckets_are_per_account_region_and_operation(sim):
    """Emptying one account's bucket leaves another account's, another region's and another
    operation's untouched."""
    sim.set_rate_limit("sagemaker:*", rate=0.01, burst=2)
    prod = sim.session_for(PROD).client("sagemaker", config=NO_RETRY)
    assert _codes(prod.list_mlflow_tracking_servers, 3) == ["ok", "ok", "ThrottlingException"]
    other = sim.session_for(OTHER).client("sagemaker", config=NO_RETRY)
    assert _codes(other.list_mlflow_tracking_servers, 2) == ["ok", "ok"]
    prod_eu = sim.session_for(PROD, "eu-west-1").client("sagemaker", config=NO_RETRY)
    assert _codes(prod_eu.list_mlflow_tracking_servers, 2) == ["ok", "ok"]
    assert _codes(prod.list_mlflow_apps, 2) == ["ok", "ok"]
    assert sim.rate_limits.throttled == 1


def test_most_specific_limit_wins_and_s3_answers_slowdown(sim):
    """An account-specific limit overrides the general one; S3 throttles with 503 SlowDown
    (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)."""
    sim.set_rate_limit("s3:*", rate=0.01, burst=100)
    sim.set_rate_limit("s3:ListBuckets", rate=0.01, burst=1, account_id=PROD)
    s3 = sim.session_for(PROD).client("s3", config=NO_RETRY)
    s3.list_buckets()
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert exc.value.response["Error"]["Code"] == "SlowDown"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    other = sim.session_for(OTHER).client("s3", config=NO_RETRY)
    assert _codes(other.list_buckets, 3) == ["ok"] * 3


def test_rate_limit_rejects_nonsense(sim):
    with pytest.raises(ValueError):
        sim.set_rate_limit("DescribeMlflowApp", rate=1, burst=1)
    with pytest.raises(ValueError):
        sim.set_rate_limit(DESCRIBE, rate=0, burst=1)


def test_mlflow_not_offered_answers_unknown_operation_per_kind(sim):
    """Regions without Managed MLflow answer HTTP 400 UnknownOperationException ("The
    requested operation is not supported in the called region."); tracking servers and
    MLflow Apps are offered separately. Other SageMaker operations still work there."""
    sim.set_mlflow_not_offered(["ap-south-2"], "server")
    sim.set_mlflow_not_offered(["ap-south-2", "eu-central-2"], "app")
    sm = sim.session_for(PROD, "ap-south-2").client("sagemaker", config=NO_RETRY)
    for call in (sm.list_mlflow_tracking_servers, sm.list_mlflow_apps):
        with pytest.raises(ClientError) as exc:
            call()
        err = exc.value.response
        assert err["Error"]["Code"] == "UnknownOperationException"
        assert err["Error"]["Message"] == (
            "The requested operation is not supported in the called region."
        )
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        sm.create_mlflow_tracking_server(
            TrackingServerName="x", ArtifactStoreUri="s3://b/x", RoleArn=ROLE
        )
    assert exc.value.response["Error"]["Code"] == "UnknownOperationException"
    eu2 = sim.session_for(PROD, "eu-central-2").client("sagemaker", config=NO_RETRY)
    assert eu2.list_mlflow_tracking_servers()["TrackingServerSummaries"] == []
    with pytest.raises(ClientError) as exc:
        eu2.list_mlflow_apps()
    assert exc.value.response["Error"]["Code"] == "UnknownOperationException"
    sim.session_for(PROD, "us-east-1").client("sagemaker").list_mlflow_apps()
    with pytest.raises(ValueError):
        sim.set_mlflow_not_offered(["x"], "servers")


def test_list_buckets_pages_with_continuation_token(sim):
    """ListBuckets with MaxBuckets answers a ContinuationToken while more buckets remain;
    moto alone never does. Without MaxBuckets AWS applies a page size of 10,000
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html)."""
    s3 = sim.session_for(PROD).client("s3")
    for n in range(5):
        s3.create_bucket(Bucket=f"page-{n}-{PROD}")
    first = s3.list_buckets(MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == [f"page-0-{PROD}", f"page-1-{PROD}"]
    token = first["ContinuationToken"]
    second = s3.list_buckets(MaxBuckets=2, ContinuationToken=token)
    assert [b["Name"] for b in second["Buckets"]] == [f"page-2-{PROD}", f"page-3-{PROD}"]
    last = s3.list_buckets(MaxBuckets=2, ContinuationToken=second["ContinuationToken"])
    assert [b["Name"] for b in last["Buckets"]] == [f"page-4-{PROD}"]
    assert "ContinuationToken" not in last
    assert len(s3.list_buckets()["Buckets"]) == 5


def _post(url: str, payload: dict) -> dict:
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def test_rate_limits_and_mlflow_regions_over_control_endpoints(aws_env):
    """POST /_sim/rate-limits and /_sim/mlflow-regions drive a served simulation."""
    with SimServer() as server:
        url = server.endpoint_url
        got = _post(
            url + "/_sim/rate-limits",
            {"rate_limits": [{"operation": DESCRIBE, "rate": 0.01, "burst": 1}]},
        )
        assert got["rate_limits"][0]["operation"] == DESCRIBE
        got = _post(url + "/_sim/mlflow-regions", {"not_offered": {"app": ["sa-east-1"]}})
        assert got["not_offered"] == {"server": [], "app": ["sa-east-1"]}
        sm = server.sim.session_for(PROD).client("sagemaker", config=NO_RETRY)
        sm.create_mlflow_tracking_server(
            TrackingServerName="t", ArtifactStoreUri="s3://b/x", RoleArn=ROLE
        )
        codes = _codes(lambda: sm.describe_mlflow_tracking_server(TrackingServerName="t"), 2)
        assert codes == ["ok", "ThrottlingException"]
        sa = server.sim.session_for(PROD, "sa-east-1").client("sagemaker", config=NO_RETRY)
        with pytest.raises(ClientError) as exc:
            sa.list_mlflow_apps()
        assert exc.value.response["Error"]["Code"] == "UnknownOperationException"
        sa.list_mlflow_tracking_servers()
        _post(url + "/_sim/rate-limits", {"clear": True})
        sm.describe_mlflow_tracking_server(TrackingServerName="t")
        with urllib.request.urlopen(url + "/_sim/rate-limits") as resp:
            assert json.load(resp)["rate_limits"] == []
