"""``mlflow-audit scan`` from validated options to written reports and an exit code."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from auditor.app.pipeline import ScanInterrupted
from auditor.app.workers import run_scan_processes
from auditor.aws.clients import ClientCache
from auditor.aws.errors import ConfigError, error_code, error_message
from auditor.aws.session import make_session
from auditor.collect.scope import Account, caller_credentials
from auditor.collect.stage import Targets
from auditor.core.model import ScanResult
from auditor.core.request import ScanRequest
from auditor.evaluate.policy import Policy, load_policy
from auditor.evaluate.rules import load_rules
from auditor.history.database import HISTORY_FILENAME, HistoryError, record_run, scope_key
from auditor.history.s3 import parse_location, update_history
from auditor.report.console import TerminalProgress, print_summary
from auditor.report.document import build_document, gate_on_new
from auditor.report.outputs import prepare_output_dir, write_outputs

#: ``record(path, doc, write)``: store ``doc`` in the history database at ``path`` (a local
#: file: an s3:// history is downloaded first), running ``write`` inside the transaction.
Recorder = Callable[[Path, dict[str, Any], Callable[[], list[Path]]], list[Path] | None]


def execute_scan(
    session: boto3.Session,
    request: ScanRequest,
    rules: list[Any],
    policy: Policy,
    progress: TerminalProgress,
    targets: Targets | None = None,
) -> ScanResult:
    """run_scan, with the failures that mean "nothing could be scanned" as ConfigError."""
    try:
        return run_scan_processes(session, request, rules, policy, progress, targets)
    except NoCredentialsError:
        raise ConfigError("no AWS credentials found (set AWS_PROFILE or use --profile)") from None
    except ClientError as exc:
        op = exc.operation_name
        raise ConfigError(f"{op} failed: {error_code(exc)}: {error_message(exc)}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"AWS configuration error: {exc}") from None
    finally:
        progress.close()


INTERRUPTED_EXIT = 130


@contextmanager
def first_interrupt_only() -> Iterator[None]:
    """The first Ctrl-C interrupts (KeyboardInterrupt, as usual); a later one, while the
    interrupted run's reports are being written, is noted on stderr and otherwise
    ignored, so those reports are completed rather than abandoned half way.

    Only the main thread can own the SIGINT handler; elsewhere this changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal seen
        if seen:  # os.write: never re-entering a buffered stream from a signal handler
            os.write(2, b"\nmlflow-audit: still writing the reports of the interrupted run\n")
            return
        seen = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def scope_key_of(doc: dict[str, Any], request: ScanRequest) -> str:
    run = doc["run"]
    return scope_key(
        org=request.org,
        accounts=list(request.accounts),
        regions=list(request.regions),
        shard=run["shard"],
        caller=run["caller_account_id"],
    )


def history_location(request: ScanRequest, out_dir: Path) -> str:
    """``--history`` (a path or ``s3://bucket/key``), else OUTPUT_DIR/history.sqlite."""
    return str(request.history_path or out_dir / HISTORY_FILENAME)


def with_history(session: boto3.Session, location: str, update: Callable[[Path], Any]) -> Any:
    """``update(path)`` on the local or s3:// history (auditor.history.s3), the S3
    object read and written as the caller."""
    if parse_location(location) is None:
        return update(Path(location))
    cache = ClientCache(session, pool_size=1)
    with cache.acting_as(caller_credentials(session)):
        return update_history(location, update, s3_client=cache.client(cache.default_region, "s3"))


def scan_recorder(request: ScanRequest) -> Recorder:
    """A scan's record: compare with the previous run of the same scope (history.record_run)."""

    def record(path: Path, doc: dict[str, Any], write: Callable[[], list[Path]]) -> Any:
        key = scope_key_of(doc, request)
        return record_run(path, doc, key, keep=request.history_keep, write=write)

    return record


def write_with_history(
    doc: dict[str, Any],
    request: ScanRequest,
    out_dir: Path,
    write: Callable[[bool], list[Path]],
    session: boto3.Session,
    record: Recorder | None = None,
) -> list[Path]:
    """Annotate ``doc`` with the history, write the reports, then record the run.

    ``write(history_ok)`` writes the reports. The run is recorded only once they are
    written (``record``, by default auditor.history.database.record_run, runs ``write`` inside its
    transaction): a run whose reports failed (exit 4) leaves no trace, so the next run
    still sees every problem as new. A history failure (corrupt or locked database,
    unreadable S3 object) is a one-line warning and a ``history.error`` note: the
    reports are still written and the exit code is unchanged (``--fail-on-new`` then
    counts every FAIL as new).
    """
    if request.no_history:
        return write(False)
    location = history_location(request, out_dir)
    record = record or scan_recorder(request)
    written: list[Path] | None = None

    remote = parse_location(location) is not None

    def write_annotated() -> list[Path]:
        nonlocal written
        if remote and isinstance(doc.get("history"), dict):
            doc["history"]["database"] = location  # not the temporary copy
        written = write(True)
        return written

    try:
        with_history(
            session or boto3.Session(), location, lambda p: record(p, doc, write_annotated)
        )
        if remote and isinstance(doc.get("history"), dict):
            doc["history"]["database"] = location
        return written or []
    except HistoryError as exc:
        if written is not None:  # reports written, but the run could not be stored
            click.echo(f"warning: {exc}; this run is not recorded in the history", err=True)
            return written
        for f in doc["findings"]:
            f["change"] = None
            f["first_seen"] = None
        doc["history"] = {
            "error": str(exc),
            "database": location,
            "scope_key": scope_key_of(doc, request),
        }
        note = ""
        if request.fail_on_new:
            note = "; --fail-on-new counts every FAIL as new"
            doc["history"]["fail_on_new"] = "history unavailable: every FAIL counted as new"
        click.echo(f"warning: {exc}; reports are written without history{note}", err=True)
        return write(False)


