"""Import ASFF findings into AWS Security Hub, from each finding's own account and region.

``import_findings(asff, client_for)`` groups findings by ``(AwsAccountId, Region)`` and calls
``BatchImportFindings`` with that account's credentials (``client_for(account, region)``):
the default product ARN ``product/ACCOUNT/default`` only accepts findings of the calling
account. Documented limits it keeps to ("Guidelines for using the BatchImportFindings API",
https://docs.aws.amazon.com/securityhub/latest/partnerguide/guidelines-batchimportfindings.html):

- at most 100 findings and 6 MB per batch, 240 KB per finding (larger ones are reported as
  failed, never sent);
- 10 requests per second per account per Region, burst 30: each scope is kept well under
  that (default 5/s, burst 5) by the one pacing engine (``auditor.aws.pacing``, the same
  pacer as the scan's when the clients come from the scan's ``ClientCache``), so scopes
  never starve each other;
- throttling (``ThrottlingException``, ``LimitExceededException`` 429, ...) is retried by
  that engine at the scope's next slot; every ``FailedFindings`` entry whose code is
  throttling or transient is sent again after the engine's backoff, up to
  ``max_attempts`` times; the rest are reported per finding.

Security Hub not enabled in an account-region answers ``InvalidAccessException`` (401,
BatchImportFindings API reference): that scope is *skipped* with a warning, never a
failure of the run. ARCHIVED findings of a scope outside ``scanned`` are never sent: a run
must not close findings it did not re-check (another shard, a denied region).

The result is plain data for ``findings.json`` (``security_hub``) and the terminal summary.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from auditor.aws import classify
from auditor.aws.hooks import pacer_of
from auditor.aws.pacing import Key, Pacer, backoff
from auditor.aws.tasks import TaskGroup

MAX_BATCH = 100
MAX_BATCH_BYTES = 6 * 1024 * 1024 - 64 * 1024  # keep a margin for the request envelope
MAX_FINDING_BYTES = 240 * 1024
OPERATION = "securityhub:BatchImportFindings"  # the pacing engine's name for the call
DOCUMENTED_RATE = 10.0  # requests per second per account per Region
DOCUMENTED_BURST = 30
DEFAULT_RATE = 5.0
DEFAULT_BURST = 5
# FailedFindings codes worth another try: throttling or transient on Security Hub's side.
RETRYABLE_FAILED_CODES = classify.THROTTLED | classify.TRANSIENT
_MAX_REPORTED_FAILURES = 20  # per scope, to keep findings.json readable

ClientFor = Callable[[str, str], Any]


@dataclass
class ScopeResult:
    """What happened to one account-region's findings."""

    account_id: str
    region: str
    status: str = "imported"  # imported | partial | failed | not_enabled | not_scanned
    imported: int = 0
    failed: int = 0
    skipped: int = 0
    calls: int = 0
    throttled: int = 0
    retried_findings: int = 0
    warning: str | None = None
    error: dict[str, str] | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    def fail(self, finding_id: str, code: str, message: str) -> None:
        self.failed += 1
        if len(self.failures) < _MAX_REPORTED_FAILURES:
            self.failures.append({"id": finding_id, "code": code, "message": message})


def _size(finding: dict[str, Any]) -> int:
    return len(json.dumps(finding, separators=(",", ":")).encode("utf-8"))


