"""List and Describe the resources of one kind (``auditor.core.kinds``) in one scope.

``List*`` calls do not return the ownership fields, so every resource is described.
Listing and describing are separate steps so the scheduler can describe resources of
many scopes concurrently instead of one scope at a time.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from auditor.aws.classify import gone
from auditor.aws.classify import not_offered as not_offered  # what the stage asks
from auditor.core.kinds import MLFLOW_APP_KIND, TRACKING_SERVER_KIND, ResourceKind
from auditor.core.model import Resource


class IncompleteResponse(Exception):
    """A Describe answer without what the API model guarantees (ARN, name, URI)."""

    code = "IncompleteResponse"


def list_resources(sagemaker: Any, kind: ResourceKind) -> list[tuple[str, str | None]]:
    """(identifier for Describe, ARN if listed) of every resource of ``kind`` in the scope
    (paginated, 100 a page)."""
    found: list[tuple[str, str | None]] = []
    paginator = sagemaker.get_paginator(kind.method(kind.list_api))
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        for summary in page.get(kind.list_key, []):
            found.append((summary[kind.list_id_field], summary.get(kind.list_arn_field)))
    return found


def _require(answer: dict[str, Any], fields: tuple[str, ...], ident: str) -> None:
    """A verdict needs the resource's identity and URI: an answer without them (a truncated
    or unparsable body parses to a dict without them) is an error, never a FAIL."""
    missing = [f for f in fields if not isinstance(answer.get(f), str) or not answer[f]]
    if missing:
        raise IncompleteResponse(f"{ident}: the Describe answer lacks {', '.join(missing)}")


def describe_resource(
    sagemaker: Any, kind: ResourceKind, account_id: str, region: str, ident: str
) -> Resource | None:
    """Describe one resource; None when it was deleted since it was listed."""
    try:
        d = getattr(sagemaker, kind.method(kind.describe_api))(**{kind.describe_param: ident})
    except ClientError as exc:
        if gone(exc):  # deleted between List and Describe: gone, not an error
            return None
        raise
    _require(d, (kind.arn_field, kind.name_field, kind.uri_field), ident)
    verification = d.get(kind.verification_field) if kind.verification_field else None
    return Resource(
        resource_type=kind.name,
        account_id=account_id,
        region=region,
        name=d[kind.name_field],
        arn=d[kind.arn_field],
        artifact_store_uri=d.get(kind.uri_field),
        status=d.get(kind.status_field),
        s3_bucket_owner_verification=None if verification is None else bool(verification),
        s3_bucket_owner_account_id=d.get(kind.owner_field) if kind.owner_field else None,
    )


def describe_tracking_server(
    sagemaker: Any, account_id: str, region: str, name: str
) -> Resource | None:
    return describe_resource(sagemaker, TRACKING_SERVER_KIND, account_id, region, name)


def describe_app(sagemaker: Any, account_id: str, region: str, arn: str) -> Resource | None:
    return describe_resource(sagemaker, MLFLOW_APP_KIND, account_id, region, arn)
