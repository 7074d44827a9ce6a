"""Injected faults and call accounting (in-process)."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .conftest import OTHER, PROD, ROLE

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def test_deny_scope_answers_access_denied_in_protocol_format(sim):
    """deny(account, region, service): JSON services -> AccessDeniedException, S3/STS ->
    AccessDenied, only in that scope."""
    sim.faults.deny(PROD, "eu-west-1", "sagemaker")
    sim.faults.deny(PROD, None, "s3")
    with pytest.raises(ClientError) as exc:
        sim.session_for(PROD, "eu-west-1").client("sagemaker").list_mlflow_tracking_servers()
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    sim.session_for(PROD, "us-east-1").client("sagemaker").list_mlflow_tracking_servers()
    sim.session_for(OTHER, "eu-west-1").client("sagemaker").list_mlflow_tracking_servers()
    with pytest.raises(ClientError) as exc:
        sim.session_for(PROD).client("s3").list_buckets()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    sim.faults.deny(PROD, None, "sts")
    with pytest.raises(ClientError) as exc:
        sim.session_for(PROD).client("sts").get_caller_identity()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    sim.faults.clear()
    sim.session_for(PROD).client("s3").list_buckets()


def test_reject_credentials_answers_unrecognized_client(sim):
    """reject_credentials(account, region, service): 400 UnrecognizedClientException, what
    AWS answers in a region not enabled for the account (assumed from observed behaviour;
    https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html)."""
    sim.faults.reject_credentials(PROD, "eu-west-1", "sagemaker")
    client = sim.session_for(PROD, "eu-west-1").client("sagemaker", config=NO_RETRY)
    with pytest.raises(ClientError) as exc:
        client.list_mlflow_tracking_servers()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sim.session_for(PROD, "us-east-1").client("sagemaker").list_mlflow_tracking_servers()
    sim.faults.clear()
    client.list_mlflow_tracking_servers()


@pytest.mark.parametrize(
    "service,call,code",
    [
        ("sagemaker", lambda c: c.list_mlflow_tracking_servers(), "ThrottlingException"),
        ("s3", lambda c: c.list_buckets(), "SlowDown"),
        ("sts", lambda c: c.get_caller_identity(), "Throttling"),
        ("ec2", lambda c: c.describe_regions(), "RequestLimitExceeded"),
    ],
)
def test_throttling_is_recognised_and_retried_by_botocore(sim, monkeypatch, service, call, code):
    """Throttling errors use codes botocore retries.
    https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html
    """
    # Keep botocore's retry decision but skip its exponential backoff sleeps.
    monkeypatch.setattr(
        "botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0
    )
    sim.faults.throttle_rate = 1.0
    with pytest.raises(ClientError) as exc:
        call(sim.session_for(PROD).client(service, config=NO_RETRY))
    assert exc.value.response["Error"]["Code"] == code
    sim.faults.throttle_rate = 0.5
    sim.faults.seed(7)
    client = sim.session_for(PROD).client(
        service, config=Config(retries={"max_attempts": 10, "mode": "standard"})
    )
    sim.reset_calls()
    for _ in range(5):
        call(client)
    assert sim.count(service=service) > 5  # some attempts were throttled, then retried


def test_throttle_rate_is_seeded(sim):
    def run() -> list[int]:
        sim.faults.seed(3)
        sim.reset_calls()
        client = sim.session_for(PROD).client("sagemaker", config=NO_RETRY)
        for _ in range(20):
            with contextlib.suppress(ClientError):
                client.list_mlflow_tracking_servers()
        return [c.status_code for c in sim.calls]

    sim.faults.throttle_rate = 0.3
    first = run()
    assert first == run() and 400 in first and 200 in first


def test_latency_is_added_per_request(sim):
    client = sim.session_for(PROD).client("sagemaker")
    sim.faults.latency_s = 0.05
    start = time.perf_counter()
    for _ in range(4):
        client.list_mlflow_tracking_servers()
    assert time.perf_counter() - start >= 0.2


def test_every_request_is_recorded(sim):
    """CallRecord(account, region, service, operation, status) for each request."""
    sm = sim.session_for(PROD, "eu-west-1").client("sagemaker")
    sm.create_mlflow_tracking_server(
        TrackingServerName="x", ArtifactStoreUri="s3://b/x", RoleArn=ROLE
    )
    with pytest.raises(ClientError):
        sm.describe_mlflow_tracking_server(TrackingServerName="missing")
    s3 = sim.session_for(OTHER).client("s3")
    s3.create_bucket(Bucket="rec-bucket")
    s3.head_bucket(Bucket="rec-bucket")
    assert (
        sim.count(
            service="sagemaker",
            operation="CreateMlflowTrackingServer",
            account_id=PROD,
            region="eu-west-1",
        )
        == 1
    )
    assert sim.count(operation="DescribeMlflowTrackingServer", status_code=400) == 1
    assert sim.count(service="s3", operation="HeadBucket", account_id=OTHER) == 1
    assert sim.count(service="s3", operation="CreateBucket") == 1
    sim.reset_calls()
    assert sim.calls == []


def test_call_accounting_is_thread_safe(sim):
    client = sim.session_for(PROD).client("sagemaker")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: client.list_mlflow_tracking_servers(), range(80)))
    assert sim.count(operation="ListMlflowTrackingServers") == 80
