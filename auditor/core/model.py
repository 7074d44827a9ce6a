"""Plain data passed between pipeline stages (see docs/architecture.md).

Every stage takes and returns these records; none of them holds an AWS client, so a
run can be replayed from ``findings.json`` alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    import datetime as dt

    from botocore.credentials import Credentials

SCHEMA_VERSION = "1.3"

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
FAIL_ON_CHOICES = ("critical", "high", "medium", "low", "info", "none")
DEFAULT_ROLE_NAME = "MlflowAuditRole"

# The names of the shipped resource kinds (``auditor.core.kinds.KINDS`` lists them all).
TRACKING_SERVER = "mlflow-tracking-server"
MLFLOW_APP = "mlflow-app"


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

#: Worst first: the order of every table, chart and filter that lists them.
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
STATUSES: tuple[str, ...] = ("FAIL", "UNKNOWN", "MUTED", "PASS")
#: A finding in one of these is a problem the run history tracks (new / resolved).
PROBLEM_STATUSES = frozenset({"FAIL", "UNKNOWN", "MUTED"})
REMEDIATION_STATUSES: tuple[str, ...] = ("planned", "applied", "verified", "skipped", "failed")


def finding_identity(finding: dict[str, Any]) -> tuple[str, str]:
    """Two findings are "the same" across runs when check and resource match."""
    return (str(finding["check_id"]), str(finding["resource_arn"]))


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
    # The execution role (RoleArn) whose policies decide what the resource can write.
    role_arn: str | None = None
    # New MLflow models are registered in the SageMaker Model Registry automatically.
    automatic_model_registration: bool | None = None


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


# ---------------------------------------------------------------------------------------
# The records of findings.json (docs/findings-schema.md). They are TypedDicts, not
# dataclasses: an organisation's findings stay plain dicts all the way to the writers (no
# copies, the C JSON encoder), while every module reads one field list from here.
# ---------------------------------------------------------------------------------------


class EvidenceRecord(TypedDict):
    call: str
    as_account: str | None
    params: dict[str, str]
    answer: str
    conclusion: str


class Fix(TypedDict):
    text: str
    command: str
    auto: bool


class Finding(TypedDict):
    """One (resource, check) verdict."""

    check_id: str
    title: str
    status: str  # one of STATUSES
    severity: str  # one of SEVERITIES
    account_id: str
    region: str
    resource_type: str  # the name of its kind (auditor.core.kinds.KINDS)
    resource_name: str
    resource_arn: str
    artifact_store_uri: str | None
    bucket: str | None
    expected_owner: str | None
    actual_owner: str | None
    message: str
    risk: str
    evidence: list[EvidenceRecord]
    remediation: Fix
    muted_reason: str | None
    # The check whose FAIL on the same resource makes this UNKNOWN undecidable (a
    # follow-on of it, with no fix of its own); None otherwise.
    caused_by: str | None
    change: NotRequired[str | None]  # new | unchanged | None; filled by auditor.history.database
    first_seen: NotRequired[str | None]  # ISO 8601 UTC; filled by auditor.history.database


#: Every field of a finding, in the order the writers list them.
FINDING_FIELDS: tuple[str, ...] = tuple(Finding.__annotations__)


class ErrorRecord(TypedDict):
    """A scope or call that could not be read (``ScanError.to_dict()``)."""

    account_id: str | None
    region: str | None
    operation: str
    error_code: str
    message: str


class RemediationRecord(TypedDict):
    """One planned, applied, verified, skipped or failed remediation action."""

    account_id: str
    region: str
    resource_name: str
    resource_arn: str
    status: str  # one of REMEDIATION_STATUSES
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    command: str
    error: dict[str, str] | None
    attempts: int


class RunInfo(TypedDict):
    """``run`` of findings.json: what was asked, what was covered, when."""

    id: str
    started_at: str
    finished_at: str
    tool_version: str
    caller_account_id: str | None
    accounts: list[dict[str, Any]]  # account_id, name, access, status
    regions: list[str]
    scopes: list[dict[str, Any]]  # account_id, region, status, resources, not_offered
    coverage: dict[str, dict[str, list[str]]]  # type -> offered / not_offered regions
    warnings: list[str]  # e.g. a --region no audited account has enabled
    regions_not_enabled: dict[str, list[str]]
    trusted_accounts: list[str]
    fail_on: str
    fail_on_new: bool
    shard: str | None
    policy: str | None
    expired_waivers: list[dict[str, Any]]
    stats: dict[str, int]
    complete: bool
    merged_from: NotRequired[list[dict[str, Any]]]  # merge only
    missing_shards: NotRequired[list[str]]  # merge only


RUN_FIELDS: tuple[str, ...] = tuple(RunInfo.__annotations__)


# ---------------------------------------------------------------------------------------
# What a scan hands to the document stage (plain data; no clients).
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Account:
    """An audited account: how it is reached, its regions, and why it could not be read."""

    account_id: str
    name: str | None = None
    access: str = "assume-role"  # or "caller"
    credentials: Credentials | None = None  # set once the account can be acted as
    regions: list[str] = field(default_factory=list)
    skipped_regions: list[str] = field(default_factory=list)
    # True when DescribeRegions said which regions are enabled; False in the fallback
    # where it was denied and every offered region is tried.
    regions_verified: bool = False
    error: ScanError | None = None
    # From ListAccounts' ARN (arn:aws:organizations::MGMT:account/o-ID/ACCOUNT): bucket
    # policies that limit a grant with aws:PrincipalOrgID name this id.
    organization_id: str | None = None


@dataclass(slots=True)
class ScopeResult:
    account_id: str
    region: str
    status: str = "scanned"  # scanned | error | skipped
    resources: int = 0
    # Resource types whose MLflow operations this region does not offer (coverage, not
    # an error): e.g. ["mlflow-app"] where tracking servers exist but Apps do not.
    not_offered: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    scopes_done: int
    scopes_total: int
    resources: int  # described so far
    errors: int


Progress = Callable[[ProgressSnapshot], None]


@dataclass(slots=True)
class ScanResult:
    caller_account_id: str
    accounts: list[Account]
    scopes: list[ScopeResult]
    resources: list[Resource]
    proofs: dict[str, BucketProof]
    facts: list[dict[str, Any]]
    findings: list[dict[str, Any]]  # findings.json shape, see docs/findings-schema.md
    errors: list[ScanError]
    expired_waivers: list[dict[str, Any]]
    trusted_accounts: list[str]
    started_at: dt.datetime
    finished_at: dt.datetime
    stats: dict[str, int]
    # Explicit --region values that no audited account has enabled, or where MLflow is
    # not offered: shown as warnings, never silently a PASS over nothing.
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.errors
