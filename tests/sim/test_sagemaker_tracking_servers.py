"""SageMaker MLflow tracking servers, exercised with plain boto3 calls.

API reference: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Operations.html
"""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .conftest import PROD, ROLE


@pytest.fixture
def sm(sim):
    return sim.session_for(PROD).client("sagemaker")


def _create(sm, name: str, **kwargs):
    kwargs.setdefault("ArtifactStoreUri", f"s3://bucket-{name}/mlflow")
    kwargs.setdefault("RoleArn", ROLE)
    return sm.create_mlflow_tracking_server(TrackingServerName=name, **kwargs)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_create_returns_arn_and_defaults_verification_true(sm):
    """CreateMlflowTrackingServer returns the ARN; S3BucketOwnerVerification defaults to True.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateMlflowTrackingServer.html
    """
    arn = _create(sm, "srv-1")["TrackingServerArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{PROD}:mlflow-tracking-server/srv-1"
    d = sm.describe_mlflow_tracking_server(TrackingServerName="srv-1")
    assert d["S3BucketOwnerVerification"] is True
    assert "S3BucketOwnerAccountId" not in d  # nothing pinned
    assert d["TrackingServerStatus"] == "Created"
    assert d["IsActive"] == "Active"
    assert d["TrackingServerUrl"].startswith("https://")
    assert d["ArtifactStoreUri"] == "s3://bucket-srv-1/mlflow"
    assert isinstance(d["CreationTime"], dt.datetime)
    assert d["CreatedBy"]["IamIdentity"]["Arn"].startswith(f"arn:aws:iam::{PROD}:user/")


def test_create_keeps_pinned_owner_and_disabled_verification(sm):
    """Both ownership fields round-trip through Describe.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeMlflowTrackingServer.html
    """
    _create(sm, "pinned", S3BucketOwnerVerification=False, S3BucketOwnerAccountId="444455556666")
    d = sm.describe_mlflow_tracking_server(TrackingServerName="pinned")
    assert d["S3BucketOwnerVerification"] is False
    assert d["S3BucketOwnerAccountId"] == "444455556666"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"TrackingServerName": "bad_name"},
        {"TrackingServerName": "-lead"},
        {"TrackingServerName": "x" * 257},
        {"ArtifactStoreUri": "ftp://bucket/x"},
        {"RoleArn": "arn:aws:iam::12345:role/x"},
        {"S3BucketOwnerAccountId": "12345"},
        {"S3BucketOwnerAccountId": "abcdefghijkl"},
        {"TrackingServerSize": "Huge"},
    ],
)
def test_create_validates_input(sim, kwargs):
    """Input that violates the API's patterns/lengths/enums -> ValidationException (checked
    server-side: botocore's own client-side validation is switched off here).
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateMlflowTrackingServer.html
    """
    sm = sim.session_for(PROD).client("sagemaker", config=Config(parameter_validation=False))
    params = {"TrackingServerName": "ok", "ArtifactStoreUri": "s3://b/p", "RoleArn": ROLE}
    params.update(kwargs)
    with pytest.raises(ClientError) as exc:
        sm.create_mlflow_tracking_server(**params)
    assert _code(exc) == "ValidationException"


def test_create_duplicate_name_is_resource_in_use(sm):
    """A second server with the same name in the same account/region -> ResourceInUse."""
    _create(sm, "dup")
    with pytest.raises(ClientError) as exc:
        _create(sm, "dup")
    assert _code(exc) == "ResourceInUse"


def test_servers_are_scoped_per_account_and_region(sim, sm):
    _create(sm, "only-here")
    eu = sim.session_for(PROD, "eu-west-1").client("sagemaker")
    assert eu.list_mlflow_tracking_servers()["TrackingServerSummaries"] == []
    other = sim.session_for("222222222222").client("sagemaker")
    with pytest.raises(ClientError) as exc:
        other.describe_mlflow_tracking_server(TrackingServerName="only-here")
    assert _code(exc) == "ResourceNotFound"


def test_describe_unknown_is_resource_not_found(sm):
    """https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeMlflowTrackingServer.html"""
    with pytest.raises(ClientError) as exc:
        sm.describe_mlflow_tracking_server(TrackingServerName="nope")
    assert _code(exc) == "ResourceNotFound"


