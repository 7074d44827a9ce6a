"""auditor.integrations.push: client_for through one ClientCache is thread-safe (each call signs
as its own account, checked by the simulated Security Hub's calling-account rule), and topic
ARNs are parsed strictly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.credentials import Credentials

from auditor.aws.clients import ClientCache
from auditor.core.errors import ConfigError
from auditor.integrations.push import AccountClients, topic_region
from auditor.report.formats import asff
from auditor.sim import simulated_aws

ACCOUNTS = ["111111111111", "222222222222", "333333333333"]


def record(account: str, n: int) -> dict:
    finding = {
        "check_id": "mlflow_s3_owner_verification_enabled",
        "status": "FAIL",
        "severity": "high",
        "account_id": account,
        "region": "us-east-1",
        "resource_type": "mlflow-tracking-server",
        "resource_name": f"s{n}",
        "resource_arn": f"arn:aws:sagemaker:us-east-1:{account}:mlflow-tracking-server/s{n}",
        "message": "verification off",
    }
    return asff.to_asff(finding, run={"id": "r", "started_at": "2026-12-01T02:00:00Z"})


def test_concurrent_calls_each_sign_as_their_own_account():
    with simulated_aws() as sim:
        for account in ACCOUNTS:
            sim.session_for(account).client("securityhub").enable_security_hub()
        sim.reset_calls()
        cache = ClientCache(boto3.Session(region_name="us-east-1"), pool_size=16)
        asked: list[str] = []
        clients = AccountClients(
            cache, lambda a: asked.append(a) or Credentials(*sim.credentials_for(a))
        )

        def send(n: int) -> int:
            account = ACCOUNTS[n % len(ACCOUNTS)]
            # AccessDeniedException if signed as any other account (default product rule)
            answer = clients(account, "us-east-1").batch_import_findings(
                Findings=[record(account, n)]
            )
            return int(answer["SuccessCount"])

        with ThreadPoolExecutor(max_workers=12) as pool:
            assert sum(pool.map(send, range(60))) == 60
        assert sorted(asked) == ACCOUNTS  # credentials resolved once per account
        assert cache.built == 1  # one shared client for the region
        for account in ACCOUNTS:
            assert sim.count(service="securityhub", account_id=account, status_code=200) == 20


@pytest.mark.parametrize(
    ("arn", "region"),
    [
        ("arn:aws:sns:eu-west-1:111122223333:mlflow-audit", "eu-west-1"),
        ("arn:aws-us-gov:sns:us-gov-west-1:111122223333:alerts_1", "us-gov-west-1"),
    ],
)
def test_topic_region(arn, region):
    assert topic_region(arn) == region


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sqs:eu-west-1:111122223333:queue",
        "arn:aws:sns:eu-west-1:1111:short-account",
        "arn:aws:sns:eu-west-1:111122223333:",
        "arn:aws:sns:eu-west-1:111122223333:alerts.fifo",
        "mlflow-audit",
    ],
)
def test_bad_topic_arns_are_config_errors(arn):
    with pytest.raises(ConfigError):
        topic_region(arn)
