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
# What SageMaker answers for an operation its regional endpoint does not offer (Managed
# MLflow is offered in fewer regions than SageMaker): coverage, never an error.
NOT_OFFERED_CODES = frozenset({"UnknownOperationException"})


class IncompleteResponse(Exception):
    """A Describe answer without what the API model guarantees (ARN, name, URI)."""

    code = "IncompleteResponse"


def not_offered(exc: BaseException) -> bool:
    """True when the error says the region does not offer the operation at all."""
    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code") in NOT_OFFERED_CODES


def list_tracking_servers(sagemaker: Any) -> list[tuple[str, str | None]]:
    """(name, ARN) of every tracking server in the scope (paginated, 100 a page)."""
    found: list[tuple[str, str | None]] = []
    paginator = sagemaker.get_paginator("list_mlflow_tracking_servers")
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        for s in page.get("TrackingServerSummaries", []):
            found.append((s["TrackingServerName"], s.get("TrackingServerArn")))
    return found


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


def _require(answer: dict[str, Any], fields: tuple[str, ...], ident: str) -> None:
    """A verdict needs the resource's identity and URI: an answer without them (a truncated
    or unparsable body parses to a dict without them) is an error, never a FAIL."""
    missing = [f for f in fields if not isinstance(answer.get(f), str) or not answer[f]]
    if missing:
        raise IncompleteResponse(f"{ident}: the Describe answer lacks {', '.join(missing)}")


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
    _require(d, ("TrackingServerArn", "TrackingServerName", "ArtifactStoreUri"), name)
    verification = d.get("S3BucketOwnerVerification")
    return Resource(
        resource_type=TRACKING_SERVER,
        account_id=account_id,
        region=region,
        name=d["TrackingServerName"],
        arn=d["TrackingServerArn"],
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
    _require(d, ("Arn", "Name", "ArtifactStoreUri"), arn)
    return Resource(
        resource_type=MLFLOW_APP,
        account_id=account_id,
        region=region,
        name=d["Name"],
        arn=d["Arn"],
        artifact_store_uri=d.get("ArtifactStoreUri"),
        status=d.get("Status"),
    )