def test_list_paginates_at_100_and_omits_ownership_fields(sim, sm):
    """ListMlflowTrackingServers: MaxResults 1..100, NextToken; summaries only.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListMlflowTrackingServers.html
    """
    for i in range(105):
        _create(sm, f"s{i:03d}")
    first = sm.list_mlflow_tracking_servers()
    assert len(first["TrackingServerSummaries"]) == 100
    assert "NextToken" in first
    names = [
        s["TrackingServerName"]
        for page in sm.get_paginator("list_mlflow_tracking_servers").paginate(
            PaginationConfig={"PageSize": 7}
        )
        for s in page["TrackingServerSummaries"]
    ]
    assert sorted(names) == [f"s{i:03d}" for i in range(105)]
    summary = first["TrackingServerSummaries"][0]
    assert set(summary) <= {
        "TrackingServerArn",
        "TrackingServerName",
        "CreationTime",
        "LastModifiedTime",
        "TrackingServerStatus",
        "IsActive",
        "MlflowVersion",
    }
    unchecked = sim.session_for(PROD).client("sagemaker", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as exc:
        unchecked.list_mlflow_tracking_servers(MaxResults=101)
    assert _code(exc) == "ValidationException"


def test_list_filters_and_sorts(sim, sm):
    _create(sm, "b-server")
    _create(sm, "a-server")
    _create(sm, "c-server")
    sim.set_tracking_server_status(PROD, "us-east-1", "c-server", "Stopped")
    asc = sm.list_mlflow_tracking_servers(SortBy="Name", SortOrder="Ascending")
    assert [s["TrackingServerName"] for s in asc["TrackingServerSummaries"]] == [
        "a-server",
        "b-server",
        "c-server",
    ]
    default = sm.list_mlflow_tracking_servers()  # CreationTime, newest first
    assert [s["TrackingServerName"] for s in default["TrackingServerSummaries"]] == [
        "c-server",
        "a-server",
        "b-server",
    ]
    stopped = sm.list_mlflow_tracking_servers(TrackingServerStatus="Stopped")
    assert [s["TrackingServerName"] for s in stopped["TrackingServerSummaries"]] == ["c-server"]
    created = sm.describe_mlflow_tracking_server(TrackingServerName="a-server")["CreationTime"]
    after = sm.list_mlflow_tracking_servers(CreatedAfter=created)["TrackingServerSummaries"]
    assert [s["TrackingServerName"] for s in after] == ["c-server"]
    before = sm.list_mlflow_tracking_servers(CreatedBefore=created)["TrackingServerSummaries"]
    assert [s["TrackingServerName"] for s in before] == ["b-server"]


def test_update_sets_ownership_fields(sm):
    """UpdateMlflowTrackingServer changes ArtifactStoreUri and both ownership fields.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateMlflowTrackingServer.html
    """
    _create(sm, "upd", S3BucketOwnerVerification=False)
    sm.update_mlflow_tracking_server(
        TrackingServerName="upd",
        S3BucketOwnerVerification=True,
        S3BucketOwnerAccountId=PROD,
        ArtifactStoreUri="s3://new-bucket/x",
    )
    d = sm.describe_mlflow_tracking_server(TrackingServerName="upd")
    assert (d["S3BucketOwnerVerification"], d["S3BucketOwnerAccountId"]) == (True, PROD)
    assert d["ArtifactStoreUri"] == "s3://new-bucket/x"
    assert d["TrackingServerStatus"] == "Updated"


@pytest.mark.parametrize(
    "status", ["Creating", "Updating", "Deleting", "Starting", "Stopping", "MaintenanceInProgress"]
)
def test_update_while_not_stable_is_conflict(sim, sm, status):
    """Updating a server that is mid-transition -> ConflictException.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateMlflowTrackingServer.html
    """
    _create(sm, "busy")
    sim.set_tracking_server_status(PROD, "us-east-1", "busy", status)
    with pytest.raises(ClientError) as exc:
        sm.update_mlflow_tracking_server(TrackingServerName="busy", S3BucketOwnerVerification=True)
    assert _code(exc) == "ConflictException"


def test_update_unknown_is_resource_not_found(sm):
    with pytest.raises(ClientError) as exc:
        sm.update_mlflow_tracking_server(TrackingServerName="ghost", S3BucketOwnerVerification=True)
    assert _code(exc) == "ResourceNotFound"


def test_legacy_server_omits_both_fields_until_updated(sim, sm):
    """Servers created before 2026-03-05 report neither field; after an update they do."""
    sim.create_legacy_tracking_server(PROD, "us-east-1", "old", "s3://old-bucket/x")
    d = sm.describe_mlflow_tracking_server(TrackingServerName="old")
    assert "S3BucketOwnerVerification" not in d and "S3BucketOwnerAccountId" not in d
    sm.update_mlflow_tracking_server(TrackingServerName="old", S3BucketOwnerAccountId=PROD)
    d = sm.describe_mlflow_tracking_server(TrackingServerName="old")
    assert d["S3BucketOwnerVerification"] is True
    assert d["S3BucketOwnerAccountId"] == PROD


def test_stop_start_delete_transitions(sim, sm):
    """Stop -> Stopped (Inactive), Start -> Started, Delete -> gone; Conflict where invalid.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StopMlflowTrackingServer.html
    """
    _create(sm, "cycle")
    with pytest.raises(ClientError) as exc:
        sm.start_mlflow_tracking_server(TrackingServerName="cycle")
    assert _code(exc) == "ConflictException"
    sm.stop_mlflow_tracking_server(TrackingServerName="cycle")
    d = sm.describe_mlflow_tracking_server(TrackingServerName="cycle")
    assert (d["TrackingServerStatus"], d["IsActive"]) == ("Stopped", "Inactive")
    with pytest.raises(ClientError) as exc:
        sm.stop_mlflow_tracking_server(TrackingServerName="cycle")
    assert _code(exc) == "ConflictException"
    sm.start_mlflow_tracking_server(TrackingServerName="cycle")
    assert (
        sm.describe_mlflow_tracking_server(TrackingServerName="cycle")["TrackingServerStatus"]
        == "Started"
    )
    sim.set_tracking_server_status(PROD, "us-east-1", "cycle", "Updating")
    with pytest.raises(ClientError) as exc:
        sm.delete_mlflow_tracking_server(TrackingServerName="cycle")
    assert _code(exc) == "ConflictException"
    sim.set_tracking_server_status(PROD, "us-east-1", "cycle", "Updated")
    sm.delete_mlflow_tracking_server(TrackingServerName="cycle")
    with pytest.raises(ClientError) as exc:
        sm.describe_mlflow_tracking_server(TrackingServerName="cycle")
    assert _code(exc) == "ResourceNotFound"


def test_delayed_transitions_when_configured(sim, sm):
    """With transition_reads=N a transitional status completes after N Describe/List reads."""
    sim.transition_reads = 2
    _create(sm, "slow")
    seen = [
        sm.describe_mlflow_tracking_server(TrackingServerName="slow")["TrackingServerStatus"]
        for _ in range(3)
    ]
    assert seen == ["Creating", "Created", "Created"]
    sm.update_mlflow_tracking_server(TrackingServerName="slow", S3BucketOwnerVerification=True)
    with pytest.raises(ClientError) as exc:  # still Updating
        sm.update_mlflow_tracking_server(TrackingServerName="slow", S3BucketOwnerVerification=True)
    assert _code(exc) == "ConflictException"
    sm.describe_mlflow_tracking_server(TrackingServerName="slow")
    assert (
        sm.describe_mlflow_tracking_server(TrackingServerName="slow")["TrackingServerStatus"]
        == "Updated"
    )


def test_tags_on_tracking_server(sm):
    """AddTags/ListTags on an MLflow ARN (tag values follow SageMaker's Tag pattern).
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Tag.html
    """
    arn = _create(sm, "tagged", Tags=[{"Key": "team", "Value": "ml"}])["TrackingServerArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "cost", "Value": "=1+1"}])
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "ml", "cost": "=1+1"}
    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "x", "Value": "<script>"}])
    assert _code(exc) == "ValidationException"
