"""Server mode: the same behaviour over loopback, reached through AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from auditor.sim import MANAGEMENT_ACCOUNT_ID, SimServer

from .conftest import OTHER, PROD


@pytest.fixture
def server(aws_env: None) -> Iterator[SimServer]:
    with SimServer() as srv:
        yield srv


def _trust(principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def test_list_describe_headbucket_assume_role_over_loopback(server, monkeypatch):
    """The scanner's flow (AssumeRole, List, Describe, HeadBucket) with plain boto3 clients
    configured only by AWS_ENDPOINT_URL."""
    sim = server.sim
    sim.session_for(PROD).client("iam").create_role(
        RoleName="MlflowAuditRole",
        AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:root"),
    )
    sim.session_for(PROD).client("s3").create_bucket(Bucket="loop-own")
    sim.session_for(OTHER).client("s3").create_bucket(Bucket="loop-foreign")
    sim.session_for(PROD).client("sagemaker").create_mlflow_tracking_server(
        TrackingServerName="loop",
        ArtifactStoreUri="s3://loop-own/x",
        RoleArn=f"arn:aws:iam::{PROD}:role/r",
        S3BucketOwnerVerification=False,
    )

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    try:
        sts = boto3.client("sts")
        assert sts.get_caller_identity()["Account"] == MANAGEMENT_ACCOUNT_ID
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{PROD}:role/MlflowAuditRole", RoleSessionName="audit"
        )["Credentials"]
        with pytest.raises(ClientError) as exc:
            sts.assume_role(
                RoleArn=f"arn:aws:iam::{OTHER}:role/MlflowAuditRole", RoleSessionName="audit"
            )
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
        prod = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name="us-east-1",
        )
        sm = prod.client("sagemaker")
        assert sm.meta.endpoint_url == server.endpoint_url
        names = [
            s["TrackingServerName"]
            for page in sm.get_paginator("list_mlflow_tracking_servers").paginate()
            for s in page["TrackingServerSummaries"]
        ]
        assert names == ["loop"]
        d = sm.describe_mlflow_tracking_server(TrackingServerName="loop")
        assert d["S3BucketOwnerVerification"] is False
        s3 = prod.client("s3")
        s3.head_bucket(Bucket="loop-own", ExpectedBucketOwner=PROD)
        for bucket, code in (("loop-foreign", "403"), ("loop-missing", "404")):
            with pytest.raises(ClientError) as exc:
                s3.head_bucket(Bucket=bucket)
            assert exc.value.response["Error"]["Code"] == code
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["loop-own"]
    finally:
        monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert sim.count(service="s3", operation="HeadBucket", account_id=PROD) == 3


def test_faults_and_calls_over_http_control_endpoints(server):
    """POST /_sim/faults and GET /_sim/calls drive a server from another process."""
    url = server.endpoint_url

    def post(path: str, payload: dict) -> dict:
        req = urllib.request.Request(
            url + path,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req) as resp:
            return json.load(resp)

    faults = post("/_sim/faults", {"deny": [[PROD, "us-east-1", "sagemaker"]]})
    assert faults["deny"] == [[PROD, "us-east-1", "sagemaker"]]
    sm = server.sim.session_for(PROD).client("sagemaker")
    with pytest.raises(ClientError) as exc:
        sm.list_mlflow_tracking_servers()
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    post("/_sim/faults", {"clear": True})
    sm.list_mlflow_tracking_servers()
    with urllib.request.urlopen(url + "/_sim/calls") as resp:
        calls = json.load(resp)
    assert calls["by_operation"]["sagemaker:ListMlflowTrackingServers"] == 2
    assert calls["by_status"]["403"] == 1
    post("/_sim/calls/reset", {})
    with urllib.request.urlopen(url + "/_sim/calls") as resp:
        assert json.load(resp)["total"] == 0


@pytest.mark.slow
def test_cli_serve_demo_prints_json_and_stops_on_sigterm(aws_env):
    """`python -m auditor.sim serve --port 0 --demo` prints one JSON line, answers boto3
    calls at the printed endpoint, and exits cleanly on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.sim", "serve", "--port", "0", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["management_account_id"] == MANAGEMENT_ACCOUNT_ID
        demo = info["demo"]
        assert {c["name"] for c in demo["cases"]} >= {"compliant", "sniped-verified", "dev-eu"}
        session = boto3.Session(
            aws_access_key_id=info["aws_access_key_id"],
            aws_secret_access_key=info["aws_secret_access_key"],
            region_name="us-east-1",
        )
        sts = session.client("sts", endpoint_url=info["endpoint_url"])
        assert sts.get_caller_identity()["Account"] == MANAGEMENT_ACCOUNT_ID
        orgs = session.client("organizations", endpoint_url=info["endpoint_url"])
        ids = {a["Id"] for a in orgs.list_accounts()["Accounts"]}
        assert set(demo["accounts"].values()) <= ids
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
