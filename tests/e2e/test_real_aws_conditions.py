"""Conditions every real organisation presents: regions without MLflow, per-account
token-bucket throttling, failed or incomplete Describe answers. Nothing may be lost."""

from __future__ import annotations

import contextlib
import json

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.stub import Stubber
from click.testing import CliRunner

from auditor.app.pipeline import run_scan
from auditor.cli import main
from auditor.collect import describe as collect
from auditor.collect.inventory import list_owned_buckets
from auditor.core.request import ScanRequest
from auditor.evaluate.policy import Policy
from auditor.evaluate.rules import load_rules
from auditor.sim import simulated_aws

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/MlflowTrackingServerRole"
REGIONS = ["us-east-1", "eu-west-1", "ap-northeast-3", "sa-east-1"]


@pytest.fixture
def sim(monkeypatch):
    with simulated_aws() as s:
        key, secret = s.credentials_for(ACCOUNT)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        s.set_enabled_regions(ACCOUNT, REGIONS)
        yield s


def _execution_role(sim) -> None:
    """ROLE, as a sound execution role: SageMaker may assume it only for ACCOUNT, and it
    grants no S3 write outside it (so the role checks PASS)."""
    iam = sim.session_for(ACCOUNT).client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(
            RoleName=ROLE.rsplit("/", 1)[1],
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
                        }
                    ]
                }
            ),
        )


def _servers(sim, n: int, region: str = "us-east-1") -> list[str]:
    _execution_role(sim)
    s3 = sim.session_for(ACCOUNT, region).client("s3")
    bucket = f"mlflow-{ACCOUNT}-{region}"
    kwargs = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=bucket, **kwargs)
    sm = sim.session_for(ACCOUNT, region).client("sagemaker")
    names = [f"srv-{i:03d}" for i in range(n)]
    for name in names:
        sm.create_mlflow_tracking_server(
            TrackingServerName=name,
            ArtifactStoreUri=f"s3://{bucket}/{name}",
            RoleArn=ROLE,
            S3BucketOwnerVerification=True,
            S3BucketOwnerAccountId=ACCOUNT,
        )
    return names


def _scan(**options):
    return run_scan(
        boto3.Session(region_name="us-east-1"),
        ScanRequest.from_options(options),
        load_rules(),
        Policy(),
    )


def test_regions_without_mlflow_are_coverage_not_errors(sim):
    """A default-region scan where most enabled regions lack MLflow (or only Apps) ends
    complete, with 0 errors, and the coverage says where each type is offered."""
    sim.set_mlflow_not_offered(["ap-northeast-3", "sa-east-1"], "server")
    sim.set_mlflow_not_offered(["ap-northeast-3", "sa-east-1", "eu-west-1"], "app")
    _servers(sim, 2)
    result = _scan()
    assert result.errors == []
    assert result.complete
    assert len(result.resources) == 2
    by_region = {s.region: s for s in result.scopes if s.status != "skipped"}
    assert set(by_region) == set(REGIONS)
    assert by_region["sa-east-1"].not_offered == ["mlflow-tracking-server", "mlflow-app"]
    assert by_region["eu-west-1"].not_offered == ["mlflow-app"]
    assert by_region["us-east-1"].not_offered == []
    assert all(s.status == "scanned" for s in by_region.values())
    assert result.warnings == []  # no --region was given


def test_cli_reports_not_offered_and_warns_about_explicit_regions(sim, tmp_path):
    """findings.json, the terminal and the report carry the coverage; an explicit region
    that no account has enabled, or without MLflow, is a warning (not a silent PASS)."""
    sim.set_mlflow_not_offered(["sa-east-1"], "server")
    sim.set_mlflow_not_offered(["sa-east-1"], "app")
    _servers(sim, 1)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "scan",
            "--region",
            "us-east-1,sa-east-1,ca-central-1",
            "--output-dir",
            str(out),
            "--format",
            "json,html",
        ],
        catch_exceptions=False,
    )
    doc = json.loads((out / "findings.json").read_text())
    assert result.exit_code == 0, result.output
    assert doc["errors"] == [] and doc["run"]["complete"] is True
    cov = doc["run"]["coverage"]
    assert cov["mlflow-tracking-server"] == {"offered": ["us-east-1"], "not_offered": ["sa-east-1"]}
    assert cov["mlflow-app"]["not_offered"] == ["sa-east-1"]
    warnings = doc["run"]["warnings"]
    assert any("ca-central-1" in w and "enabled" in w for w in warnings)
    assert any("sa-east-1" in w and "tracking servers" in w for w in warnings)
    assert "warning: --region ca-central-1" in result.output
    assert "mlflow-tracking-server: not offered in sa-east-1" in result.output
    html = (out / "report.html").read_text()
    assert "ca-central-1: no audited account has this region enabled" in html
    assert "not offered by SageMaker in sa-east-1" in html


