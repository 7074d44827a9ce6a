"""Plain data passed between pipeline stages (see docs/architecture.md).

Every stage takes and returns these records; none of them holds an AWS client, so a
run can be replayed from ``findings.json`` alone.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = "1.1"

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
FAIL_ON_CHOICES = ("critical", "high", "medium", "low", "info", "none")
DEFAULT_ROLE_NAME = "MlflowAuditRole"

TRACKING_SERVER = "mlflow-tracking-server"
MLFLOW_APP = "mlflow-app"
RESOURCE_TYPES = (TRACKING_SERVER, MLFLOW_APP)


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"
    MUTED = "MUTED"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; used for sorting and ``--fail-on``."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


@dataclass(frozen=True, slots=True)
class Scope:
    """One (account, region) pair that the collector reads."""

    account_id: str
    region: str


@dataclass(slots=True)
class Resource:
    """A tracking server or MLflow App as Describe reported it (only what we need)."""

    resource_type: str
    account_id: str
    region: str
    name: str
    arn: str
    artifact_store_uri: str | None
    status: str | None = None
    # None when Describe omitted the field (servers created before the feature).
    s3_bucket_owner_verification: bool | None = None
    s3_bucket_owner_account_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ScanError:
    """A scope or call that could not be read; makes the run incomplete."""

    account_id: str | None
    region: str | None
    operation: str
    error_code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Evidence:
    """One S3 (or other) answer that a verdict rests on."""

    call: str  # e.g. "s3:HeadBucket"
    as_account: str | None  # whose credentials made the call
    answer: str  # e.g. "200", "403 AccessDenied", "listed", "not listed"
    params: dict[str, str] = field(default_factory=dict)
    conclusion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class BucketProof:
    """What S3 proved about one bucket; resolved once per run whatever its users."""

    name: str
    exists: bool | None = None
    owner_account_id: str | None = None
    # Accounts proven NOT to own the bucket (their ListBuckets omits it, or an
    # ExpectedBucketOwner probe was refused while the plain request succeeded).
    not_owned_by: frozenset[str] = frozenset()
    namespace_account_id: str | None = None  # from an account regional namespace name
    evidence: list[Evidence] = field(default_factory=list)
    unknown_reason: str | None = None
