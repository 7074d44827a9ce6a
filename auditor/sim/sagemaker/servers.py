"""The tracking-server operations (Create/Describe/List/Update/Delete/Start/Stop and the
presigned URL) on the store, each answering its output in the model's member names."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ..identity import caller_arn
from .exceptions import ApiError, conflict, in_use, not_found
from .models import UNSTABLE, MlflowStore, TrackingServer
from .pagination import paginate, select

if TYPE_CHECKING:
    from ..request import SimRequest
    from .models import Operation


def _scope(store: MlflowStore, req: SimRequest) -> dict[str, TrackingServer]:
    return store.server_scope(req.account_id, req.region)


def _missing(name: str) -> ApiError:
    return not_found(f"Tracking server with name {name} does not exist.")


def _get(store: MlflowStore, req: SimRequest, name: str) -> TrackingServer:
    server = _scope(store, req).get(name)
    if server is None:
        raise _missing(name)
    return server


def _conflict(server: TrackingServer, action: str) -> ApiError:
    return conflict(
        f"Cannot {action} tracking server {server.name} while its status is {server.status}."
    )


def create(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        scope = _scope(store, req)
        name = p["TrackingServerName"]
        if name in scope:
            raise in_use(f"Tracking server with name {name} already exists.")
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


def describe(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get(store, req, p["TrackingServerName"])
        store.observe(server)
        if server.status == "Deleted":
            _scope(store, req).pop(server.name, None)
            raise _missing(server.name)
        return server.describe()


def list_servers(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        scope = _scope(store, req)
        for server in list(scope.values()):
            store.observe(server)
            if server.status == "Deleted":
                scope.pop(server.name)
        servers = select(list(scope.values()), p, "TrackingServerStatus")
        return paginate("ListMlflowTrackingServers", servers, p, TrackingServer.summary)


def update(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get(store, req, p["TrackingServerName"])
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


def delete(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get(store, req, p["TrackingServerName"])
        if server.status in UNSTABLE:
            raise _conflict(server, "delete")
        store.begin(server, "Deleting")
        if server.status == "Deleted":
            _scope(store, req).pop(server.name, None)
            store.tags.pop(server.arn, None)
        return {"TrackingServerArn": server.arn}


def stop(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get(store, req, p["TrackingServerName"])
        if server.status in UNSTABLE or server.status in ("Stopped", "CreateFailed"):
            raise _conflict(server, "stop")
        store.begin(server, "Stopping")
        return {"TrackingServerArn": server.arn}


def start(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get(store, req, p["TrackingServerName"])
        if server.status not in ("Stopped", "StopFailed", "StartFailed"):
            raise _conflict(server, "start")
        store.begin(server, "Starting")
        return {"TrackingServerArn": server.arn}


def presigned_url(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        server = _get(store, req, p["TrackingServerName"])
        return {"AuthorizedUrl": f"{server.url}/auth?authToken=simulated"}


OPERATIONS: dict[str, Operation] = {
    "CreateMlflowTrackingServer": create,
    "DescribeMlflowTrackingServer": describe,
    "ListMlflowTrackingServers": list_servers,
    "UpdateMlflowTrackingServer": update,
    "DeleteMlflowTrackingServer": delete,
    "StartMlflowTrackingServer": start,
    "StopMlflowTrackingServer": stop,
    "CreatePresignedMlflowTrackingServerUrl": presigned_url,
}
