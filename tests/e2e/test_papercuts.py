"""Small things a first user trips on: `event` waiting on a terminal without a word, and
the Lambda's switches taking more than the documented true/false."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from auditor.app.aws_lambda import lambda_handler
from auditor.core.errors import ConfigError
from auditor.sim import build_demo_org, simulated_aws
from tests.e2e.served import CLI, spawn_in_pty

EVENTS = Path(__file__).resolve().parents[1] / "events"
NOTICE = b"reading the event from stdin (paste it, then Ctrl-D)"
VERIFY = "mlflow_s3_owner_verification_enabled"


def test_event_on_a_terminal_says_it_reads_stdin_then_takes_a_pasted_event(served):
    run = spawn_in_pty(served, "event", "--no-history")
    run.read_until(NOTICE, timeout=60)  # said before it blocks, not after
    event = json.loads((EVENTS / "eventbridge_delete_bucket_failed.json").read_text())
    run.type(json.dumps(event).encode() + b"\n\x04")  # pasted, then Ctrl-D
    run.read_until(b"nothing to do: DeleteBucket failed", timeout=60)
    assert run.wait() == 0
    assert run.output.count(NOTICE) == 1


def test_event_from_a_pipe_prints_no_notice(served):
    event = (EVENTS / "eventbridge_delete_bucket_failed.json").read_text()
    proc = subprocess.run(
        [CLI, "event", "--no-history"],
        input=event,
        env=served.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("nothing to do: DeleteBucket failed")


@pytest.fixture
def lambda_org(monkeypatch):
    """An organisation of its own (the Lambda may remediate it), caller = management."""
    with simulated_aws() as sim:
        demo = build_demo_org(sim, regions=("us-east-1",))
        key, secret = sim.credentials_for(demo.management_account_id)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        for name in list(os.environ):
            if name.startswith("MLFLOW_AUDIT_"):
                monkeypatch.delenv(name)
        yield sim, demo


def create_event(account: str, name: str, bucket: str) -> dict:
    event = json.loads((EVENTS / "eventbridge_create_tracking_server.json").read_text())
    detail = event["detail"]
    detail.update(recipientAccountId=account, awsRegion="us-east-1")
    detail["requestParameters"].update(
        trackingServerName=name, artifactStoreUri=f"s3://{bucket}/second"
    )
    arn = f"arn:aws:sagemaker:us-east-1:{account}:mlflow-tracking-server/{name}"
    detail["responseElements"] = {"trackingServerArn": arn}
    event.update(account=account, region="us-east-1")
    return event


def test_lambda_switches_take_only_true_or_false(lambda_org, monkeypatch):
    sim, demo = lambda_org
    prod = demo.case("compliant").account_id
    bucket = demo.case("compliant-namespace").bucket
    sm = sim.session_for(prod, "us-east-1").client("sagemaker")
    sm.create_mlflow_tracking_server(
        TrackingServerName="team-b",
        ArtifactStoreUri=f"s3://{bucket}/second",
        RoleArn=f"arn:aws:iam::{prod}:role/MlflowServerRole",
        S3BucketOwnerVerification=False,
    )
    event = create_event(prod, "team-b", bucket)
    monkeypatch.setenv("MLFLOW_AUDIT_ORG", "true")

    def verification() -> bool:
        server = sm.describe_mlflow_tracking_server(TrackingServerName="team-b")
        return bool(server.get("S3BucketOwnerVerification"))

    # yes/1/on once meant true: a typo must not switch remediation (writes) on unseen
    for value in ("yes", "1", "on", "Y"):
        monkeypatch.setenv("MLFLOW_AUDIT_REMEDIATE", value)
        sim.reset_calls()
        with pytest.raises(ConfigError, match=f"MLFLOW_AUDIT_REMEDIATE='{value}': use true"):
            lambda_handler(event, None)
        assert sim.calls == [] and verification() is False
    monkeypatch.setenv("MLFLOW_AUDIT_REMEDIATE", "false")
    monkeypatch.setenv("MLFLOW_AUDIT_ORG", "no")
    with pytest.raises(ConfigError, match="MLFLOW_AUDIT_ORG='no'"):
        lambda_handler(event, None)

    # true/false in any case; empty is unset (false)
    monkeypatch.setenv("MLFLOW_AUDIT_ORG", "True")
    monkeypatch.setenv("MLFLOW_AUDIT_SECURITY_HUB", "")
    monkeypatch.setenv("MLFLOW_AUDIT_REMEDIATE", "FALSE")
    checked = lambda_handler(event, None)
    assert checked["status"] == "checked" and checked["remediations"] == []
    assert any(VERIFY in failed for failed in checked["failed"]) and verification() is False
    monkeypatch.setenv("MLFLOW_AUDIT_REMEDIATE", "TRUE")
    fixed = lambda_handler(event, None)
    assert fixed["remediations"] and verification() is True
