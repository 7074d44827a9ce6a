"""SageMaker Managed MLflow (tracking servers and MLflow Apps), which moto lacks.

Input is validated against botocore's service model (required members, string length,
``pattern``, ``enum``, integer range), the way SageMaker's front end rejects bad input with
``ValidationException``. Outputs use the model's member names.

Status transitions: AWS moves Creating -> Created, Updating -> Updated, Stopping -> Stopped,
Starting -> Started, Deleting -> gone asynchronously. The simulation completes them after
``MlflowStore.transition_reads`` Describe/List observations (default 0: instantly), and any
status can be forced with :meth:`MlflowStore.set_status`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import botocore.session

from . import exceptions
from .exceptions import Response
from .identity import caller_arn

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape

    from .request import SimRequest
    from .state import SimState

UNSTABLE = frozenset(
    {"Creating", "Updating", "Deleting", "Starting", "Stopping", "MaintenanceInProgress"}
)
INACTIVE = frozenset(
    {"Stopped", "Stopping", "StopFailed", "Creating", "CreateFailed", "Deleting", "Starting"}
)
_FINAL = {
    "Creating": "Created",
    "Updating": "Updated",
    "Stopping": "Stopped",
    "Starting": "Started",
    "Deleting": "Deleted",
    "MaintenanceInProgress": "MaintenanceComplete",
}
SERVER_OPS = frozenset(
    {
        "CreateMlflowTrackingServer",
        "DescribeMlflowTrackingServer",
        "ListMlflowTrackingServers",
        "UpdateMlflowTrackingServer",
        "DeleteMlflowTrackingServer",
        "StartMlflowTrackingServer",
        "StopMlflowTrackingServer",
        "CreatePresignedMlflowTrackingServerUrl",
    }
)
APP_OPS = frozenset(
    {"CreateMlflowApp", "DescribeMlflowApp", "ListMlflowApps", "UpdateMlflowApp", "DeleteMlflowApp"}
)
TAG_OPS = frozenset({"AddTags", "ListTags", "DeleteTags"})
_ARN_KINDS = (":mlflow-tracking-server/", ":mlflow-app/")


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# ----------------------------------------------------------------------- model validation


@lru_cache(maxsize=1)
def _model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


def _op(name: str) -> OperationModel:
    return _model().operation_model(name)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _validate_shape(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    """Append to ``problems`` every constraint ``value`` breaks (one validator per type)."""
    validator = _VALIDATORS.get(shape.type_name)
    if validator is not None:
        validator(shape, value, path, problems)


def _shown(value: Any) -> str:
    return json.dumps(value)[:200] if not isinstance(value, str) else value


def _validate_structure(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"Value at '{path}' failed to satisfy constraint: must be a structure")
        return
    for req in shape.required_members:
        if value.get(req) is None:
            problems.append(
                f"Value null at '{_join(path, req)}' failed to satisfy "
                "constraint: Member must not be null"
            )
    for key, member in shape.members.items():
        if key in value and value[key] is not None:
            _validate_shape(member, value[key], _join(path, key), problems)


def _validate_string(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    shown = _shown(value)
    if not isinstance(value, str):
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must be a string"
        )
        return
    if "min" in meta and len(value) < meta["min"]:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must have length greater than or equal to {meta['min']}"
        )
    if "max" in meta and len(value) > meta["max"]:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must have length less than or equal to {meta['max']}"
        )
    if "pattern" in meta and not pattern_matches(meta["pattern"], value):
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must satisfy regular expression pattern: {meta['pattern']}"
        )
    if shape.enum and value not in shape.enum:
        problems.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member "
            f"must satisfy enum value set: [{', '.join(shape.enum)}]"
        )


def _validate_integer(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(
            f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
            "Member must be an integer"
        )
        return
    if "min" in meta and value < meta["min"]:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member "
            f"must have value greater than or equal to {meta['min']}"
        )
    if "max" in meta and value > meta["max"]:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member "
            f"must have value less than or equal to {meta['max']}"
        )


def _validate_boolean(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(
            f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
            "Member must be a boolean"
        )


def _validate_list(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if not isinstance(value, list):
        problems.append(f"Value at '{path}' failed to satisfy constraint: must be a list")
        return
    if "max" in meta and len(value) > meta["max"]:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: Member must have "
            f"length less than or equal to {meta['max']}"
        )
    for i, item in enumerate(value):
        _validate_shape(shape.member, item, f"{path}.{i + 1}", problems)


# Shape types not listed (map, timestamp, blob, ...) are not checked.
_VALIDATORS = {
    "structure": _validate_structure,
    "string": _validate_string,
    "integer": _validate_integer,
    "long": _validate_integer,
    "boolean": _validate_boolean,
    "list": _validate_list,
}


_UNICODE_CLASS = re.compile(r"^\(?\[((?:\\p\{[LZN]\})+)(.*)\]\*\)?$")


@lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    """Compile a Smithy pattern; ``[\\p{L}\\p{Z}\\p{N}...]*`` becomes a per-character test."""
    m = _UNICODE_CLASS.match(pattern)
    if m:
        cats = tuple(re.findall(r"\\p\{([LZN])\}", m.group(1)))
        literals = set(re.sub(r"\\(.)", r"\1", m.group(2)))
        return cats, literals
    return re.compile(pattern, re.DOTALL)


def pattern_matches(pattern: str, value: str) -> bool:
    compiled = _compile(pattern)
    if isinstance(compiled, tuple):
        cats, literals = compiled
        return all(ch in literals or unicodedata.category(ch)[0] in cats for ch in value)
    return compiled.fullmatch(value) is not None


def _join(path: str, key: str) -> str:
    return f"{path}.{_lower_first(key)}" if path else _lower_first(key)


def validate(operation: str, params: dict[str, Any]) -> None:
    """Raise ValidationException the way SageMaker does for input the model forbids."""
    shape = _op(operation).input_shape
    problems: list[str] = []
    if shape is not None:
        _validate_shape(shape, params, "", problems)
    if problems:
        n = len(problems)
        raise ApiError(
            "ValidationException",
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems),
        )


# ----------------------------------------------------------------------------- the store


@dataclass
class TrackingServer:
    account_id: str
    region: str
    name: str
    artifact_store_uri: str
    role_arn: str
    size: str
    mlflow_version: str
    automatic_model_registration: bool
    weekly_maintenance_window_start: str
    owner_verification: bool | None
    owner_account_id: str | None
    created_by: str
    creation_time: float
    last_modified_time: float
    status: str = "Created"
    pending: str | None = None  # status reached after `reads_left` observations
    reads_left: int = 0
    url_id: str = ""

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:sagemaker:{self.region}:{self.account_id}:mlflow-tracking-server/{self.name}"
        )


@dataclass
class MlflowApp:
    account_id: str
    region: str
    app_id: str
    name: str
    artifact_store_uri: str
    role_arn: str
    kms_key_id: str | None
    mlflow_version: str
    model_registration_mode: str
    account_default_status: str
    default_domain_ids: list[str]
    weekly_maintenance_window_start: str | None
    created_by: str
    creation_time: float
    last_modified_time: float
    status: str = "Created"
    pending: str | None = None
    reads_left: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:mlflow-app/{self.app_id}"


@dataclass
class MlflowStore:
    """Tracking servers and apps per (account, region), plus their tags (thread-safe)."""

    servers: dict[tuple[str, str], dict[str, TrackingServer]] = field(default_factory=dict)
    apps: dict[tuple[str, str], dict[str, MlflowApp]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    transition_reads: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    _clock: float = 0.0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        with self.lock:
            self.servers.clear()
            self.apps.clear()
            self.tags.clear()
            self.transition_reads = 0
            self._ids = itertools.count(1)

    def now(self) -> float:
        """Strictly increasing wall-clock timestamps, so CreationTime sorts are stable."""
        with self.lock:
            self._clock = max(time.time(), self._clock + 0.001)
            return round(self._clock, 3)

    def begin(self, obj: TrackingServer | MlflowApp, transitional: str) -> None:
        """Enter a transitional status; complete it now or after `transition_reads` reads."""
        final = _FINAL[transitional]
        if self.transition_reads <= 0:
            obj.status, obj.pending, obj.reads_left = final, None, 0
        else:
            obj.status, obj.pending, obj.reads_left = transitional, final, self.transition_reads

    def observe(self, obj: TrackingServer | MlflowApp) -> None:
        if obj.pending is not None:
            obj.reads_left -= 1
            if obj.reads_left <= 0:
                obj.status, obj.pending = obj.pending, None

    def set_status(self, account_id: str, region: str, name: str, status: str) -> None:
        """Force a tracking server's status (e.g. keep it "Updating" to simulate a stuck one)."""
        if status not in _model().shape_for("TrackingServerStatus").enum:
            raise ValueError(f"not a TrackingServerStatus: {status}")
        with self.lock:
            server = self.servers.get((account_id, region), {}).get(name)
            if server is None:
                raise KeyError(f"no tracking server {name} in {account_id}/{region}")
            server.status, server.pending, server.reads_left = status, None, 0

    def mark_legacy(self, account_id: str, region: str, name: str) -> None:
        """Make a server look created before the ownership fields existed (Describe omits both)."""
        with self.lock:
            server = self.servers[(account_id, region)][name]
            server.owner_verification = None
            server.owner_account_id = None

    def next_app_id(self) -> str:
        with self.lock:
            n = next(self._ids)
        return "app-" + hashlib.sha256(f"{n}-{uuid.uuid4()}".encode()).hexdigest()[:12]


