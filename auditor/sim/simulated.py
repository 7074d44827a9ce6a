"""The test-facing handle: sessions per account, faults, call records, direct helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.session

from .dispatch import count_calls
from .faults import Faults
from .identity import MANAGEMENT_ACCOUNT_ID
from .org import enabled_regions, set_account_status
from .patch import install
from .ratelimit import RateLimits
from .request import CallRecord
from .state import STATE

MLFLOW_KINDS = ("server", "app")

_loader_lock = threading.Lock()
_shared_loader: Any = None


def _botocore_session() -> botocore.session.Session:
    """A fresh botocore session sharing one model loader, so each new account's Session
    does not re-parse the service JSON models (that dominates test time otherwise)."""
    global _shared_loader
    session = botocore.session.get_session()
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _shared_loader)
    return session


def _make_session(endpoint_url: str | None, **kwargs: Any) -> boto3.Session:
    bs = _botocore_session()
    session = (
        _EndpointSession(endpoint_url, botocore_session=bs, **kwargs)
        if endpoint_url
        else boto3.Session(botocore_session=bs, **kwargs)
    )
    with _loader_lock:  # boto3 appends its data path to the shared loader every time
        paths = _shared_loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


class _EndpointSession(boto3.Session):
    """A boto3 Session whose clients default to the sim server's endpoint."""

    def __init__(self, endpoint_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sim_endpoint_url = endpoint_url

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self._sim_endpoint_url)
        return super().client(*args, **kwargs)

    def resource(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self._sim_endpoint_url)
        return super().resource(*args, **kwargs)


class SimulatedAWS:
    """Handle on the process-wide simulation (in-process, or a SimServer's endpoint)."""

    management_account_id = MANAGEMENT_ACCOUNT_ID

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url

    # -- identities
    def credentials_for(self, account_id: str) -> tuple[str, str]:
        """(access key id, secret) of an admin user in ``account_id``."""
        return STATE.credentials_for(str(account_id))

    def session_for(self, account_id: str, region: str = "us-east-1") -> boto3.Session:
        """A boto3 Session acting as an administrator of ``account_id``."""
        key, secret = self.credentials_for(account_id)
        return _make_session(
            self.endpoint_url,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name=region,
        )

    def session_from_credentials(
        self,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        region: str = "us-east-1",
    ) -> boto3.Session:
        """A Session from explicit (e.g. assumed-role) credentials, aimed at this simulation."""
        return _make_session(
            self.endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=region,
        )

    # -- faults and accounting
    @property
    def faults(self) -> Faults:
        return STATE.faults

    @property
    def rate_limits(self) -> RateLimits:
        """Token-bucket limits per (account, region, operation); see sim/ratelimit.py."""
        return STATE.rate_limits

    def set_rate_limit(
        self,
        operation: str,
        rate: float,
        burst: float,
        account_id: str | None = None,
        region: str | None = None,
    ) -> None:
        """Throttle ``operation`` ("sagemaker:DescribeMlflowTrackingServer", "s3:*") beyond
        ``rate`` requests a second (bucket of ``burst``), per account and region."""
        STATE.rate_limits.set(operation, rate, burst, account_id, region)

    def set_mlflow_not_offered(self, regions: list[str] | tuple[str, ...], kind: str) -> None:
        """Regions where SageMaker does not offer the MLflow operations of ``kind``
        ("server": tracking servers, "app": MLflow Apps): they answer 400
        UnknownOperationException."""
        if kind not in MLFLOW_KINDS:
            raise ValueError(f"kind must be one of {MLFLOW_KINDS}: {kind!r}")
        with STATE.lock:
            STATE.mlflow_not_offered[kind] = set(regions)

    def mlflow_not_offered(self, kind: str) -> list[str]:
        with STATE.lock:
            return sorted(STATE.mlflow_not_offered[kind])

    @property
    def calls(self) -> list[CallRecord]:
        with STATE.lock:
            return list(STATE.calls)

    def count(
        self,
        service: str | None = None,
        operation: str | None = None,
        account_id: str | None = None,
        region: str | None = None,
        status_code: int | None = None,
    ) -> int:
        """How many recorded requests match every given field."""
        return count_calls(
            self.calls,
            service=service,
            operation=operation,
            account_id=account_id,
            region=region,
            status_code=status_code,
        )

    def reset_calls(self) -> None:
        with STATE.lock:
            STATE.calls = []

    # -- things no AWS API can do
    def set_tracking_server_status(
        self, account_id: str, region: str, name: str, status: str
    ) -> None:
        """Force a tracking server's status, e.g. "Updating" for a stuck server."""
        STATE.mlflow.set_status(str(account_id), region, name, status)

    @property
    def transition_reads(self) -> int:
        """Describe/List observations before a transitional status completes (0: instantly)."""
        return STATE.mlflow.transition_reads

    @transition_reads.setter
    def transition_reads(self, value: int) -> None:
        STATE.mlflow.transition_reads = int(value)

    def set_enabled_regions(self, account_id: str, regions: list[str] | tuple[str, ...]) -> None:
        """What EC2 DescribeRegions (without AllRegions) answers for ``account_id``."""
        with STATE.lock:
            STATE.enabled_regions[str(account_id)] = list(regions)

    def enabled_regions(self, account_id: str) -> list[str]:
        return enabled_regions(STATE, str(account_id))

    def suspend_account(self, account_id: str) -> None:
        """Show an organization member as SUSPENDED in Organizations ListAccounts."""
        set_account_status(str(account_id), "SUSPENDED")

    def create_legacy_tracking_server(
        self,
        account_id: str,
        region: str,
        name: str,
        artifact_store_uri: str,
        role_arn: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Create a server as if made before 2026-03-05: Describe omits both ownership fields.

        Created through the API as the account's admin, then stripped of the two fields
        (no API can create a pre-feature server).
        """
        role_arn = role_arn or f"arn:aws:iam::{account_id}:role/MlflowTrackingServerRole"
        sm = self.session_for(account_id, region).client("sagemaker")
        arn = sm.create_mlflow_tracking_server(
            TrackingServerName=name, ArtifactStoreUri=artifact_store_uri, RoleArn=role_arn, **kwargs
        )["TrackingServerArn"]
        STATE.mlflow.mark_legacy(str(account_id), region, name)
        return str(arn)


@contextmanager
def simulated_aws() -> Iterator[SimulatedAWS]:
    """Start ``moto.mock_aws()``, install the sim patches, and start from empty sim state."""
    from moto import mock_aws

    install()
    with mock_aws():
        STATE.reset()
        try:
            yield SimulatedAWS()
        finally:
            STATE.reset()
