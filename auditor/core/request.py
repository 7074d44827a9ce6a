"""What one ``mlflow-audit scan`` (or demo, or event run) was asked to do.

A frozen record built once from the command line (or by ``demo``, the Lambda and tests
with only the fields that differ from the defaults) and read by every stage after it.
The defaults are defined here once: the CLI shows and applies these values, and the
stages that have a default of their own (pacing, history, formats) read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from auditor.core.errors import UsageError
from auditor.core.model import DEFAULT_ROLE_NAME

#: Worker processes over the accounts; 0: one per usable CPU core.
DEFAULT_PROCESSES = 0
DEFAULT_CONCURRENCY = 32
DEFAULT_MAX_CHANGES = 25
DEFAULT_STABLE_WAIT_S = 60.0
DEFAULT_HISTORY_KEEP = 90
DEFAULT_OUTPUT_DIR = "./mlflow-audit-out"
#: the history database in OUTPUT_DIR when ``--history`` names none
HISTORY_FILENAME = "history.sqlite"
DEFAULT_FAIL_ON = "high"
#: How long one call may keep being throttled (paced and retried) before it fails.
DEFAULT_THROTTLE_BUDGET_S = 900.0
#: scan's ``--format`` when none is given (each a name in auditor.report.formats)
DEFAULT_FORMATS: tuple[str, ...] = ("json", "csv", "html")


@dataclass(frozen=True, slots=True)
class ScanRequest:
    # scope
    profile: str | None = None
    regions: tuple[str, ...] = ()  # empty: every region offered and enabled
    accounts: tuple[str, ...] = ()
    org: bool = False
    role_name: str = DEFAULT_ROLE_NAME
    external_id: str | None = None
    shard: tuple[int, int] | None = None  # (K, N), 1-based K
    concurrency: int = DEFAULT_CONCURRENCY
    processes: int = DEFAULT_PROCESSES  # worker processes over the accounts
    # How long one call may keep being throttled (paced and retried) before it fails.
    throttle_budget_s: float = DEFAULT_THROTTLE_BUDGET_S
    # policy
    trusted_accounts: tuple[str, ...] = ()
    config_path: str | None = None
    rules_dirs: tuple[str, ...] = ()
    # outputs and exit code
    output_dir: str = DEFAULT_OUTPUT_DIR
    formats: tuple[str, ...] = DEFAULT_FORMATS
    fail_on: str = DEFAULT_FAIL_ON
    fail_on_new: bool = False
    quiet: bool = False
    # integrations, after the reports are written (auditor.integrations.push)
    security_hub: bool = False
    notify: str | None = None  # SNS topic ARN
    # Security Lake custom source: s3://BUCKET/ext/SOURCE/, its provider role and the
    # external id Security Lake gave (not --external-id, which is for the member roles)
    security_lake: str | None = None
    security_lake_role: str | None = None
    security_lake_external_id: str | None = None
    # history
    history_path: str | None = None
    history_keep: int = DEFAULT_HISTORY_KEEP
    no_history: bool = False
    # remediation
    remediate: bool = False
    dry_run: bool = False
    yes: bool = False
    max_changes: int = DEFAULT_MAX_CHANGES
    stable_wait: float = DEFAULT_STABLE_WAIT_S

    def __post_init__(self) -> None:
        object.__setattr__(self, "fail_on", self.fail_on.lower())
        if (self.dry_run or self.yes) and not self.remediate:
            raise UsageError("--dry-run and --yes only apply with --remediate")
        if self.no_history and (self.history_path or self.fail_on_new):
            raise UsageError(
                "--no-history cannot be combined with --history or "
                "--fail-on-new (which needs the previous run)"
            )
        if (self.security_lake_role or self.security_lake_external_id) and not self.security_lake:
            raise UsageError(
                "--security-lake-role and --security-lake-external-id need --security-lake"
            )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ScanRequest:
        """From click's parsed options: lists become tuples, None keeps the default."""
        names = {f.name for f in fields(cls)}
        unknown = set(options) - names
        if unknown:
            raise TypeError(f"ScanRequest: unknown option(s) {sorted(unknown)}")
        values = {
            k: tuple(v) if isinstance(v, list) else v for k, v in options.items() if v is not None
        }
        return cls(**values)
