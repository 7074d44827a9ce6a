"""The simulated MLflow resources and their store: tracking servers, MLflow Apps, tags.

Each record renders itself in the model's member names (``describe``, ``summary``), the
way moto's models carry their own ``to_dict``.

Status transitions: AWS moves Creating -> Created, Updating -> Updated, Stopping -> Stopped,
Starting -> Started, Deleting -> gone asynchronously. The simulation completes them after
``MlflowStore.transition_reads`` Describe/List observations (default 0: instantly), and any
status can be forced with :meth:`MlflowStore.set_status`.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .validation import service_model

if TYPE_CHECKING:
    from ..request import SimRequest

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


def _activity(status: str) -> str:
    return "Inactive" if status in INACTIVE else "Active"


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

    @property
    def url(self) -> str:
        return f"https://{self.url_id}.{self.region}.experiments.sagemaker.aws"

    def describe(self) -> dict[str, Any]:
        """DescribeMlflowTrackingServer's answer; a legacy server omits the ownership fields."""
        out: dict[str, Any] = {
            "TrackingServerArn": self.arn,
            "TrackingServerName": self.name,
            "ArtifactStoreUri": self.artifact_store_uri,
            "TrackingServerSize": self.size,
            "MlflowVersion": self.mlflow_version,
            "RoleArn": self.role_arn,
            "TrackingServerStatus": self.status,
            "IsActive": _activity(self.status),
            "TrackingServerUrl": self.url,
            "WeeklyMaintenanceWindowStart": self.weekly_maintenance_window_start,
            "AutomaticModelRegistration": self.automatic_model_registration,
            "CreationTime": self.creation_time,
            "CreatedBy": _user_context(self.created_by),
            "LastModifiedTime": self.last_modified_time,
            "LastModifiedBy": _user_context(self.created_by),
        }
        if self.status.startswith("Maintenance"):
            out["TrackingServerMaintenanceStatus"] = self.status
        if self.owner_verification is not None:
            out["S3BucketOwnerVerification"] = self.owner_verification
        if self.owner_account_id is not None:
            out["S3BucketOwnerAccountId"] = self.owner_account_id
        return out

    def summary(self) -> dict[str, Any]:
        """One ``TrackingServerSummaries`` entry of ListMlflowTrackingServers."""
        return {
            "TrackingServerArn": self.arn,
            "TrackingServerName": self.name,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "TrackingServerStatus": self.status,
            "IsActive": _activity(self.status),
            "MlflowVersion": self.mlflow_version,
        }


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

    def describe(self) -> dict[str, Any]:
        """DescribeMlflowApp's answer."""
        out: dict[str, Any] = {
            "Arn": self.arn,
            "Name": self.name,
            "ArtifactStoreUri": self.artifact_store_uri,
            "MlflowVersion": self.mlflow_version,
            "RoleArn": self.role_arn,
            "Status": self.status,
            "ModelRegistrationMode": self.model_registration_mode,
            "AccountDefaultStatus": self.account_default_status,
            "DefaultDomainIdList": list(self.default_domain_ids),
            "CreationTime": self.creation_time,
            "CreatedBy": _user_context(self.created_by),
            "LastModifiedTime": self.last_modified_time,
            "LastModifiedBy": _user_context(self.created_by),
        }
        if self.kms_key_id:
            out["KmsKeyId"] = self.kms_key_id
        if self.weekly_maintenance_window_start:
            out["WeeklyMaintenanceWindowStart"] = self.weekly_maintenance_window_start
        return out

    def summary(self) -> dict[str, Any]:
        """One ``Summaries`` entry of ListMlflowApps."""
        return {
            "Arn": self.arn,
            "Name": self.name,
            "Status": self.status,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "MlflowVersion": self.mlflow_version,
        }


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
        if status not in service_model().shape_for("TrackingServerStatus").enum:
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

    def server_scope(self, account_id: str, region: str) -> dict[str, TrackingServer]:
        """The tracking servers of one account and region, by name."""
        return self.servers.setdefault((account_id, region), {})

    def app_scope(self, account_id: str, region: str) -> dict[str, MlflowApp]:
        """The MLflow Apps of one account and region, by app id."""
        return self.apps.setdefault((account_id, region), {})


# One operation: the store, the request (whose account and region scope it) and the input
# members in, the output members out.
Operation = Callable[[MlflowStore, "SimRequest", dict[str, Any]], dict[str, Any]]
