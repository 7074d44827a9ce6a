"""What a person sees on the terminal: progress and the run summary (stderr only).

stdout stays clean for scripts; cron (no terminal) and ``--quiet`` get no progress.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.core.model import Status
from auditor.core.terminal import echo, style
from auditor.core.textsafe import visible
from auditor.report.document import severity_first

#: At most this many lines per list (scopes, waivers, new FAILs) in the summary; every
#: FAIL of a NAMED_SEVERITIES severity is listed whatever the limit.
SUMMARY_LIST_LIMIT = 20
NAMED_SEVERITIES = ("critical", "high")

if TYPE_CHECKING:
    from auditor.core.model import ProgressSnapshot

SEVERITY_COLOURS = {
    "critical": "red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "white",
}


class TerminalProgress:
    """One rewritten stderr line, at most a few times a second, only on a terminal.

    Cron (no terminal) and ``--quiet`` get nothing.
    """

    def __init__(self, enabled: bool, interval_s: float = 0.2) -> None:
        self.enabled = enabled
        self.interval_s = interval_s
        self._last = -1
        self._last_time = float("-inf")

    def __call__(self, p: ProgressSnapshot) -> None:
        now = time.monotonic()
        final = p.scopes_done == p.scopes_total
        if not self.enabled or (now - self._last_time < self.interval_s and not final):
            return
        self._last, self._last_time = p.scopes_done, now
        echo(
            f"\rscanning: {p.scopes_done}/{p.scopes_total} scopes, "
            f"{p.resources} resources described, {p.errors} errors ",
            nl=False,
        )

    def close(self) -> None:
        if self.enabled and self._last >= 0:
            echo("")


def print_summary(doc: dict[str, Any], written: list[Path], push_lines: Iterable[str] = ()) -> None:
    """A short human summary on stderr (stdout stays clean for scripts).

    ``push_lines``: what the pushes after the reports did (Security Hub, SNS), told by
    the integrations that made them, printed before the verdict.
    """
    summary = doc["summary"]
    run = doc["run"]
    counts = ", ".join(f"{summary['by_status'][s.value]} {s.value}" for s in Status)
    follow_ons = summary.get("unknown_follow_on") or 0
    if follow_ons:  # the UNKNOWNs to review, and apart those a FAIL already explains
        unknown = summary["by_status"][Status.UNKNOWN.value]
        counts = counts.replace(
            f"{unknown} {Status.UNKNOWN.value}",
            f"{unknown - follow_ons} {Status.UNKNOWN.value} (+{follow_ons} following from a FAIL)",
        )
    echo(
        f"mlflow-audit {run['tool_version']}: {len(run['accounts'])} account(s), "
        f"{len(run['regions'])} region(s), {summary['resources']} resource(s), "
        f"{summary['total']} finding(s): {counts}",
        err=True,
    )
    fails = summary["fail_by_severity"]
    parts = [style(f"{fails[s]} {s}", fg=SEVERITY_COLOURS[s]) for s in fails if fails[s]]
    if parts:
        echo("FAIL by severity: " + ", ".join(parts))
    for warning in run.get("warnings") or []:
        echo(style(f"warning: {visible(warning)}", fg="yellow"))
    for kind, cov in (run.get("coverage") or {}).items():
        if cov.get("not_offered"):
            regions = ", ".join(visible(r) for r in cov["not_offered"])
            echo(f"{kind}: not offered in {regions}")
    if doc["errors"]:
        echo(
            style(
                f"{len(doc['errors'])} scope(s) could not be read: the scan is incomplete",
                fg="yellow",
            )
        )
        _print_list(
            [
                f"{e.get('account_id') or '-'}/{e.get('region') or '-'}: "
                f"{e.get('operation')} {e.get('error_code')}"
                for e in doc["errors"]
            ]
        )
    expired = doc["run"].get("expired_waivers") or []
    if expired:
        echo(style(f"{len(expired)} waiver(s) expired and no longer mute:", fg="yellow"))
        _print_list(
            [
                f"{w.get('check_id')} {w.get('resource')} expired {w.get('expires')}"
                + (f" (policy line {w['line']})" if w.get("line") else "")
                for w in expired
            ]
        )
    for rem_status in ("verified", "applied", "planned", "skipped", "failed"):
        n = sum(1 for r in doc.get("remediations", []) if r["status"] == rem_status)
        if n:
            echo(f"remediation: {n} {rem_status}")
    _print_history(doc)
    for line in push_lines:
        echo(visible(line))
    echo(f"verdict: {summary['verdict']} (exit {summary['exit_code']})")
    for path in written:
        echo(f"wrote {path}")


def _print_history(doc: dict[str, Any]) -> None:
    history = doc.get("history")
    if not isinstance(history, dict) or "error" in history:
        return  # no history kept, or its failure was already reported as a warning
    since = (
        f"since run {history['previous_run_id']}"
        if history["previous_run_id"]
        else "first run of this scope"
    )
    echo(
        f"history ({since}): {history['new']} new, {history['unchanged']} unchanged, "
        f"{len(history['resolved'])} resolved",
        err=True,
    )
    if doc["run"].get("fail_on_new"):
        echo("--fail-on-new: only new FAILs decide the exit code")
    new_fails = [f for f in doc["findings"] if f["status"] == "FAIL" and f.get("change") == "new"]
    if new_fails:
        echo(f"new FAIL(s) since the previous run: {len(new_fails)}")
        for line in failure_lines(new_fails, doc["findings"]):
            echo(visible(line))


def failure_lines(fails: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[str]:
    """``fails`` worst first (severity, then exploitable now): every critical and high
    named, each with the UNKNOWNs that only follow from it; the rest named while they fit
    in SUMMARY_LIST_LIMIT lines and then counted by severity."""
    follow: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        if f.get("caused_by") and f["status"] == Status.UNKNOWN:
            follow.setdefault((f["resource_arn"], f["caused_by"]), []).append(f["check_id"])
    ordered = severity_first(fails, findings)
    named = [f for f in ordered if f["severity"] in NAMED_SEVERITIES]
    rest = ordered[len(named) :]
    shown = rest[: max(0, SUMMARY_LIST_LIMIT - len(named))]
    lines = []
    for f in named + shown:
        lines.append(
            f"  {f['severity']} {f['check_id']} {f['account_id']}/{f['region']} "
            f"{f['resource_name']}"
        )
        checks = follow.get((f["resource_arn"], f["check_id"]))
        if checks:
            lines.append(f"    + {len(checks)} UNKNOWN following from it: {', '.join(checks)}")
    hidden = Counter(f["severity"] for f in rest[len(shown) :])
    if hidden:
        by_sev = ", ".join(f"{n} {sev}" for sev, n in hidden.items())
        lines.append(f"  ... and {sum(hidden.values())} more: {by_sev} (see the reports)")
    return lines


def _print_list(lines: list[str]) -> None:
    """Indented lines, AWS strings made visible, at most SUMMARY_LIST_LIMIT of them."""
    for line in lines[:SUMMARY_LIST_LIMIT]:
        echo(f"  {visible(line)}")
    if len(lines) > SUMMARY_LIST_LIMIT:
        echo(f"  ... and {len(lines) - SUMMARY_LIST_LIMIT} more (see the reports)")
