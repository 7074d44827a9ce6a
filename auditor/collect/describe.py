"""List and Describe the resources of one kind (``auditor.core.kinds``) in one scope.

``List*`` calls do not return the ownership fields, so every resource is described.
Listing and describing are separate steps so the scheduler can describe resources of
many scopes concurrently instead of one scope at a time.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from auditor.core.kinds import MLFLOW_APP_KIND, TRACKING_SERVER_KIND, ResourceKind
from auditor.core.model import Resource

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


def list_resources(client: Any, kind: ResourceKind) -> list[tuple[str, str | None]]:
    """(identifier for Describe, ARN if listed) of every resource of ``kind`` in the scope
    (paginated, 100 a page); ``client`` is of the kind's service."""
    found: list[tuple[str, str | None]] = []
    paginator = client.get_paginator(kind.method(kind.list_api))
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        for summary in page.get(kind.list_key, []):
            found.append((summary[kind.list_id_field], summary.get(kind.list_arn_field)))
    return found


def _is_gone(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    if code == "ValidationException":  # SageMaker answers this for some missing names
        return "not found" in str(exc).lower() or "does not exist" in str(exc).lower()
    return code in GONE_CODES


def _require(kind: ResourceKind, answer: dict[str, Any], ident: str) -> dict[str, str]:
    """A verdict needs the resource's identity and URI: an answer without them (a truncated
    or unparsable body parses to a dict without them) is an error, never a FAIL."""
    fields = (kind.arn_field, kind.name_field, kind.uri_field)
    values = {f: kind.value(answer, f) for f in fields}
    missing = [f for f, v in values.items() if not isinstance(v, str) or not v]
    if missing:
        raise IncompleteResponse(f"{ident}: the Describe answer lacks {', '.join(missing)}")
    return values


def describe_resource(
    client: Any, kind: ResourceKind, account_id: str, region: str, ident: str
) -> Resource | None:
    """Describe one resource; None when it was deleted since it was listed."""
    try:
        d = getattr(client, kind.method(kind.describe_api))(**{kind.describe_param: ident})
    except ClientError as exc:
        if _is_gone(exc):
            return None
        raise
    values = _require(kind, d, ident)
    verification = kind.value(d, kind.verification_field)
    owner = kind.value(d, kind.owner_field)
    status = kind.value(d, kind.status_field)
    return Resource(
        resource_type=kind.name,
        account_id=account_id,
        region=region,
        name=values[kind.name_field],
        arn=values[kind.arn_field],
        artifact_store_uri=values[kind.uri_field],
        status=status if isinstance(status, str) else None,
        s3_bucket_owner_verification=None if verification is None else bool(verification),
        s3_bucket_owner_account_id=owner if isinstance(owner, str) else None,
    )


def describe_tracking_server(
    sagemaker: Any, account_id: str, region: str, name: str
) -> Resource | None:
    return describe_resource(sagemaker, TRACKING_SERVER_KIND, account_id, region, name)


def describe_app(sagemaker: Any, account_id: str, region: str, arn: str) -> Resource | None:
    return describe_resource(sagemaker, MLFLOW_APP_KIND, account_id, region, arn)
