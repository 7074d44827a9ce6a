"""The MLflow App operations (Create/Describe/List/Update/Delete) on the store, each
answering its output in the model's member names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..identity import caller_arn
from .exceptions import ApiError, conflict, in_use, not_found
from .models import UNSTABLE, MlflowApp, MlflowStore
from .pagination import paginate, select

if TYPE_CHECKING:
    from ..request import SimRequest
    from .models import Operation


def _scope(store: MlflowStore, req: SimRequest) -> dict[str, MlflowApp]:
    return store.app_scope(req.account_id, req.region)


def _get(store: MlflowStore, req: SimRequest, arn: str) -> MlflowApp:
    app_id = arn.rsplit("/", 1)[-1]
    app = _scope(store, req).get(app_id)
    if app is None or app.arn != arn:
        raise not_found(f"MLflow App {arn} does not exist.")
    return app


def _conflict(app: MlflowApp, action: str) -> ApiError:
    return conflict(f"Cannot {action} MLflow App {app.arn} while its status is {app.status}.")


def create(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        scope = _scope(store, req)
        if any(a.name == p["Name"] for a in scope.values()):
            raise in_use(f"MLflow App with name {p['Name']} already exists.")
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


def describe(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        app = _get(store, req, p["Arn"])
        store.observe(app)
        return app.describe()


def list_apps(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        apps = list(_scope(store, req).values())
        for app in apps:
            store.observe(app)
        if p.get("AccountDefaultStatus"):
            apps = [a for a in apps if a.account_default_status == p["AccountDefaultStatus"]]
        if p.get("DefaultForDomainId"):
            apps = [a for a in apps if p["DefaultForDomainId"] in a.default_domain_ids]
        return paginate("ListMlflowApps", select(apps, p, "Status"), p, MlflowApp.summary)


_UPDATABLE = (
    ("Name", "name"),
    ("ArtifactStoreUri", "artifact_store_uri"),
    ("ModelRegistrationMode", "model_registration_mode"),
    ("WeeklyMaintenanceWindowStart", "weekly_maintenance_window_start"),
    ("AccountDefaultStatus", "account_default_status"),
)


def update(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        app = _get(store, req, p["Arn"])
        if app.status in UNSTABLE:
            raise _conflict(app, "update")
        for key, attr in _UPDATABLE:
            if key in p:
                setattr(app, attr, p[key])
        if "DefaultDomainIdList" in p:
            app.default_domain_ids = list(p["DefaultDomainIdList"])
        app.last_modified_time = store.now()
        store.begin(app, "Updating")
        return {"Arn": app.arn}


def delete(store: MlflowStore, req: SimRequest, p: dict[str, Any]) -> dict[str, Any]:
    with store.lock:
        app = _get(store, req, p["Arn"])
        if app.status in UNSTABLE:
            raise _conflict(app, "delete")
        _scope(store, req).pop(app.app_id)
        store.tags.pop(app.arn, None)
        return {"Arn": app.arn}


OPERATIONS: dict[str, Operation] = {
    "CreateMlflowApp": create,
    "DescribeMlflowApp": describe,
    "ListMlflowApps": list_apps,
    "UpdateMlflowApp": update,
    "DeleteMlflowApp": delete,
}
