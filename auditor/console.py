"""What a person sees on the terminal: progress and the run summary (stderr only).

stdout stays clean for scripts; cron (no terminal) and ``--quiet`` get no progress.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from auditor.model import Status

if TYPE_CHECKING:
    from auditor.scan import ProgressSnapshot

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
    if doc["errors"]:
        click.echo(
            click.style(
                f"{len(doc['errors'])} scope(s) could not be read: the scan is incomplete",
                fg="yellow",
            ),
            err=True,
        )
    for rem_status in ("verified", "applied", "planned", "skipped", "failed"):
        n = sum(1 for r in doc.get("remediations", []) if r["status"] == rem_status)
        if n:
            click.echo(f"remediation: {n} {rem_status}", err=True)
    _print_history(doc)
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
