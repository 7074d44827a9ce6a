"""SageMaker's MLflow API on the wire: which requests the simulation answers, and how.

A request for an MLflow operation (or a tag operation on an MLflow ARN) is refused where the
region does not offer it, validated against the service model, run on the store, and
answered in the JSON protocol; every other SageMaker request goes on to moto.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import exceptions
from ..exceptions import Response
from . import apps, servers, tags
from .exceptions import ApiError
from .validation import validate

if TYPE_CHECKING:
    from ..request import SimRequest
    from ..state import SimState
    from .models import Operation

SERVER_OPS = frozenset(servers.OPERATIONS)
APP_OPS = frozenset(apps.OPERATIONS)
TAG_OPS = frozenset(tags.OPERATIONS)
_DISPATCH: dict[str, Operation] = {**servers.OPERATIONS, **apps.OPERATIONS, **tags.OPERATIONS}


def _ok(payload: dict[str, Any]) -> Response:
    rid = exceptions.request_id()
    return (
        200,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid},
        json.dumps(payload).encode(),
    )


def handle(state: SimState, req: SimRequest) -> Response | None:
    """Answer MLflow operations (and tag operations on MLflow ARNs); pass the rest to moto."""
    op = req.operation
    params = req.json()
    if op in TAG_OPS:
        if not any(k in str(params.get("ResourceArn", "")) for k in tags.ARN_TYPES):
            return None
    elif op not in SERVER_OPS and op not in APP_OPS:
        return None
    refused = not_offered(state, req.region, op)
    if refused is not None:
        return refused
    try:
        validate(op, params)
        payload = _DISPATCH[op](state.mlflow, req, params)
    except ApiError as e:
        return exceptions.error_response("sagemaker", e.code, e.message, e.status)
    return _ok(payload)


def not_offered(state: SimState, region: str, op: str) -> Response | None:
    """UnknownOperationException where the region does not offer ``op``'s MLflow kind.

    SageMaker answers an operation its regional endpoint does not offer with HTTP 400
    ``UnknownOperationException`` ("The requested operation is not supported in the
    called region."), the JSON protocol's unknown-operation error; Managed MLflow (and
    MLflow Apps separately) is offered in fewer regions than SageMaker: see "Amazon
    SageMaker AI endpoints and quotas"
    (https://docs.aws.amazon.com/general/latest/gr/sagemaker.html) and "Supported Regions"
    in the Managed MLflow guide
    (https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow.html).
    """
    kind = "server" if op in SERVER_OPS else "app" if op in APP_OPS else None
    if kind is None or region not in state.mlflow_not_offered[kind]:
        return None
    return exceptions.error_response(
        "sagemaker",
        "UnknownOperationException",
        "The requested operation is not supported in the called region.",
        400,
    )
