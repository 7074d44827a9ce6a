"""``mlflow-audit scan``: from a validated request to written reports and an exit code.

    policy -> the scan stages (auditor.app.pipeline.run_scan) -> auditor.app.finish

The Ctrl-C guard (auditor.app.interrupt), the history (auditor.app.recording) and the
pushes (auditor.app.pushes) each have a module of their own; this one puts them in order.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from auditor.app.finish import AfterScan, RunContext, finish_interrupted_scan, finish_run
from auditor.app.interrupt import first_interrupt_only
from auditor.app.pipeline import ScanInterrupted
from auditor.app.recording import scan_recorder
from auditor.app.results import S3Output, S3Prefix, parse_prefix
from auditor.app.workers import run_scan_processes
from auditor.aws.errors import error_code, error_message
from auditor.aws.session import make_session
from auditor.collect.stage import Targets
from auditor.core.errors import ConfigError, UsageError
from auditor.core.model import ScanResult
from auditor.core.request import HISTORY_FILENAME, ScanRequest
from auditor.core.terminal import echo
from auditor.evaluate.policy import Policy, load_policy
from auditor.evaluate.rules import load_rules
from auditor.report.console import TerminalProgress
from auditor.report.outputs import prepare_output_dir

__all__ = ["execute_scan", "load_run_policy", "make_session", "run_scan_command"]


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


def load_run_policy(request: ScanRequest) -> tuple[list[Any], Policy]:
    """The rules and the ``--config`` policy of a run (warnings on stderr)."""
    rules = load_rules(request.rules_dirs)
    policy = (
        load_policy(request.config_path, {r.id for r in rules}) if request.config_path else Policy()
    )
    for warning in policy.warnings:
        echo(warning)
    return rules, policy


def run_scan_command(request: ScanRequest) -> int:
    """The whole scan: validated request in, reports written, exit code out.

    Ctrl-C during the scan still writes the reports, of an incomplete run (exit 130).
    """
    where = parse_prefix(request.output_dir)
    if where is not None:
        return _scan_to_s3(request, where)
    out_dir = prepare_output_dir(request.output_dir)
    rules, policy = load_run_policy(request)
    return _scan(request, make_session(request.profile), (rules, policy), Path(out_dir))


def _scan_to_s3(request: ScanRequest, where: S3Prefix) -> int:
    """``--output-dir s3://bucket/prefix/``: the reports as objects under the prefix, the
    history (unless ``--history`` names one) beside them; the run itself works in a
    temporary directory, which a remediation journal could not outlive."""
    if request.remediate and not request.dry_run:
        raise UsageError("--remediate needs a local --output-dir (its journal is written there)")
    rules, policy = load_run_policy(request)
    session = make_session(request.profile)
    remote = S3Output(session, where)
    if not request.no_history and not request.history_path:
        request = replace(request, history_path=remote.history(HISTORY_FILENAME))
    with tempfile.TemporaryDirectory(prefix="mlflow-audit-scan-") as tmp:
        return _scan(request, session, (rules, policy), Path(tmp), remote)


def _scan(
    request: ScanRequest,
    session: boto3.Session,
    loaded: tuple[list[Any], Policy],
    out_dir: Path,
    remote: S3Output | None = None,
) -> int:
    rules, policy = loaded
    run = RunContext(request, session, policy, out_dir, remote)
    progress = TerminalProgress(enabled=not request.quiet and sys.stderr.isatty())
    with first_interrupt_only():
        try:
            result = execute_scan(session, request, rules, policy, progress)
        except ScanInterrupted as stop:
            return finish_interrupted_scan(stop.result, run)
    # A complete scan: remediation and its prompt keep Python's own Ctrl-C handling.
    after = AfterScan(recorder=scan_recorder(request), show_summary=not request.quiet)
    _, code = finish_run(result, run, after)
    return code
