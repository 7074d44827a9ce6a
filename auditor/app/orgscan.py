"""The nightly organisation scan on AWS Step Functions: the Lambda entry points.

deploy/orgscan.cfn.yaml runs them as one state machine (docs/scale.md, "Running at
organisation scale"):

1. ``plan_handler`` lists the Organization's ACTIVE accounts and cuts them into ``N``
   batches: batch ``K`` is exactly the accounts ``--shard K/N`` scans (a stable hash of the
   account id), so each batch is a plain ``mlflow-audit scan --org --shard K/N`` and the
   merge of the batches is what one scan finds.
2. ``batch_handler`` (one per batch, in a Distributed Map) runs that scan and writes its
   findings.json to ``RESULTS/runs/<execution>/shards/K-of-N/``.
3. ``auditor.app.orgmerge.merge_handler`` merges them, records the history, pushes.

Configured like the event function (``MLFLOW_AUDIT_*``, auditor.app.aws_lambda), plus
``RESULTS`` (``s3://bucket/prefix/``), ``BATCH_SIZE``, ``REGIONS`` and ``FAIL_ON``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.app.aws_lambda import ENV_PREFIX, LambdaConfig, config_from_env
from auditor.app.results import S3Prefix, S3Results, parse_prefix
from auditor.aws.clients import ClientCache
from auditor.aws.credentials import caller_credentials
from auditor.aws.session import make_session
from auditor.collect.accounts import shard_of
from auditor.collect.scope import organization_accounts
from auditor.core.errors import ConfigError
from auditor.core.model import FAIL_ON_CHOICES
from auditor.core.request import ScanRequest

DEFAULT_BATCH_SIZE = 100
MAX_BATCHES = 1000  # at most one Distributed Map child per batch, and a readable plan
SHARD_RE = re.compile(r"^(\d{1,4})/(\d{1,4})$")
#: An execution name as Step Functions allows it (1-80 characters, no "/" or spaces).
EXECUTION_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
#: What a batch's document is written as, under the run's prefix.
SHARDS_FOLDER = "shards"
REPORT_FOLDER = "report"


@dataclass(frozen=True, slots=True)
class OrgScanConfig:
    base: LambdaConfig
    results: S3Prefix
    batch_size: int = DEFAULT_BATCH_SIZE
    regions: tuple[str, ...] = ()
    fail_on: str = "high"


def orgscan_config(env: dict[str, str] | None = None) -> OrgScanConfig:
    """The stack's configuration (the variables deploy/orgscan.cfn.yaml sets)."""
    env = dict(os.environ if env is None else env)

    def text(name: str) -> str:
        return env.get(ENV_PREFIX + name, "").strip()

    results = parse_prefix(text("RESULTS"))
    if results is None:
        raise ConfigError(
            f"{ENV_PREFIX}RESULTS must be s3://bucket/prefix/ (got {text('RESULTS')!r})"
        )
    raw_size = text("BATCH_SIZE") or str(DEFAULT_BATCH_SIZE)
    if not raw_size.isdigit() or int(raw_size) < 1:
        raise ConfigError(f"{ENV_PREFIX}BATCH_SIZE={raw_size!r}: a positive number of accounts")
    fail_on = (text("FAIL_ON") or "high").lower()
    if fail_on not in FAIL_ON_CHOICES:
        raise ConfigError(f"{ENV_PREFIX}FAIL_ON={fail_on!r}: one of {', '.join(FAIL_ON_CHOICES)}")
    regions = tuple(r.strip() for r in text("REGIONS").split(",") if r.strip())
    return OrgScanConfig(config_from_env(env), results, int(raw_size), regions, fail_on)


def run_prefix(results: S3Prefix, execution: str) -> S3Prefix:
    """Where one execution's shards and report go: ``RESULTS/runs/<execution>/``."""
    if not EXECUTION_RE.match(execution):
        raise ConfigError(f"execution name {execution[:100]!r} cannot name an S3 folder")
    return results.child(f"runs/{execution}")


def shard_folder(run: S3Prefix, k: int, n: int) -> S3Prefix:
    return run.child(f"{SHARDS_FOLDER}/{k:04d}-of-{n:04d}")