# ------------------------------------------------------------------------ serialisation


def _user_context(arn: str) -> dict[str, Any]:
    return {
        "IamIdentity": {
            "Arn": arn,
            "PrincipalId": hashlib.sha1(  # noqa: S324
                arn.encode()
            )
            .hexdigest()[:21]
            .upper(),
        }
    }


def describe_server(s: TrackingServer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TrackingServerArn": s.arn,
        "TrackingServerName": s.name,
        "ArtifactStoreUri": s.artifact_store_uri,
        "TrackingServerSize": s.size,
        "MlflowVersion": s.mlflow_version,
        "RoleArn": s.role_arn,
        "TrackingServerStatus": s.status,
        "IsActive": "Inactive" if s.status in INACTIVE else "Active",
        "TrackingServerUrl": f"https://{s.url_id}.{s.region}.experiments.sagemaker.aws",
        "WeeklyMaintenanceWindowStart": s.weekly_maintenance_window_start,
        "AutomaticModelRegistration": s.automatic_model_registration,
        "CreationTime": s.creation_time,
        "CreatedBy": _user_context(s.created_by),
        "LastModifiedTime": s.last_modified_time,
        "LastModifiedBy": _user_context(s.created_by),
    }
    if s.status.startswith("Maintenance"):
        out["TrackingServerMaintenanceStatus"] = s.status
    if s.owner_verification is not None:
        out["S3BucketOwnerVerification"] = s.owner_verification
    if s.owner_account_id is not None:
        out["S3BucketOwnerAccountId"] = s.owner_account_id
    return out


