"""Everything the simulation keeps beside moto's backends (one state per process)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .faults import Faults
from .ratelimit import RateLimits
from .request import CallRecord

#: What else a reset clears: each service module that keeps state outside ``SimState``
#: (Security Hub's injected failures and rate, Config's tokens and evaluations) adds its
#: own ``reset`` when it is imported, so this module imports none of them.
RESET_HOOKS: list[Callable[[], None]] = []


class SimState:
    """Everything the simulation keeps beside moto's backends (one per process)."""

    def __init__(self) -> None:
        from .sagemaker import MlflowStore

        self.lock = threading.RLock()
        self.faults = Faults()
        self.calls: list[CallRecord] = []
        self.mlflow = MlflowStore()
        self.enabled_regions: dict[str, list[str]] = {}
        self.credentials: dict[str, tuple[str, str]] = {}
        self.rate_limits = RateLimits()
        # Regions where SageMaker does not offer the MLflow operations, per resource kind
        # ("server": tracking servers, "app": MLflow Apps); see sagemaker.not_offered.
        self.mlflow_not_offered: dict[str, set[str]] = {"server": set(), "app": set()}

    def reset(self) -> None:
        with self.lock:
            self.faults = Faults()
            self.rate_limits = RateLimits()
            self.mlflow_not_offered = {"server": set(), "app": set()}
            self.calls = []
            self.mlflow.reset()
            self.enabled_regions = {}
            self.credentials = {}
        for hook in RESET_HOOKS:  # services that keep documented-rules state of their own
            hook()

    def record(self, rec: CallRecord) -> None:
        with self.lock:
            self.calls.append(rec)

    def credentials_for(self, account_id: str) -> tuple[str, str]:
        """Access keys of an admin IAM user in ``account_id`` (created in moto on first use).

        No AWS API can mint credentials for an account from outside it; this is the one
        place the simulation writes to moto's IAM backend directly.
        """
        with self.lock:
            if account_id not in self.credentials:
                from moto.iam.models import iam_backends

                iam = iam_backends[account_id]["aws"]
                name = "mlflow-audit-sim-admin"
                if name not in iam.users:
                    iam.create_user(region_name="us-east-1", user_name=name, path="/")
                key = iam.create_access_key(user_name=name)
                self.credentials[account_id] = (key.access_key_id, key.secret_access_key)
            return self.credentials[account_id]


STATE = SimState()
