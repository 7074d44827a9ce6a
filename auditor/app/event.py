"""``mlflow-audit event`` and the Lambda: re-check what CloudTrail events touched.

    parse (auditor.events.parse) -> Targets -> the scan stages (auditor.app.pipeline.run_scan)
        -> the scan's post-scan pipeline (auditor.app.finish.finish_run) with an event record

An MLflow event re-checks that resource in its scope. A bucket event re-checks the
event's own account-region, listed afresh, plus every resource the history's newest run
of any scope saw using that bucket (``history.bucket_users``). The rules, proofs, policy,
remediation (fail-closed), reports and integrations are the scan's. The history records
only the re-checked resources (``history.recording_event_run``): nothing else is resolved,
and a duplicate delivery changes nothing.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3

from auditor.app.finish import AfterScan, RunContext, finish_run
from auditor.app.recording import history_location, scope_key_of, with_history
from auditor.app.scan import execute_scan, load_run_policy, make_session
from auditor.collect.stage import Targets
from auditor.core.errors import ConfigError
from auditor.core.kinds import KINDS
from auditor.core.request import ScanRequest
from auditor.core.terminal import echo, is_terminal
from auditor.events.parse import ParseResult, ResourceTarget, parse_text
from auditor.history.database import HistoryError, bucket_users, recording_event_run, role_users
from auditor.report.console import TerminalProgress
from auditor.report.outputs import prepare_output_dir

NOTHING_TO_DO = "nothing to do"


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What one event run re-checks, before any AWS call."""

    targets: Targets
    #: ARNs whose history findings this run replaces (named, or known bucket users).
    rechecked: frozenset[str]
    buckets: frozenset[str]
    event_ids: tuple[str, ...]
    known_users: int = 0


@dataclass(slots=True)
class EventOutcome:
    """The result of one event run: the exit code, one line, and the document (if run)."""

    exit_code: int
    message: str
    doc: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Small and JSON-able: what the Lambda returns (and logs)."""
        out: dict[str, Any] = {"status": "nothing_to_do" if self.doc is None else "checked"}
        out["message"] = self.message
        out["exit_code"] = self.exit_code
        if self.doc is not None:
            findings = self.doc["findings"]
            out["counts"] = self.doc["summary"]["by_status"]
            out["resources"] = sorted({f["resource_arn"] for f in findings})
            out["failed"] = sorted(
                f"{f['resource_arn']} {f['check_id']}" for f in findings if f["status"] == "FAIL"
            )
            history = self.doc.get("history") or {}
            out["history"] = {
                k: history.get(k) for k in ("new", "unchanged", "error") if k in history
            }
            out["history"]["resolved"] = len(history.get("resolved") or [])
            out["remediations"] = [
                {k: r.get(k) for k in ("resource_arn", "status")}
                for r in self.doc.get("remediations") or []
            ]
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def target_arn(target: ResourceTarget) -> str | None:
    """The ARN of a targeted resource: given, or (tracking servers) built from the name."""
    if target.arn:
        return target.arn
    kind = KINDS[target.kind]
    if target.name and kind.list_id_field != kind.arn_field:
        return f"arn:aws:sagemaker:{target.region}:{target.account_id}:{kind.name}/{target.name}"
    return None


def plan_event(parsed: ParseResult, users_of: Any, role_users_of: Any = None) -> EventPlan:
    """Targets of a parsed input; ``users_of(bucket)`` lists the bucket's known users,
    ``role_users_of(role target)`` the known users of an execution role."""
    scopes: set[tuple[str, str]] = set()
    names: set[str] = set()
    rechecked: set[str] = set()
    for t in parsed.resources:
        scopes.add((t.account_id, t.region))
        arn = target_arn(t)
        names.update(x for x in (t.name, t.arn, arn) if x)
        if arn:
            rechecked.add(arn)
    buckets = {b.bucket for b in parsed.buckets}
    known = 0
    for b in parsed.buckets:
        scopes.add((b.account_id, b.region))
        for user in users_of(b.bucket):
            known += 1
            scopes.add((user["account_id"], user["region"]))
            names.add(user["resource_arn"])
            rechecked.add(user["resource_arn"])
    for role in parsed.roles:  # IAM is global: only the role's known users are re-checked
        for user in role_users_of(role) if role_users_of else ():
            known += 1
            scopes.add((user["account_id"], user["region"]))
            names.add(user["resource_arn"])
            rechecked.add(user["resource_arn"])
    ids = tuple(sorted({t.event_id for t in [*parsed.resources, *parsed.buckets, *parsed.roles]}))
    targets = Targets(frozenset(scopes), frozenset(names), frozenset(buckets))
    return EventPlan(targets, frozenset(rechecked), frozenset(buckets), ids, known)


def _role_names(parsed: ParseResult) -> list[str]:
    return sorted(
        f"role {r.role_name}" if r.role_name else f"a role of account {r.account_id}"
        for r in parsed.roles
    )


def event_request(request: ScanRequest, plan: EventPlan) -> ScanRequest:
    """The scan request of an event run: the targets' accounts and regions."""
    accounts = tuple(sorted({a for a, _ in plan.targets.scopes}))
    regions = tuple(sorted({r for _, r in plan.targets.scopes}))
    return replace(request, accounts=accounts, regions=regions)


