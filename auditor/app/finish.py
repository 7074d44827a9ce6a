"""After the scan stages: remediate -> document -> history + reports -> pushes -> summary.

Shared by ``scan`` and ``event``; what differs between them is an ``AfterScan`` record
(how the history records the run, whether the summary is printed). A scan cut short by
Ctrl-C takes the shorter road of ``finish_interrupted_scan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from auditor.app.interrupt import INTERRUPTED_EXIT
from auditor.app.pushes import run_integrations
from auditor.app.recording import Recorder, write_with_history
from auditor.app.results import S3Output
from auditor.core.model import ScanResult
from auditor.core.request import ScanRequest
from auditor.core.terminal import echo
from auditor.evaluate.policy import Policy
from auditor.integrations.push import summary_lines
from auditor.report.console import print_summary
from auditor.report.document import build_document, gate_on_new
from auditor.report.outputs import write_outputs


@dataclass(frozen=True, slots=True)
class RunContext:
    """What every step after the scan reads: the request, the caller, the policy, where."""

    request: ScanRequest
    session: boto3.Session
    policy: Policy
    out_dir: Path
    #: ``--output-dir s3://...``: the reports go there (``out_dir`` is then a temporary one)
    remote: S3Output | None = None


@dataclass(frozen=True, slots=True)
class AfterScan:
    """What a complete scan does next, beyond what its request says."""

    #: how the history records the run (used unless the request says --no-history)
    recorder: Recorder
    #: the terminal summary (scan: unless --quiet; event: never, it prints its own line)
    show_summary: bool


def trust_org_membership(result: ScanResult) -> None:
    """With ``--org`` every member is trusted: an untrusted owner is known to be outside
    the Organization (the remediation plan reads ``trust.org_accounts``)."""
    members = frozenset(result.trusted_accounts)
    for facts in result.facts:
        facts["trust"]["org_accounts"] = members


def _remediate(result: ScanResult, run: RunContext) -> tuple[list[dict[str, Any]], bool]:
    """The remediation records, and whether Ctrl-C ended the remediation."""
    request = run.request
    if not request.remediate:
        return [], False
    from auditor.remediate.apply import RemediationInterrupted, run_remediation

    if request.org:
        trust_org_membership(result)
    try:
        records = run_remediation(
            result,
            run.session,
            dry_run=request.dry_run,
            yes=request.yes,
            max_changes=request.max_changes,
            out_dir=run.out_dir,
            concurrency=request.concurrency,
            quiet=request.quiet,
            stable_wait_s=request.stable_wait,
        )
    except RemediationInterrupted as stop:
        return stop.records, True
    return records, False


def _document(
    result: ScanResult, run: RunContext, remediations: list[dict[str, Any]]
) -> dict[str, Any]:
    request = run.request
    doc = build_document(
        result,
        request.fail_on,
        shard=request.shard,
        remediations=remediations,
        policy_source=run.policy.source,
        fail_on_new=request.fail_on_new,
    )
    # The document is all the writers need: let the facts, proofs and resources go before
    # the renderers run (tens of MB at organisation scale).
    result.facts.clear()
    result.proofs.clear()
    result.resources.clear()
    return doc


def _report_writer(doc: dict[str, Any], run: RunContext, interrupted: bool) -> Any:
    def write(history_ok: bool) -> list[Path]:
        if run.request.fail_on_new:
            gate_on_new(doc, history_ok)
        if interrupted:  # the recorded exit code is the real one
            doc["summary"]["exit_code"] = INTERRUPTED_EXIT
        if run.remote is not None:
            return run.remote.write(doc, run.request.formats)  # type: ignore[return-value]
        return write_outputs(doc, run.out_dir, run.request.formats)

    return write


def finish_run(result: ScanResult, run: RunContext, after: AfterScan) -> tuple[dict[str, Any], int]:
    """Remediate, build the document, write the reports with the history, push, summarise.

    Returns the findings document and the exit code. Ctrl-C during the remediation is an
    interrupted run: its reports are written and recorded (exit 130), nothing is pushed.
    """
    request = run.request
    remediations, interrupted = _remediate(result, run)
    doc = _document(result, run, remediations)
    write = _report_writer(doc, run, interrupted)
    written = write_with_history(doc, request, run.out_dir, write, run.session, after.recorder)
    pushes = request.security_hub or request.notify or request.security_lake
    if interrupted and pushes:
        echo("mlflow-audit: interrupted; nothing was pushed (Security Hub, SNS, Security Lake)")
    elif pushes:
        run_integrations(doc, request, run.session, result.accounts, run.out_dir, run.remote)
    if after.show_summary:
        print_summary(doc, written, summary_lines(doc))
    if interrupted:
        echo(
            "mlflow-audit: interrupted; nothing more was changed, and what was applied is "
            "recorded in the reports and the journal"
        )
    return doc, int(doc["summary"]["exit_code"])


def finish_interrupted_scan(result: ScanResult, run: RunContext) -> int:
    """The scan itself was interrupted (auditor.app.pipeline.ScanInterrupted): its reports
    are written (exit 130), but nothing is remediated, the run is not recorded in the
    history (a half-read scope must not resolve findings) and nothing is pushed."""
    doc = _document(result, run, [])
    written = _report_writer(doc, run, interrupted=True)(False)
    if not run.request.quiet:
        print_summary(doc, written)
    echo(
        "mlflow-audit: interrupted during the scan; the reports of this incomplete run are "
        "written, it is not recorded in the history and nothing was pushed (Security Hub, "
        "SNS)"
    )
    return int(doc["summary"]["exit_code"])
