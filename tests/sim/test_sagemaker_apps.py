"""SageMaker MLflow Apps.

https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateMlflowApp.html
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import PROD, ROLE


def test_app_create_describe_list_update(sim):
    """CreateMlflowApp returns an mlflow-app ARN; Describe/List/Update work by ARN; apps carry
    no ownership fields (the API model has none)."""
    sm = sim.session_for(PROD).client("sagemaker")
    arn = sm.create_mlflow_app(Name="app-one", ArtifactStoreUri="s3://app-bucket/x", RoleArn=ROLE)[
        "Arn"
    ]
    assert arn.startswith(f"arn:aws:sagemaker:us-east-1:{PROD}:mlflow-app/app-")
    d = sm.describe_mlflow_app(Arn=arn)
    assert (d["Name"], d["ArtifactStoreUri"], d["Status"]) == (
        "app-one",
        "s3://app-bucket/x",
        "Created",
    )
    assert "S3BucketOwnerVerification" not in d
    for i in range(3):
        sm.create_mlflow_app(Name=f"more-{i}", ArtifactStoreUri="s3://b/x", RoleArn=ROLE)
    pages = list(sm.get_paginator("list_mlflow_apps").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 2
    assert sorted(s["Name"] for p in pages for s in p["Summaries"]) == [
        "app-one",
        "more-0",
        "more-1",
        "more-2",
    ]
    sm.update_mlflow_app(Arn=arn, ArtifactStoreUri="s3://moved/x")
    d = sm.describe_mlflow_app(Arn=arn)
    assert (d["ArtifactStoreUri"], d["Status"]) == ("s3://moved/x", "Updated")


def test_app_unknown_arn_is_resource_not_found(sim):
    sm = sim.session_for(PROD).client("sagemaker")
    with pytest.raises(ClientError) as exc:
        sm.describe_mlflow_app(Arn=f"arn:aws:sagemaker:us-east-1:{PROD}:mlflow-app/app-nope")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFound"


def test_app_tags(sim):
    sm = sim.session_for(PROD).client("sagemaker")
    arn = sm.create_mlflow_app(
        Name="tagged", ArtifactStoreUri="s3://b/x", RoleArn=ROLE, Tags=[{"Key": "k", "Value": "v"}]
    )["Arn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
