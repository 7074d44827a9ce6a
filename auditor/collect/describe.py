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


def list_resources(client: Any, kind: ResourceKind) -> list[tuple[str, str | None]]:
    """(identifier for Describe, ARN if listed) of every resource of ``kind`` in the scope
    (paginated, 100 a page); ``client`` is of the kind's service."""
    found: list[tuple[str, str | None]] = []
    paginator = client.get_paginator(kind.method(kind.list_api))
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        for summary in page.get(kind.list_key, []):
            found.append((summary[kind.list_id_field], summary.get(kind.list_arn_field)))
    return found


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
        if gone(exc):  # deleted between List and Describe: gone, not an error
            return None
        raise
    values = _require(kind, d, ident)
    verification = kind.value(d, kind.verification_field)
    owner = kind.value(d, kind.owner_field)
    status = kind.value(d, kind.status_field)
    role = kind.value(d, kind.role_field)
    registers = kind.value(d, kind.model_registration_field)
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
        role_arn=role if isinstance(role, str) and role else None,
        automatic_model_registration=registers if isinstance(registers, bool) else None,
    )


def describe_tracking_server(
    sagemaker: Any, account_id: str, region: str, name: str
) -> Resource | None:
    return describe_resource(sagemaker, TRACKING_SERVER_KIND, account_id, region, name)


def describe_app(sagemaker: Any, account_id: str, region: str, arn: str) -> Resource | None:
    return describe_resource(sagemaker, MLFLOW_APP_KIND, account_id, region, arn)
