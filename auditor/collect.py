"""Collect MLflow tracking servers and MLflow Apps of one (account, region) scope.

``List*`` calls do not return the ownership fields, so every resource is described.
Listing and describing are separate steps so the scheduler can describe resources of
many scopes concurrently instead of one scope at a time.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from auditor.model import MLFLOW_APP, TRACKING_SERVER, Resource

# A resource deleted between List and Describe is gone, not an error.
GONE_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "ValidationException"})


def list_tracking_servers(sagemaker: Any) -> list[str]:
    """Names of every tracking server in the scope (paginated, 100 a page)."""
    names: list[str] = []
    paginator = sagemaker.get_paginator("list_mlflow_tracking_servers")
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        names.extend(s["TrackingServerName"] for s in page.get("TrackingServerSummaries", []))
    return names


def list_apps(sagemaker: Any) -> list[str]:
    """ARNs of every MLflow App in the scope (paginated)."""
    arns: list[str] = []
    paginator = sagemaker.get_paginator("list_mlflow_apps")
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        arns.extend(a["Arn"] for a in page.get("Summaries", []))
    return arns


def _is_gone(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    if code == "ValidationException":  # SageMaker answers this for some missing names
        return "not found" in str(exc).lower() or "does not exist" in str(exc).lower()
    return code in GONE_CODES


def describe_tracking_server(
    sagemaker: Any, account_id: str, region: str, name: str
) -> Resource | None:
    """Describe one server; None when it was deleted since it was listed."""
    try:
        d = sagemaker.describe_mlflow_tracking_server(TrackingServerName=name)
    except ClientError as exc:
        if _is_gone(exc):
            return None
        raise
    verification = d.get("S3BucketOwnerVerification")
    return Resource(
        resource_type=TRACKING_SERVER,
        account_id=account_id,
        region=region,
        name=d.get("TrackingServerName", name),
        arn=d.get("TrackingServerArn", ""),
        artifact_store_uri=d.get("ArtifactStoreUri"),
        status=d.get("TrackingServerStatus"),
        s3_bucket_owner_verification=None if verification is None else bool(verification),
        s3_bucket_owner_account_id=d.get("S3BucketOwnerAccountId"),
    )


def describe_app(sagemaker: Any, account_id: str, region: str, arn: str) -> Resource | None:
    """Describe one MLflow App; None when it was deleted since it was listed."""
    try:
        d = sagemaker.describe_mlflow_app(Arn=arn)
    except ClientError as exc:
        if _is_gone(exc):
            return None
        raise
    return Resource(
        resource_type=MLFLOW_APP,
        account_id=account_id,
        region=region,
        name=d.get("Name", arn.rsplit("/", 1)[-1]),
        arn=d.get("Arn", arn),
        artifact_store_uri=d.get("ArtifactStoreUri"),
        status=d.get("Status"),
    )