def summarise_server(s: TrackingServer) -> dict[str, Any]:
    return {
        "TrackingServerArn": s.arn,
        "TrackingServerName": s.name,
        "CreationTime": s.creation_time,
        "LastModifiedTime": s.last_modified_time,
        "TrackingServerStatus": s.status,
        "IsActive": "Inactive" if s.status in INACTIVE else "Active",
        "MlflowVersion": s.mlflow_version,
    }


def describe_app(a: MlflowApp) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Arn": a.arn,
        "Name": a.name,
        "ArtifactStoreUri": a.artifact_store_uri,
        "MlflowVersion": a.mlflow_version,
        "RoleArn": a.role_arn,
        "Status": a.status,
        "ModelRegistrationMode": a.model_registration_mode,
        "AccountDefaultStatus": a.account_default_status,
        "DefaultDomainIdList": list(a.default_domain_ids),
        "CreationTime": a.creation_time,
        "CreatedBy": _user_context(a.created_by),
        "LastModifiedTime": a.last_modified_time,
        "LastModifiedBy": _user_context(a.created_by),
    }
    if a.kms_key_id:
        out["KmsKeyId"] = a.kms_key_id
    if a.weekly_maintenance_window_start:
        out["WeeklyMaintenanceWindowStart"] = a.weekly_maintenance_window_start
    return out


def summarise_app(a: MlflowApp) -> dict[str, Any]:
    return {
        "Arn": a.arn,
        "Name": a.name,
        "Status": a.status,
        "CreationTime": a.creation_time,
        "LastModifiedTime": a.last_modified_time,
        "MlflowVersion": a.mlflow_version,
    }


