"""The pushes that follow a run's reports: Security Hub import, SNS notification and the
Security Lake custom source.

All run only after the reports are written (and the run recorded in the history): a
failed push is a warning line, never a lost report, and never changes the exit code. Their
results go into ``findings.json`` (``security_hub``, ``notification``, ``security_lake``),
re-written atomically, and into the terminal summary.

Clients are built through ``auditor.aws.clients.ClientCache`` (one per region and service,
lean models): :class:`AccountClients` gives the importer ``client_for(account, region)``,
whose calls sign with that account's credentials (the scan's, or for ``report`` the
member role assumed as a scan assumes it). It is thread-safe: the
credentials are bound to the calling thread for the duration of each call only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials

from auditor.aws.clients import ClientCache
from auditor.core.errors import ConfigError
from auditor.core.terminal import echo

TOPIC_ARN_RE = re.compile(r"^arn:(aws[a-z-]*):sns:([a-z]{2}(-[a-z]+)+-\d):(\d{12}):[\w-]{1,256}$")


def topic_region(topic_arn: str) -> str:
    """The region of an SNS topic ARN; ConfigError (exit 2) for anything else."""
    match = TOPIC_ARN_RE.match(topic_arn.strip())
    if topic_arn.strip().endswith(".fifo"):
        raise ConfigError(
            f"{topic_arn!r} is a FIFO topic: --notify needs a standard topic (a run's one "
            "message has no message group)"
        )
    if not match:
        raise ConfigError(
            f"{topic_arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        )
    return match.group(2)


class _Acting:
    """A shared client whose calls sign as one account (bound per call, per thread)."""

    def __init__(self, cache: ClientCache, client: Any, credentials: Credentials) -> None:
        self._cache, self._client, self._credentials = cache, client, credentials

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._cache.acting_as(self._credentials):
                return method(*args, **kwargs)

        return call


class AccountClients:
    """``client_for(account, region)`` for a service, over one ClientCache.

    ``credentials_for(account_id)`` is asked once per account (under a lock) and may
    raise: the importer then reports that account's scopes as failed.
    """

    def __init__(
        self,
        cache: ClientCache,
        credentials_for: Callable[[str], Credentials],
        service: str = "securityhub",
    ) -> None:
        self.cache = cache
        self.service = service
        self._credentials_for = credentials_for
        self._credentials: dict[str, Credentials] = {}
        self._lock = threading.Lock()

    def credentials(self, account_id: str) -> Credentials:
        with self._lock:
            if account_id not in self._credentials:
                self._credentials[account_id] = self._credentials_for(account_id)
            return self._credentials[account_id]

    def __call__(self, account_id: str, region: str) -> _Acting:
        credentials = self.credentials(account_id)
        return _Acting(self.cache, self.cache.client(region, self.service), credentials)


def scan_credentials(accounts: list[Any]) -> Callable[[str], Credentials]:
    """The scan's own per-account credentials (``ScanResult.accounts``)."""
    known = {a.account_id: a.credentials for a in accounts if a.credentials is not None}

    def credentials_for(account_id: str) -> Credentials:
        if account_id not in known:
            raise LookupError(f"account {account_id} was not read by this run: no credentials")
        return known[account_id]

    return credentials_for


def push_security_hub(doc: dict[str, Any], client_for: Callable[[str, str], Any]) -> dict[str, Any]:
    """Import ``doc``'s ASFF findings; only resolved findings of scopes read are archived."""
    from auditor.integrations.securityhub import import_findings
    from auditor.report.formats import asff
    from auditor.report.formats.common import scanned_scopes

    try:
        return import_findings(asff.render(doc), client_for, scanned=scanned_scopes(doc))
    except Exception as exc:  # a push must never lose the run
        message = f"{type(exc).__name__}: {str(exc)[:300]}"
        return {
            "imported": 0,
            "failed": 0,
            "skipped": 0,
            "calls": 0,
            "throttled": 0,
            "scopes": [],
            "warnings": [f"Security Hub import failed: {message}"],
            "error": message,
        }


def push_notification(
    doc: dict[str, Any],
    topic_arn: str,
    cache: ClientCache,
    caller: Callable[[], Credentials],
    *,
    report_location: str | None,
) -> dict[str, Any]:
    """Publish the run summary to ``topic_arn`` as the caller (``caller()`` gives its
    credentials), in the topic's region."""
    from auditor.integrations.sns import publish

    region = topic_region(topic_arn)
    try:
        sns = _Acting(cache, cache.client(region, "sns"), caller())
    except Exception as exc:  # no credentials: the same warning as a failed publish
        error = {"code": type(exc).__name__, "message": str(exc)[:500]}
        return {
            "topic_arn": topic_arn,
            "status": "failed",
            "message_id": None,
            "error": error,
            "warning": f"could not publish to {topic_arn}: {error['code']}; the reports are "
            "written",
        }
    return publish(doc, topic_arn, sns, report_location=report_location)


def lake_line(result: dict[str, Any]) -> str:
    """The terminal line of a Security Lake push."""
    objects, records = len(result.get("objects") or []), int(result.get("records") or 0)
    where = result.get("destination")
    if result.get("status") == "written":
        return f"security lake: {records} record(s) in {objects} object(s) written to {where}"
    if result.get("status") == "partial":
        return f"security lake: PARTIAL: {records} record(s) in {objects} object(s) to {where}"
    return f"security lake: FAILED to write to {where}"


def record_results(
    doc: dict[str, Any], out_dir: Path, formats: tuple[str, ...] | list[str]
) -> None:
    """Re-write findings.json (atomically) with the push results; a failure is a warning."""
    if "json" not in formats:
        return
    from auditor.report.formats import output_format
    from auditor.report.outputs import write_atomic

    fmt = output_format("json")
    try:
        write_atomic(out_dir / fmt.filename, fmt.render(doc))
    except OSError as exc:
        echo(
            f"warning: could not add the integration results to {out_dir / fmt.filename} "
            f"({exc.strerror or type(exc).__name__}); the reports of this run are intact"
        )


def warn(result: dict[str, Any]) -> None:
    """The warnings of a push result, one line each, on stderr (also with --quiet)."""
    lines = list(result.get("warnings") or [])
    if result.get("warning"):
        lines.append(result["warning"])
    for line in lines:
        echo(f"warning: {line}")


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """Terminal lines for the pushes recorded in ``doc`` (none when nothing was pushed)."""
    from auditor.integrations.securityhub import summary_lines as hub_lines

    lines: list[str] = []
    hub = doc.get("security_hub")
    if isinstance(hub, dict):
        lines += hub_lines(hub) if "scopes" in hub else []
    note = doc.get("notification")
    if isinstance(note, dict):
        if note.get("status") == "published":
            lines.append(f"notification: published to {note['topic_arn']} ({note['message_id']})")
        else:
            code = (note.get("error") or {}).get("code", "error")
            lines.append(f"notification: FAILED to publish to {note.get('topic_arn')} ({code})")
    lake = doc.get("security_lake")
    if isinstance(lake, dict):
        lines.append(lake_line(lake))
    return lines