@pytest.mark.slow  # rides out seconds of throttling
def test_sustained_rate_limit_loses_nothing_with_user_max_attempts_4(sim, tmp_path, monkeypatch):
    """Token buckets per account and operation (a few requests a second), 60 servers in
    one scope, and the user's own retry_mode=standard / max_attempts=4: every server is
    described, 0 errors, within 1.5x of the rate-limit ideal."""
    config = tmp_path / "config"
    config.write_text("[default]\nretry_mode = standard\nmax_attempts = 4\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    names = _servers(sim, 60)
    rate, burst = 20.0, 5
    sim.set_rate_limit("sagemaker:*", rate=rate, burst=burst)
    sim.set_rate_limit("s3:*", rate=rate, burst=burst)
    sim.reset_calls()
    import time

    t0 = time.monotonic()
    result = _scan(regions=["us-east-1"])
    wall = time.monotonic() - t0
    assert result.errors == []
    assert sorted(r.name for r in result.resources) == names
    assert sim.rate_limits.throttled > 0  # the limit was really hit
    ideal = (len(names) - burst) / rate
    assert wall < 1.5 * ideal + 1.0, (wall, ideal)
    assert not any(f["status"] == "UNKNOWN" for f in result.findings if f["check_id"])


@pytest.mark.slow  # waits out botocore's retries
def test_describe_that_keeps_failing_gives_unknown_findings_and_an_error(sim):
    """A listed server whose Describe fails (throttled past the budget) is not lost: it
    has UNKNOWN findings saying why, and an errors entry."""
    names = _servers(sim, 3)
    sim.set_rate_limit("sagemaker:DescribeMlflowTrackingServer", rate=0.01, burst=1)
    result = _scan(regions=["us-east-1"], throttle_budget_s=0.5)
    described = {r.name for r in result.resources}
    assert described == set(names)
    failed = [e for e in result.errors if e.operation == "sagemaker:DescribeMlflowTrackingServer"]
    assert len(failed) == 2 and {e.error_code for e in failed} == {"ThrottlingException"}
    unknown = {f["resource_name"] for f in result.findings if f["status"] == "UNKNOWN"}
    assert len(unknown) == 2
    for f in result.findings:
        if f["resource_name"] in unknown:
            assert f["status"] == "UNKNOWN"
            assert "DescribeMlflowTrackingServer failed (ThrottlingException)" in f["message"]
            assert f["resource_arn"].endswith(f"mlflow-tracking-server/{f['resource_name']}")
    assert not result.complete


def test_describe_answer_without_arn_is_an_error_never_a_fail():
    """A Describe body lacking TrackingServerArn (e.g. truncated) raises, so the resource
    gets UNKNOWN and an error instead of FAIL verdicts with an empty ARN."""
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sm) as stub:
        stub.add_response(
            "describe_mlflow_tracking_server",
            {"TrackingServerName": "t", "ArtifactStoreUri": "s3://b/x"},
            {"TrackingServerName": "t"},
        )
        with pytest.raises(collect.IncompleteResponse, match="TrackingServerArn"):
            collect.describe_tracking_server(sm, ACCOUNT, "us-east-1", "t")
        stub.add_response("describe_mlflow_app", {"Arn": "arn:x"}, {"Arn": "arn:x"})
        with pytest.raises(collect.IncompleteResponse, match="Name, ArtifactStoreUri"):
            collect.describe_app(sm, ACCOUNT, "us-east-1", "arn:x")


def test_list_buckets_follows_continuation_tokens(sim):
    """Accounts with more buckets than a page: every page is read (sim pages like S3)."""
    s3 = sim.session_for(ACCOUNT).client("s3")
    for n in range(7):
        s3.create_bucket(Bucket=f"inv-{n}-{ACCOUNT}")
    sim.reset_calls()
    with_creds = boto3.Session(*sim.credentials_for(ACCOUNT), region_name="us-east-1")
    names = list_owned_buckets(with_creds.client("s3"), page_size=3)
    assert names == {f"inv-{n}-{ACCOUNT}" for n in range(7)}
    assert sim.count(operation="ListBuckets") == 3


def test_list_buckets_stubbed_pages_with_max_buckets():
    """The request is always paginated (MaxBuckets), as S3 requires beyond 10,000 buckets."""
    s3 = boto3.client("s3", region_name="us-east-1")
    with Stubber(s3) as stub:
        stub.add_response(
            "list_buckets",
            {"Buckets": [{"Name": "a"}], "ContinuationToken": "tok"},
            {"MaxBuckets": 10000},
        )
        stub.add_response(
            "list_buckets",
            {"Buckets": [{"Name": "b"}]},
            {"MaxBuckets": 10000, "ContinuationToken": "tok"},
        )
        assert list_owned_buckets(s3) == {"a", "b"}
        stub.assert_no_pending_responses()


def test_pacing_is_per_account(sim):
    """One account's throttled operation slows that account only: the other account's
    identical calls are not paced (a shared client, separate lanes)."""
    from auditor.aws.clients import ClientCache

    other = "210987654321"
    creds = {a: Credentials(*sim.credentials_for(a)) for a in (ACCOUNT, other)}
    sim.set_rate_limit("sagemaker:ListMlflowApps", rate=5, burst=1, account_id=ACCOUNT)
    clients = ClientCache(boto3.Session(region_name="us-east-1"))
    sm = clients.client("us-east-1", "sagemaker")
    for _ in range(4):
        with clients.acting_as(creds[ACCOUNT], ACCOUNT):
            sm.list_mlflow_apps()
        with clients.acting_as(creds[other], other):
            sm.list_mlflow_apps()
    assert clients.pacer.rate((ACCOUNT, "us-east-1", "sagemaker:ListMlflowApps")) is not None
    assert clients.pacer.rate((other, "us-east-1", "sagemaker:ListMlflowApps")) is None
    assert sim.count(operation="ListMlflowApps", account_id=other, status_code=400) == 0