def _ok(payload: dict[str, Any]) -> Response:
    rid = exceptions.request_id()
    return (
        200,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid},
        json.dumps(payload).encode(),
    )


# ------------------------------------------------------------------------------ handlers


def handle(state: SimState, req: SimRequest) -> Response | None:
    """Answer MLflow operations (and tag operations on MLflow ARNs); pass the rest to moto."""
    op = req.operation
    params = req.json()
    if op in TAG_OPS:
        if not any(k in str(params.get("ResourceArn", "")) for k in _ARN_KINDS):
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


def _scope(store: MlflowStore, req: SimRequest) -> dict[str, TrackingServer]:
    return store.servers.setdefault((req.account_id, req.region), {})


def _get_server(store: MlflowStore, req: SimRequest, name: str) -> TrackingServer:
    server = _scope(store, req).get(name)
    if server is None:
        raise ApiError("ResourceNotFound", f"Tracking server with name {name} does not exist.")
    return server


def _create_server(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        scope = _scope(store, req)
        name = p["TrackingServerName"]
        if name in scope:
            raise ApiError("ResourceInUse", f"Tracking server with name {name} already exists.")
        now = store.now()
        server = TrackingServer(
            account_id=req.account_id,
            region=req.region,
            name=name,
            artifact_store_uri=p["ArtifactStoreUri"],
            role_arn=p["RoleArn"],
            size=p.get("TrackingServerSize", "Small"),
            mlflow_version=p.get("MlflowVersion", "3.0"),
            automatic_model_registration=p.get("AutomaticModelRegistration", False),
            weekly_maintenance_window_start=p.get("WeeklyMaintenanceWindowStart", "Tue:03:30"),
            owner_verification=p.get("S3BucketOwnerVerification", True),
            owner_account_id=p.get("S3BucketOwnerAccountId"),
            created_by=caller_arn(req.access_key),
            creation_time=now,
            last_modified_time=now,
            url_id="t-"
            + hashlib.sha256(f"{req.account_id}{req.region}{name}".encode()).hexdigest()[:12],
        )
        store.begin(server, "Creating")
        scope[name] = server
        if p.get("Tags"):
            store.tags[server.arn] = {t["Key"]: t.get("Value", "") for t in p["Tags"]}
        return {"TrackingServerArn": server.arn}


def _describe_server(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get_server(store, req, p["TrackingServerName"])
        store.observe(server)
        if server.status == "Deleted":
            _scope(store, req).pop(server.name, None)
            raise ApiError(
                "ResourceNotFound", f"Tracking server with name {server.name} does not exist."
            )
        return describe_server(server)


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except (ValueError, KeyError, TypeError):
        raise ApiError("ValidationException", "Invalid pagination token.") from None


def _encode_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _page(items: list[Any], p: dict[str, Any], status_key: str) -> tuple[list[Any], str | None]:
    """Filter, sort and page a list the way SageMaker List* calls do (at most 100 a page)."""
    if p.get(status_key):
        items = [i for i in items if i.status == p[status_key]]
    if p.get("CreatedAfter") is not None:
        items = [i for i in items if i.creation_time > _ts(p["CreatedAfter"])]
    if p.get("CreatedBefore") is not None:
        items = [i for i in items if i.creation_time < _ts(p["CreatedBefore"])]
    if p.get("MlflowVersion"):
        items = [i for i in items if i.mlflow_version == p["MlflowVersion"]]
    sort_by = p.get("SortBy", "CreationTime")
    key = {"Name": lambda i: i.name, "Status": lambda i: i.status}.get(
        sort_by, lambda i: i.creation_time
    )
    items = sorted(items, key=key, reverse=p.get("SortOrder", "Descending") == "Descending")
    start = _decode_token(p.get("NextToken"))
    size = p.get("MaxResults", 100)
    page = items[start : start + size]
    token = _encode_token(start + size) if start + size < len(items) else None
    return page, token


def _list_servers(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        scope = _scope(store, req)
        for server in list(scope.values()):
            store.observe(server)
            if server.status == "Deleted":
                scope.pop(server.name)
        page, token = _page(list(scope.values()), p, "TrackingServerStatus")
        out: dict[str, Any] = {"TrackingServerSummaries": [summarise_server(s) for s in page]}
        if token:
            out["NextToken"] = token
        return out


def _conflict(server: TrackingServer, action: str) -> ApiError:
    return ApiError(
        "ConflictException",
        f"Cannot {action} tracking server {server.name} while its status is {server.status}.",
    )


def _update_server(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get_server(store, req, p["TrackingServerName"])
        if server.status in UNSTABLE:
            raise _conflict(server, "update")
        if "ArtifactStoreUri" in p:
            server.artifact_store_uri = p["ArtifactStoreUri"]
        if "TrackingServerSize" in p:
            server.size = p["TrackingServerSize"]
        if "AutomaticModelRegistration" in p:
            server.automatic_model_registration = p["AutomaticModelRegistration"]
        if "WeeklyMaintenanceWindowStart" in p:
            server.weekly_maintenance_window_start = p["WeeklyMaintenanceWindowStart"]
        if "S3BucketOwnerVerification" in p:
            server.owner_verification = p["S3BucketOwnerVerification"]
        elif server.owner_verification is None:
            server.owner_verification = True  # an updated legacy server adopts the default
        if "S3BucketOwnerAccountId" in p:
            server.owner_account_id = p["S3BucketOwnerAccountId"]
        server.last_modified_time = store.now()
        store.begin(server, "Updating")
        return {"TrackingServerArn": server.arn}


def _delete_server(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get_server(store, req, p["TrackingServerName"])
        if server.status in UNSTABLE:
            raise _conflict(server, "delete")
        store.begin(server, "Deleting")
        if server.status == "Deleted":
            _scope(store, req).pop(server.name, None)
            store.tags.pop(server.arn, None)
        return {"TrackingServerArn": server.arn}


def _stop_server(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get_server(store, req, p["TrackingServerName"])
        if server.status in UNSTABLE or server.status in ("Stopped", "CreateFailed"):
            raise _conflict(server, "stop")
        store.begin(server, "Stopping")
        return {"TrackingServerArn": server.arn}


def _start_server(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get_server(store, req, p["TrackingServerName"])
        if server.status not in ("Stopped", "StopFailed", "StartFailed"):
            raise _conflict(server, "start")
        store.begin(server, "Starting")
        return {"TrackingServerArn": server.arn}


def _presigned_url(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get_server(store, req, p["TrackingServerName"])
        url = describe_server(server)["TrackingServerUrl"]
        return {"AuthorizedUrl": f"{url}/auth?authToken=simulated"}


# ----------------------------------------------------------------------------- apps


def _app_scope(store: MlflowStore, req: SimRequest) -> dict[str, MlflowApp]:
    return store.apps.setdefault((req.account_id, req.region), {})


def _get_app(store: MlflowStore, req: SimRequest, arn: str) -> MlflowApp:
    app_id = arn.rsplit("/", 1)[-1]
    app = _app_scope(store, req).get(app_id)
    if app is None or app.arn != arn:
        raise ApiError("ResourceNotFound", f"MLflow App {arn} does not exist.")
    return app


def _create_app(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        scope = _app_scope(store, req)
        if any(a.name == p["Name"] for a in scope.values()):
            raise ApiError("ResourceInUse", f"MLflow App with name {p['Name']} already exists.")
        now = store.now()
        app = MlflowApp(
            account_id=req.account_id,
            region=req.region,
            app_id=store.next_app_id(),
            name=p["Name"],
            artifact_store_uri=p["ArtifactStoreUri"],
            role_arn=p["RoleArn"],
            kms_key_id=p.get("KmsKeyId"),
            mlflow_version="3.4",
            model_registration_mode=p.get("ModelRegistrationMode", "AutoModelRegistrationDisabled"),
            account_default_status=p.get("AccountDefaultStatus", "DISABLED"),
            default_domain_ids=list(p.get("DefaultDomainIdList", [])),
            weekly_maintenance_window_start=p.get("WeeklyMaintenanceWindowStart"),
            created_by=caller_arn(req.access_key),
            creation_time=now,
            last_modified_time=now,
        )
        store.begin(app, "Creating")
        scope[app.app_id] = app
        if p.get("Tags"):
            store.tags[app.arn] = {t["Key"]: t.get("Value", "") for t in p["Tags"]}
        return {"Arn": app.arn}


def _describe_app(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        app = _get_app(store, req, p["Arn"])
        store.observe(app)
        return describe_app(app)


def _list_apps(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        apps = list(_app_scope(store, req).values())
        for app in apps:
            store.observe(app)
        if p.get("AccountDefaultStatus"):
            apps = [a for a in apps if a.account_default_status == p["AccountDefaultStatus"]]
        if p.get("DefaultForDomainId"):
            apps = [a for a in apps if p["DefaultForDomainId"] in a.default_domain_ids]
        page, token = _page(apps, p, "Status")
        out: dict[str, Any] = {"Summaries": [summarise_app(a) for a in page]}
        if token:
            out["NextToken"] = token
        return out


def _update_app(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        app = _get_app(store, req, p["Arn"])
        if app.status in UNSTABLE:
            raise ApiError(
                "ConflictException",
                f"Cannot update MLflow App {app.arn} while its status is {app.status}.",
            )
        for key, attr in (
            ("Name", "name"),
            ("ArtifactStoreUri", "artifact_store_uri"),
            ("ModelRegistrationMode", "model_registration_mode"),
            ("WeeklyMaintenanceWindowStart", "weekly_maintenance_window_start"),
            ("AccountDefaultStatus", "account_default_status"),
        ):
            if key in p:
                setattr(app, attr, p[key])
        if "DefaultDomainIdList" in p:
            app.default_domain_ids = list(p["DefaultDomainIdList"])
        app.last_modified_time = store.now()
        store.begin(app, "Updating")
        return {"Arn": app.arn}


def _delete_app(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        app = _get_app(store, req, p["Arn"])
        if app.status in UNSTABLE:
            raise ApiError(
                "ConflictException",
                f"Cannot delete MLflow App {app.arn} while its status is {app.status}.",
            )
        _app_scope(store, req).pop(app.app_id)
        store.tags.pop(app.arn, None)
        return {"Arn": app.arn}


# ----------------------------------------------------------------------------- tags


def _resource_exists(store: MlflowStore, req: SimRequest, arn: str) -> bool:
    for server in _scope(store, req).values():
        if server.arn == arn:
            return True
    return any(a.arn == arn for a in _app_scope(store, req).values())


def _add_tags(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        arn = p["ResourceArn"]
        if not _resource_exists(store, req, arn):
            raise ApiError("ValidationException", f"Resource {arn} does not exist.")
        tags = store.tags.setdefault(arn, {})
        for t in p.get("Tags", []):
            tags[t["Key"]] = t.get("Value", "")
        return {"Tags": p.get("Tags", [])}


def _list_tags(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        arn = p["ResourceArn"]
        if not _resource_exists(store, req, arn):
            raise ApiError("ValidationException", f"Resource {arn} does not exist.")
        items = [{"Key": k, "Value": v} for k, v in store.tags.get(arn, {}).items()]
        start = _decode_token(p.get("NextToken"))
        size = p.get("MaxResults", 50)
        out: dict[str, Any] = {"Tags": items[start : start + size]}
        if start + size < len(items):
            out["NextToken"] = _encode_token(start + size)
        return out


def _delete_tags(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        tags = store.tags.get(p["ResourceArn"], {})
        for key in p.get("TagKeys", []):
            tags.pop(key, None)
        return {}


_DISPATCH = {
    "CreateMlflowTrackingServer": _create_server,
    "DescribeMlflowTrackingServer": _describe_server,
    "ListMlflowTrackingServers": _list_servers,
    "UpdateMlflowTrackingServer": _update_server,
    "DeleteMlflowTrackingServer": _delete_server,
    "StartMlflowTrackingServer": _start_server,
    "StopMlflowTrackingServer": _stop_server,
    "CreatePresignedMlflowTrackingServerUrl": _presigned_url,
    "CreateMlflowApp": _create_app,
    "DescribeMlflowApp": _describe_app,
    "ListMlflowApps": _list_apps,
    "UpdateMlflowApp": _update_app,
    "DeleteMlflowApp": _delete_app,
    "AddTags": _add_tags,
    "ListTags": _list_tags,
    "DeleteTags": _delete_tags,
}
