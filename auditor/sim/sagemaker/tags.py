"""AddTags, ListTags and DeleteTags on MLflow resources (tracking servers and Apps).

SageMaker's tag operations cover every SageMaker resource; the simulation answers them only
for MLflow ARNs (``responses.handle`` leaves the rest to moto).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import invalid
from .models import MlflowStore
from .pagination import paginate

if TYPE_CHECKING:
    from ..request import SimRequest
    from .models import Operation

# What an MLflow ARN contains after its account: the resource types this module tags.
ARN_TYPES = (":mlflow-tracking-server/", ":mlflow-app/")


def _exists(store: MlflowStore, req: SimRequest, arn: str) -> bool:
    for server in store.server_scope(req.account_id, req.region).values():
        if server.arn == arn:
            return True
    return any(a.arn == arn for a in store.app_scope(req.account_id, req.region).values())


def add(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        arn = p["ResourceArn"]
        if not _exists(store, req, arn):
            raise invalid(f"Resource {arn} does not exist.")
        tags = store.tags.setdefault(arn, {})
        for t in p.get("Tags", []):
            tags[t["Key"]] = t.get("Value", "")
        return {"Tags": p.get("Tags", [])}


def list_tags(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        arn = p["ResourceArn"]
        if not _exists(store, req, arn):
            raise invalid(f"Resource {arn} does not exist.")
        items = [{"Key": k, "Value": v} for k, v in store.tags.get(arn, {}).items()]
        return paginate("ListTags", items, p)


def delete(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        tags = store.tags.get(p["ResourceArn"], {})
        for key in p.get("TagKeys", []):
            tags.pop(key, None)
        return {}


OPERATIONS: dict[str, Operation] = {
    "AddTags": add,
    "ListTags": list_tags,
    "DeleteTags": delete,
}
