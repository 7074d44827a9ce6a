"""How SageMaker's List operations filter, sort and page, as data.

Each paged operation is one :class:`PageSpec`: the member its items go to and the page
size when ``MaxResults`` is absent. AWS documents only the bounds (SageMaker API Reference,
e.g. https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListMlflowTrackingServers.html:
1-100 for the MLflow lists; at least 50 for ListTags), so the defaults are the largest
MLflow page and the smallest tags page. ``NextToken`` is opaque to callers, here a base64
offset.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from .exceptions import invalid


@dataclass(frozen=True)
class PageSpec:
    result_key: str
    limit_default: int


PAGINATION_MODEL = {
    "ListMlflowTrackingServers": PageSpec("TrackingServerSummaries", 100),
    "ListMlflowApps": PageSpec("Summaries", 100),
    "ListTags": PageSpec("Tags", 50),
}


class Listed(Protocol):
    """What a List call filters and sorts on (a tracking server or an MLflow App)."""

    name: str
    status: str
    creation_time: float
    mlflow_version: str


L = TypeVar("L", bound=Listed)
T = TypeVar("T")


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except (ValueError, KeyError, TypeError):
        raise invalid("Invalid pagination token.") from None


def _encode_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def select(items: list[L], p: dict[str, Any], status_key: str) -> list[L]:
    """Filter and sort the way ListMlflowTrackingServers/ListMlflowApps do (by CreationTime,
    Descending, unless SortBy/SortOrder say otherwise)."""
    if p.get(status_key):
        items = [i for i in items if i.status == p[status_key]]
    if p.get("CreatedAfter") is not None:
        items = [i for i in items if i.creation_time > _ts(p["CreatedAfter"])]
    if p.get("CreatedBefore") is not None:
        items = [i for i in items if i.creation_time < _ts(p["CreatedBefore"])]
    if p.get("MlflowVersion"):
        items = [i for i in items if i.mlflow_version == p["MlflowVersion"]]
    sort_by = p.get("SortBy", "CreationTime")
    key: Callable[[L], Any] = {"Name": lambda i: i.name, "Status": lambda i: i.status}.get(
        sort_by, lambda i: i.creation_time
    )
    return sorted(items, key=key, reverse=p.get("SortOrder", "Descending") == "Descending")


def paginate(
    operation: str,
    items: Sequence[T],
    p: dict[str, Any],
    render: Callable[[T], Any] = lambda item: item,
) -> dict[str, Any]:
    """One page of ``items`` under the operation's result key, plus ``NextToken`` when more
    follow (``MaxResults`` per page, the operation's default when absent)."""
    spec = PAGINATION_MODEL[operation]
    start = _decode_token(p.get("NextToken"))
    size = p.get("MaxResults", spec.limit_default)
    out: dict[str, Any] = {spec.result_key: [render(i) for i in items[start : start + size]]}
    if start + size < len(items):
        out["NextToken"] = _encode_token(start + size)
    return out