def parse_shard(value: Any) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), 1 <= K <= N; ConfigError for anything else (an untrusted input)."""
    match = SHARD_RE.match(str(value))
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ConfigError(f"not a batch of a plan: {str(value)[:40]!r} (expected K/N)")
    return int(match[1]), int(match[2])


def plan_batches(account_ids: list[str], batch_size: int) -> list[dict[str, Any]]:
    """``N = ceil(accounts / batch_size)`` batches, batch K holding the accounts of shard
    K/N. Hashing spreads accounts unevenly (a binomial spread around the mean: for a mean
    of 100, the largest of 50 batches holds about 125): size the function for that."""
    n = min(MAX_BATCHES, max(1, math.ceil(len(account_ids) / batch_size)))
    batches: list[list[str]] = [[] for _ in range(n)]
    for account_id in sorted(account_ids):
        batches[shard_of(account_id, n) - 1].append(account_id)
    return [{"shard": f"{k}/{n}", "accounts": ids} for k, ids in enumerate(batches, start=1)]


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """List the Organization's ACTIVE accounts and cut them into batches.

    ``event``: ``{"execution": "<execution name>"}`` (``$$.Execution.Name``). Returns the
    plan the Map iterates over and the merge reads: ``results`` (this execution's
    prefix), ``started_at``, ``accounts`` (count) and ``batches`` (``shard``, ``accounts``).
    """
    config = orgscan_config()
    execution = str((event or {}).get("execution") or "") if isinstance(event, dict) else ""
    run = run_prefix(config.results, execution)
    session = make_session(None)
    cache = ClientCache(session, pool_size=2)
    ids = sorted({a.account_id for a in organization_accounts(cache, caller_credentials(session))})
    if not ids:
        raise ConfigError("organizations:ListAccounts returned no ACTIVE account")
    plan = {
        "results": str(run),
        "started_at": utc_now(),
        "accounts": len(ids),
        "batches": plan_batches(ids, config.batch_size),
    }
    print(json.dumps({"mlflow_audit_plan": {k: v for k, v in plan.items() if k != "batches"}}))
    return plan


def batch_request(config: OrgScanConfig, shard: tuple[int, int], output_dir: str) -> ScanRequest:
    """The ``scan --org --shard K/N`` of one batch: JSON only, no history, no pushes (the
    merge does those once for the whole run), and ``--fail-on none`` (a batch's FAIL is
    not a failed batch; the merge applies the threshold)."""
    base = config.base
    return ScanRequest(
        org=True,
        shard=shard,
        regions=config.regions,
        role_name=base.role_name,
        external_id=base.external_id,
        trusted_accounts=base.trusted_accounts,
        config_path=base.config_path,
        output_dir=output_dir,
        formats=("json",),
        fail_on="none",
        quiet=True,
        no_history=True,
    )


def batch_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Scan one batch and write its findings.json under the run's prefix.

    ``event``: ``{"results": "s3://.../runs/<execution>/", "shard": "K/N"}``. Raises when
    nothing could be scanned (a configuration or credential error) or the document could
    not be written: the state machine then retries the batch, and after its retries
    records it as failed. A scan that read some scopes but not all is written as it is
    (an incomplete document, exit 3): the merge keeps what it read.
    """
    from auditor.app.scan import run_scan_command

    if not isinstance(event, dict):
        raise ConfigError("a batch event is an object with results and shard")
    config = orgscan_config()
    run = parse_prefix(str(event.get("results") or ""))
    if (
        run is None
        or not run.prefix.startswith(config.results.prefix)
        or (run.bucket != config.results.bucket)
    ):
        raise ConfigError(
            f"batch results {str(event.get('results'))[:200]!r} not under {config.results}"
        )
    k, n = parse_shard(event.get("shard"))
    with tempfile.TemporaryDirectory(prefix="mlflow-audit-batch-") as tmp:
        code = run_scan_command(batch_request(config, (k, n), tmp))
        if code == 4:  # its reports could not be written (the temporary disk)
            raise ConfigError(f"batch {k}/{n}: the findings document could not be written")
        doc = json.loads((Path(tmp) / "findings.json").read_text(encoding="utf-8"))
    url = S3Results(make_session(None)).put_document(doc, shard_folder(run, k, n))
    summary = {
        "shard": f"{k}/{n}",
        "document": url,
        "exit_code": code,
        "complete": bool(doc["run"].get("complete")),
        "accounts": len(doc["run"].get("accounts") or []),
        "errors": len(doc.get("errors") or []),
    }
    print(json.dumps({"mlflow_audit_batch": summary}))
    return summary