def run_event(
    parsed: ParseResult,
    request: ScanRequest,
    session: boto3.Session,
    out_dir: Path,
) -> EventOutcome:
    """Re-check what ``parsed`` targets, write the reports in ``out_dir``, record history.

    ``request`` carries the scan options (its accounts and regions are replaced by the
    targets'); ``request.no_history`` off means ``history_path`` (or OUTPUT_DIR's
    history.sqlite) is used. Raises ConfigError when nothing could be scanned.
    """
    warnings = list(parsed.errors)
    if parsed.nothing_to_do:
        return EventOutcome(0, parsed.summary(), warnings=warnings)
    location = None if request.no_history else history_location(request, out_dir)

    def users_of(bucket: str) -> list[dict[str, Any]]:
        if location is None:
            return []
        try:
            return list(with_history(session, location, lambda p: bucket_users(p, bucket)))
        except HistoryError as exc:
            warnings.append(f"warning: {exc}; known users of {bucket} not read")
            return []

    def role_users_of(role: Any) -> list[dict[str, Any]]:
        if location is None:
            return []
        try:
            found = with_history(
                session, location, lambda p: role_users(p, role.account_id, role.role_name)
            )
            return list(found)
        except HistoryError as exc:
            warnings.append(f"warning: {exc}; known users of role {role.role_name} not read")
            return []

    plan = plan_event(parsed, users_of, role_users_of)
    if not plan.targets.scopes:  # only roles, and no resource is known to use them
        names = ", ".join(_role_names(parsed))
        message = f"{NOTHING_TO_DO}: no known resource uses {names}"
        return EventOutcome(0, message, warnings=warnings)
    request = event_request(request, plan)
    rules, policy = load_run_policy(request)
    progress = TerminalProgress(enabled=False)
    result = execute_scan(session, request, rules, policy, progress, plan.targets)
    # "Nothing to do" only when the scope was read: a failed listing is an incomplete run.
    if not (result.resources or parsed.resources or plan.known_users or result.errors):
        names = ", ".join(sorted(plan.buckets))
        return EventOutcome(
            0, f"{NOTHING_TO_DO}: no known resource uses bucket {names}", warnings=warnings
        )
    rechecked = set(plan.rechecked) | {r.arn for r in result.resources}

    def record(path: Path, doc: dict[str, Any]) -> AbstractContextManager[Any]:
        fallback = scope_key_of(doc, request)
        return recording_event_run(
            path, doc, rechecked, plan.event_ids, fallback, keep=request.history_keep
        )

    run = RunContext(request, session, policy, out_dir)
    doc, code = finish_run(result, run, AfterScan(recorder=record, show_summary=False))
    return EventOutcome(code, parsed.summary(), doc, warnings)


def temporary_output() -> tempfile.TemporaryDirectory[str]:
    """Where an event run without ``--output-dir`` writes (the JSON goes to stdout)."""
    return tempfile.TemporaryDirectory(prefix="mlflow-audit-event-")


def read_input(source: str) -> str | bytes:
    """The event text from FILE or ``-`` (stdin); an unreadable file is a ConfigError."""
    if source == "-":
        if is_terminal(sys.stdin):  # a person at a prompt: say what it waits for
            echo("mlflow-audit event: reading the event from stdin (paste it, then Ctrl-D)")
        return sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or type(exc).__name__}") from None


def bad_input(parsed: ParseResult) -> bool:
    """Input that is not an event at all (not JSON, not a record): bad input, exit 2."""
    return parsed.nothing_to_do and bool(parsed.errors) and not parsed.skipped


def event_options(values: dict[str, Any]) -> dict[str, Any]:
    """The command line's values for an event run: without ``--output-dir`` the findings
    JSON goes to stdout, and the history is kept only where ``--history`` names one."""
    if values["output_dir"] is not None:
        return values
    no_history = values["no_history"] or not values["history_path"]
    return {**values, "formats": ["json"], "no_history": no_history}


def run_event_command(source: str, request: ScanRequest, to_stdout: bool) -> int:
    """``mlflow-audit event``: one line "nothing to do" (exit 0), or the findings document
    on stdout (``to_stdout``) or in ``request.output_dir``, and scan's exit code."""
    parsed = parse_text(read_input(source))
    if bad_input(parsed):
        raise ConfigError("bad event: " + "; ".join(parsed.errors))
    if parsed.nothing_to_do:
        echo(parsed.summary())
        return 0
    session = make_session(request.profile)
    with temporary_output() as tmp:
        out_dir = Path(tmp) if to_stdout else prepare_output_dir(request.output_dir)
        outcome = run_event(parsed, request, session, out_dir)
        for warning in outcome.warnings:
            echo(warning)
        if outcome.doc is None:
            echo(outcome.message)
            return outcome.exit_code
        if to_stdout:
            echo((out_dir / "findings.json").read_text(encoding="utf-8"), nl=False, err=False)
    if not request.quiet:
        counts = outcome.doc["summary"]["by_status"]
        told = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        echo(f"mlflow-audit event: {outcome.message}: {told or 'no findings'}")
    return outcome.exit_code
