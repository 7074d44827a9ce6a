"""``--remediate``: plan (pure), confirm, apply on the pool, and what Ctrl-C leaves.

The plan is ``auditor.remediate.plan``; each planned action is applied (and verified)
by ``auditor.remediate.update.Applier``, the only writer, and journalled to
``JOURNAL_NAME`` in the output directory.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditor.aws.clients import ClientCache
from auditor.aws.tasks import TaskGroup
from auditor.core.request import DEFAULT_STABLE_WAIT_S
from auditor.core.terminal import echo
from auditor.core.textsafe import visible
from auditor.remediate.journal import JOURNAL_NAME, Journal
from auditor.remediate.plan import plan
from auditor.remediate.prompt import PromptInterrupted, confirm, show_plan
from auditor.remediate.update import POLL_INTERVAL_S, Applier

__all__ = [
    "JOURNAL_NAME",
    "RemediationInterrupted",
    "remediate",
    "run_remediation",
    "stdin_is_terminal",
]


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (the one environment fact the CLI reads)."""
    return sys.stdin.isatty()


def run_remediation(result: Any, session: Any, **options: Any) -> list[dict[str, Any]]:
    """Plan, confirm and apply (see :func:`remediate`); the run's ``finished_at`` then
    moves to when remediation ended, so the run's times include its writes."""
    try:
        return remediate(result, session, **options)
    finally:
        result.finished_at = max(result.finished_at, dt.datetime.now(dt.UTC))


def remediate(
    result: Any,
    session: Any,
    *,
    dry_run: bool,
    yes: bool,
    max_changes: int,
    out_dir: Path,
    concurrency: int,
    quiet: bool,
    stable_wait_s: float = DEFAULT_STABLE_WAIT_S,
    interactive: bool | None = None,
) -> list[dict[str, Any]]:
    """Plan, confirm and apply; returns the remediation records for findings.json.

    Ctrl-C (or Ctrl-D at the prompt) raises RemediationInterrupted carrying the records:
    waits end at once (no waiting out ``--stable-wait``), updates in flight finish and
    are journalled, nothing more is sent.
    """
    actions = plan(result.facts)
    todo = [a for a in actions if a.status == "planned"]
    for a in todo[max_changes:]:
        a.reason = f"{a.reason}; not applied: over --max-changes {max_changes}"
    todo = todo[:max_changes]
    if dry_run and actions and not quiet:
        show_plan(
            actions, f"remediation plan (--dry-run, nothing is changed): {len(todo)} update(s)"
        )
    if dry_run or not todo:
        return [a.to_dict() for a in actions]
    interactive = stdin_is_terminal() if interactive is None else interactive
    try:
        go, why = confirm(todo, yes, interactive)
    except PromptInterrupted as stop:
        for a in todo:
            a.reason = f"{a.reason}; not confirmed: {stop}"
        raise RemediationInterrupted([a.to_dict() for a in actions]) from None
    if not go:
        for a in todo:
            a.reason = f"{a.reason}; {why}"
        if not quiet:
            echo(f"remediation: {why}")
        return [a.to_dict() for a in actions]

    credentials = {
        a.account_id: a.credentials for a in result.accounts if a.credentials is not None
    }
    clients = ClientCache(session, pool_size=concurrency)
    applier = Applier(
        client_for=lambda acct, region, service: clients.client(region, service),
        acting_as=lambda acct: clients.acting_as(credentials[acct]),
        journal=Journal(Path(out_dir) / JOURNAL_NAME),
        stable_wait_s=stable_wait_s,
        on_wait=None if quiet else _waiting(stable_wait_s),
        poll_s=min(POLL_INTERVAL_S, max(0.05, stable_wait_s / 10)),
    )
    group = TaskGroup(max_workers=max(1, min(concurrency, len(todo))))
    try:
        for a in todo:
            group.submit(applier.apply, a)
        group.wait()
    except KeyboardInterrupt:
        # End every wait now, start nothing new; updates in flight finish (journalled).
        applier.stop.set()
        group.cancel()
        group.close()
        for a in todo:
            if a.status == "planned":
                a.reason = f"{a.reason}; not applied: interrupted"
        raise RemediationInterrupted([a.to_dict() for a in actions]) from None
    group.close()
    if not quiet:  # what was written: the same table as the plan, with each outcome
        counts = Counter(a.status for a in actions)
        show_plan(actions, "remediation: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return [a.to_dict() for a in actions]


def _waiting(stable_wait_s: float) -> Callable[[Any, str], None]:
    def say(action: Any, status: str) -> None:
        echo(
            f"remediation: waiting up to {stable_wait_s:g}s for "
            f"{visible(action.resource_name)} ({action.account_id}/{action.region}) "
            f"to leave {visible(status)}"
        )

    return say


class RemediationInterrupted(KeyboardInterrupt):
    """Ctrl-C during remediation, carrying the records of what was and was not done."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__("remediation interrupted")
        self.records = records