def batches(findings: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Consecutive batches of at most 100 findings and MAX_BATCH_BYTES."""
    batch: list[dict[str, Any]] = []
    size = 0
    for f in findings:
        n = _size(f)
        if batch and (len(batch) >= MAX_BATCH or size + n > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += n
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class _Pacing:
    """How one import is paced: the engine for clients that carry none, the documented
    limit, the attempts for failed findings and transport errors, the sleep."""

    pacer: Pacer
    rate: float
    burst: int
    max_attempts: int
    sleep: Callable[[float], None]

    def engine(self, client: Any) -> Pacer:
        """The pacer installed on ``client`` (the scan's), else this import's own; both
        keep BatchImportFindings under the limit."""
        pacer = pacer_of(client) or self.pacer
        pacer.limit(OPERATION, self.rate, self.burst)
        return pacer


def _import_scope(
    account_id: str,
    region: str,
    findings: list[dict[str, Any]],
    client_for: ClientFor,
    pacing: _Pacing,
) -> ScopeResult:
    result = ScopeResult(account_id, region)
    try:
        client = client_for(account_id, region)
    except Exception as exc:  # no credentials for that account: report, never raise
        result.status = "failed"
        result.error = {"code": type(exc).__name__, "message": str(exc)[:500]}
        for f in findings:
            result.fail(str(f.get("Id")), "NoClient", "no Security Hub client for this account")
        result.failures = result.failures[:_MAX_REPORTED_FAILURES]
        return result
    send = _Sender(client, (account_id, region, OPERATION), result, pacing)
    sendable = []
    for f in findings:
        if _size(f) > MAX_FINDING_BYTES:
            result.fail(str(f.get("Id")), "FindingTooLarge", "larger than 240 KB, not sent")
        else:
            sendable.append(f)
    pending = list(batches(sendable))
    for index, batch in enumerate(pending):
        status, retry = send(batch)
        if status == "not_enabled":
            result.status = "not_enabled"
            result.skipped += sum(len(b) for b in pending[index:])
            result.warning = (
                f"Security Hub is not enabled in account {account_id} region {region}: "
                f"{result.skipped} finding(s) not imported there"
            )
            return _finish(result)
        if status == "error":
            code = (result.error or {}).get("code", "ClientError")
            for b in pending[index + 1 :]:
                for f in b:
                    result.fail(str(f.get("Id")), code, "not sent after an earlier error")
            return _finish(result)
        attempt = 1
        while retry and attempt < pacing.max_attempts:
            pacing.sleep(backoff(attempt))
            attempt += 1
            again = [f for f, _, _ in retry]
            result.retried_findings += len(again)
            status, retry = send(again)
            if status == "not_enabled":  # disabled between two calls
                result.skipped += len(again)
            if status != "ok":
                retry = []
        for f, code, message in retry:  # still retryable after the last attempt
            result.fail(str(f.get("Id")), code, message)
    return _finish(result)


def _finish(result: ScopeResult) -> ScopeResult:
    if result.status == "imported" and result.failed:
        result.status = "partial" if result.imported else "failed"
    return result


Retry = list[tuple[dict[str, Any], str, str]]


class _Sender:
    """BatchImportFindings for one scope, through the pacing engine."""

    def __init__(self, client: Any, key: Key, result: ScopeResult, pacing: _Pacing) -> None:
        self.client, self.key, self.result, self.pacing = client, key, result, pacing
        self.engine = pacing.engine(client)

    def _throttled(self, _exc: BaseException) -> None:
        self.result.throttled += 1

    def __call__(self, batch: list[dict[str, Any]]) -> tuple[str, Retry]:
        """One BatchImportFindings (throttling retried by the engine; an error without an
        answer from AWS tried again after backoff).

        Returns ``("ok", retryable FailedFindings)``, ``("not_enabled", [])`` or
        ``("error", [])``; imported and permanently failed findings are counted in the
        result.
        """
        result = self.result

        def request() -> dict[str, Any]:
            result.calls += 1
            return self.client.batch_import_findings(Findings=batch)

        attempts = self.pacing.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                answer = self.engine.call(
                    self.key, request, sleep=self.pacing.sleep, on_throttled=self._throttled
                )
            except ClientError as exc:
                code = classify.error_code(exc)
                if code in classify.SERVICE_NOT_ENABLED:
                    return "not_enabled", []
                return self._failed(batch, code, classify.error_message(exc)[:500])
            except BotoCoreError as exc:
                if attempt < attempts:
                    self.pacing.sleep(backoff(attempt))
                    continue
                return self._failed(batch, type(exc).__name__, str(exc)[:500])
            return "ok", self._answered(batch, answer)
        raise AssertionError("unreachable: the last attempt returns")

    def _failed(self, batch: list[dict[str, Any]], code: str, message: str) -> tuple[str, Retry]:
        self.result.error = {"code": code, "message": message}
        for f in batch:
            self.result.fail(str(f.get("Id")), code, message)
        return "error", []

    def _answered(self, batch: list[dict[str, Any]], answer: dict[str, Any]) -> Retry:
        by_id = {str(f.get("Id")): f for f in batch}
        retry: Retry = []
        failed_entries = answer.get("FailedFindings") or []
        for entry in failed_entries:
            fid = str(entry.get("Id", ""))
            code = str(entry.get("ErrorCode", ""))
            message = str(entry.get("ErrorMessage", ""))[:500]
            finding = by_id.get(fid)
            if finding is not None and code in RETRYABLE_FAILED_CODES:
                retry.append((finding, code, message))
            else:
                self.result.fail(fid, code, message)
        self.result.imported += int(answer.get("SuccessCount", len(batch) - len(failed_entries)))
        return retry


def import_findings(
    asff_findings: list[dict[str, Any]],
    client_for: ClientFor,
    *,
    scanned: set[tuple[str, str]] | None = None,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    max_attempts: int = 6,
    max_workers: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Import ``asff_findings`` scope by scope; never raises for an AWS answer.

    ``client_for(account_id, region)`` returns a boto3 ``securityhub`` client with that
    account's credentials. ``scanned`` is the set of (account, region) this run read
    (``formats.common.scanned_scopes(doc)``): ARCHIVED findings outside it are skipped.
    ``rate``/``burst`` pace each scope (capped at the documented 10/s, burst 30).
    ``max_attempts`` bounds the tries of retryable failed findings and of requests that
    got no answer; throttling is retried by the pacing engine within its time budget.
    """
    pacing = _Pacing(
        pacer=Pacer(clock=clock),
        rate=min(float(rate), DOCUMENTED_RATE),
        burst=max(1, min(int(burst), DOCUMENTED_BURST)),
        max_attempts=max(1, max_attempts),
        sleep=sleep,
    )
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    not_scanned: dict[tuple[str, str], int] = defaultdict(int)
    for f in asff_findings:
        key = (str(f["AwsAccountId"]), str(f.get("Region") or f["ProductArn"].split(":")[3]))
        if scanned is not None and f.get("RecordState") == "ARCHIVED" and key not in scanned:
            not_scanned[key] += 1
            continue
        grouped[key].append(f)
    scopes: list[ScopeResult] = []

    def run(account: str, region: str, items: list[dict[str, Any]]) -> None:
        scopes.append(_import_scope(account, region, items, client_for, pacing))

    with TaskGroup(max_workers) as group:
        for (account, region), items in sorted(grouped.items()):
            group.submit(run, account, region, items)
        group.wait()
    for (account, region), n in sorted(not_scanned.items()):
        existing = next((s for s in scopes if (s.account_id, s.region) == (account, region)), None)
        target = existing or ScopeResult(account, region, status="not_scanned")
        target.skipped += n
        if existing is None:
            target.warning = (
                f"{n} resolved finding(s) of account {account} region {region} not archived: "
                "that scope was not read by this run"
            )
            scopes.append(target)
    scopes.sort(key=lambda s: (s.account_id, s.region))
    rows = [asdict(s) for s in scopes]
    return {
        "imported": sum(s.imported for s in scopes),
        "failed": sum(s.failed for s in scopes),
        "skipped": sum(s.skipped for s in scopes),
        "calls": sum(s.calls for s in scopes),
        "throttled": sum(s.throttled for s in scopes),
        "scopes": rows,
        "warnings": [s.warning for s in scopes if s.warning],
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """Terminal lines: one total, then one per scope that did not import cleanly."""
    lines = [
        f"security hub: {result['imported']} imported, {result['failed']} failed, "
        f"{result['skipped']} skipped ({result['calls']} calls)"
    ]
    for s in result["scopes"]:
        if s["status"] != "imported":
            why = s["warning"] or (s["error"] or {}).get("message") or ""
            lines.append(
                f"  {s['account_id']} {s['region']}: {s['status']} "
                f"({s['imported']} imported, {s['failed']} failed, {s['skipped']} skipped) {why}"
            )
    return lines
