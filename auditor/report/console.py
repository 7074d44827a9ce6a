"""What a person sees on the terminal: progress and the run summary (stderr only).

stdout stays clean for scripts; cron (no terminal) and ``--quiet`` get no progress.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from auditor.core.model import Status
from auditor.core.textsafe import visible

#: At most this many lines per list (scopes, waivers, new FAILs) in the summary.
SUMMARY_LIST_LIMIT = 20

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
        click.echo(
            f"\rscanning: {p.scopes_done}/{p.scopes_total} scopes, "
            f"{p.resources} resources described, {p.errors} errors ",
            nl=False,
            err=True,
        )

    def close(self) -> None:
        if self.enabled and self._last >= 0:
            click.echo("", err=True)


def print_summary(doc: dict[str, Any], written: list[Path]) -> None:
    """A short human summary on stderr (stdout stays clean for scripts)."""
    summary = doc["summary"]
    run = doc["run"]
    counts = ", ".join(f"{summary['by_status'][s.value]} {s.value}" for s in Status)
    click.echo(
        f"mlflow-audit {run['tool_version']}: {len(run['accounts'])} account(s), "
        f"{len(run['regions'])} region(s), {summary['resources']} resource(s), "
        f"{summary['total']} finding(s): {counts}",
        err=True,
    )
    fails = summary["fail_by_severity"]
    parts = [click.style(f"{fails[s]} {s}", fg=SEVERITY_COLOURS[s]) for s in fails if fails[s]]
    if parts:
        click.echo("FAIL by severity: " + ", ".join(parts), err=True)
    for warning in run.get("warnings") or []:
        click.echo(click.style(f"warning: {visible(warning)}", fg="yellow"), err=True)
    for kind, cov in (run.get("coverage") or {}).items():
        if cov.get("not_offered"):
            regions = ", ".join(visible(r) for r in cov["not_offered"])
            click.echo(f"{kind}: not offered in {regions}", err=True)
    if doc["errors"]:
        click.echo(
            click.style(
                f"{len(doc['errors'])} scope(s) could not be read: the scan is incomplete",
                fg="yellow",
            ),
            err=True,
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
        click.echo(
            click.style(f"{len(expired)} waiver(s) expired and no longer mute:", fg="yellow"),
            err=True,
        )
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
            click.echo(f"remediation: {n} {rem_status}", err=True)
    _print_history(doc)
    from auditor.integrations.push import summary_lines

    for line in summary_lines(doc):
        click.echo(visible(line), err=True)
    click.echo(f"verdict: {summary['verdict']} (exit {summary['exit_code']})", err=True)
    for path in written:
        click.echo(f"wrote {path}", err=True)


def _print_history(doc: dict[str, Any]) -> None:
    history = doc.get("history")
    if not isinstance(history, dict) or "error" in history:
        return  # no history kept, or its failure was already reported as a warning
    since = (
        f"since run {history['previous_run_id']}"
        if history["previous_run_id"]
        else "first run of this scope"
    )
    click.echo(
        f"history ({since}): {history['new']} new, {history['unchanged']} unchanged, "
        f"{len(history['resolved'])} resolved",
        err=True,
    )
    if doc["run"].get("fail_on_new"):
        click.echo("--fail-on-new: only new FAILs decide the exit code", err=True)
    new_fails = [f for f in doc["findings"] if f["status"] == "FAIL" and f.get("change") == "new"]
    if new_fails:
        click.echo(f"new FAIL(s) since the previous run: {len(new_fails)}", err=True)
        _print_list(
            [
                f"{f['severity']} {f['check_id']} {f['account_id']}/{f['region']} "
                f"{f['resource_name']}"
                for f in new_fails
            ]
        )


def _print_list(lines: list[str]) -> None:
    """Indented lines, AWS strings made visible, at most SUMMARY_LIST_LIMIT of them."""
    for line in lines[:SUMMARY_LIST_LIMIT]:
        click.echo(f"  {visible(line)}", err=True)
    if len(lines) > SUMMARY_LIST_LIMIT:
        click.echo(f"  ... and {len(lines) - SUMMARY_LIST_LIMIT} more (see the reports)", err=True)