def trust_org_membership(result: ScanResult) -> None:
    """With ``--org`` every member is trusted: an untrusted owner is known to be outside
    the Organization (the remediation plan reads ``trust.org_accounts``)."""
    members = frozenset(result.trusted_accounts)
    for facts in result.facts:
        facts["trust"]["org_accounts"] = members


def run_integrations(
    doc: dict[str, Any],
    request: ScanRequest,
    session: boto3.Session,
    accounts: list[Account],
    out_dir: Path,
) -> None:
    """``--security-hub`` and ``--notify``, once the reports are written and the run recorded.

    Each finding is imported from its own account with the credentials the scan used there;
    the notification is published as the caller. Results go into findings.json (re-written
    atomically); failures are warnings and leave the exit code as it is.
    """
    from auditor.integrations.push import (
        AccountClients,
        push_notification,
        push_security_hub,
        record_results,
        scan_credentials,
        warn,
    )

    cache = ClientCache(session, pool_size=8)
    if request.security_hub:
        doc["security_hub"] = push_security_hub(
            doc, AccountClients(cache, scan_credentials(accounts))
        )
        warn(doc["security_hub"])
    if request.notify:
        doc["notification"] = push_notification(
            doc, request.notify, session, report_location=str(out_dir.resolve()), cache=cache
        )
        warn(doc["notification"])
    record_results(doc, out_dir, request.formats)


def load_run_policy(request: ScanRequest) -> tuple[list[Any], Policy]:
    """The rules and the ``--config`` policy of a run (warnings on stderr)."""
    rules = load_rules(request.rules_dirs)
    policy = (
        load_policy(request.config_path, {r.id for r in rules}) if request.config_path else Policy()
    )
    for warning in policy.warnings:
        click.echo(warning, err=True)
    return rules, policy


def run_scan_command(request: ScanRequest) -> int:
    """The whole scan: validated request in, reports written, exit code out.

    Ctrl-C during the scan still writes the reports, of an incomplete run (exit 130).
    """
    out_dir = prepare_output_dir(request.output_dir)
    rules, policy = load_run_policy(request)
    session = make_session(request.profile)
    progress = TerminalProgress(enabled=not request.quiet and sys.stderr.isatty())
    with first_interrupt_only():
        try:
            result = execute_scan(session, request, rules, policy, progress)
        except ScanInterrupted as stop:
            _, code = finish_run(
                stop.result, request, session, policy, Path(out_dir), scan_cut=True
            )
            return code
    # A complete scan: remediation and its prompt keep Python's own Ctrl-C handling.
    _, code = finish_run(result, request, session, policy, Path(out_dir))
    return code


def finish_run(
    result: ScanResult,
    request: ScanRequest,
    session: boto3.Session,
    policy: Policy,
    out_dir: Path,
    record: Recorder | None = None,
    show_summary: bool | None = None,
    scan_cut: bool = False,
) -> tuple[dict[str, Any], int]:
    """After the scan stages: remediate -> document -> history -> write -> integrations.

    Shared by ``scan`` and ``event`` (which passes its own history ``record`` and prints
    the document instead of the summary). Returns the findings document and exit code.

    ``scan_cut``: the scan itself was interrupted (auditor.app.pipeline.ScanInterrupted). Its
    reports are written (exit 130) but nothing is remediated, the run is not recorded in
    the history (a half-read scope must not resolve findings) and nothing is pushed.
    """
    remediations: list[dict[str, Any]] = []
    interrupted = scan_cut
    if request.remediate and not scan_cut:
        from auditor.remediate.apply import RemediationInterrupted, run_remediation

        if request.org:
            trust_org_membership(result)
        try:
            remediations = run_remediation(
                result,
                session,
                dry_run=request.dry_run,
                yes=request.yes,
                max_changes=request.max_changes,
                out_dir=out_dir,
                concurrency=request.concurrency,
                quiet=request.quiet,
                stable_wait_s=request.stable_wait,
            )
        except RemediationInterrupted as stop:
            remediations, interrupted = stop.records, True
    doc = build_document(
        result,
        request.fail_on,
        shard=request.shard,
        remediations=remediations,
        policy_source=policy.source,
        fail_on_new=request.fail_on_new,
    )
    # The document is all the writers need: let the facts, proofs and resources go before
    # the renderers run (tens of MB at organisation scale).
    result.facts.clear()
    result.proofs.clear()
    result.resources.clear()

    def write(history_ok: bool) -> list[Path]:
        if request.fail_on_new:
            gate_on_new(doc, history_ok)
        if interrupted:  # the recorded exit code is the real one
            doc["summary"]["exit_code"] = INTERRUPTED_EXIT
        return write_outputs(doc, out_dir, request.formats)

    if scan_cut:
        written = write(False)
    else:
        written = write_with_history(doc, request, out_dir, write, session, record)
    if interrupted and not scan_cut and (request.security_hub or request.notify):
        click.echo("mlflow-audit: interrupted; Security Hub and SNS were not notified", err=True)
    elif not interrupted and (request.security_hub or request.notify):
        run_integrations(doc, request, session, result.accounts, out_dir)
    if not request.quiet if show_summary is None else show_summary:
        print_summary(doc, written)
    if scan_cut:
        click.echo(
            "mlflow-audit: interrupted during the scan; the reports of this incomplete run are "
            "written, it is not recorded in the history and nothing was pushed (Security Hub, "
            "SNS)",
            err=True,
        )
    elif interrupted:
        click.echo(
            "mlflow-audit: interrupted; nothing more was changed, and what was applied is "
            "recorded in the reports and the journal",
            err=True,
        )
    return doc, int(doc["summary"]["exit_code"])
