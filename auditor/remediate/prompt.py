"""The remediation plan on the terminal, and the one confirmation prompt.

A person deciding whether to let mlflow-audit write to AWS sees, per server: where it
is, what will change, and why (the bucket and what S3 proved about its owner). Every
string from AWS goes through ``auditor.core.textsafe.visible``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from auditor.core.terminal import Interrupted, ask_yes_no, echo
from auditor.core.textsafe import visible

_WHY_WIDTH = 160


class PlannedAction(Protocol):
    account_id: str
    region: str
    resource_name: str
    status: str
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    artifact_store_uri: str | None


def _owner(value: Any, account_id: str) -> str:
    return str(value) if value else f"(unset: {account_id})"


def describe_change(action: PlannedAction) -> str:
    """``verification off -> on; owner 111.. -> 222..`` (or ``no change``): what is
    planned, or, once applied, what was written (a failed row: what was attempted)."""
    if action.status == "skipped":
        return "no change"
    parts = []
    was_on = action.before.get("S3BucketOwnerVerification")
    if was_on is not True:
        parts.append(f"verification {'absent' if was_on is None else 'off'} -> on")
    old = action.before.get("S3BucketOwnerAccountId")
    new = action.after.get("S3BucketOwnerAccountId")
    if old != new:
        parts.append(f"owner {_owner(old, action.account_id)} -> {new}")
    return "; ".join(parts) or "no change"


def plan_table(actions: Sequence[PlannedAction]) -> list[str]:
    """Fixed-width lines: server, account/region, status, change, why (with the bucket)."""
    head = ("SERVER", "ACCOUNT/REGION", "STATUS", "CHANGE", "WHY")
    rows = [head]
    for a in actions:
        why = a.reason
        if a.artifact_store_uri:
            why = f"{a.artifact_store_uri}: {why}"
        why = visible(why)
        if len(why) > _WHY_WIDTH:
            why = why[: _WHY_WIDTH - 1] + "~"
        rows.append(
            (
                visible(a.resource_name),
                f"{a.account_id}/{a.region}",
                a.status,
                describe_change(a),
                why,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)), r[-1]]).rstrip()
        for r in rows
    ]


def show_plan(actions: Sequence[PlannedAction], title: str) -> None:
    echo(title)
    for line in plan_table(actions):
        echo(f"  {line}")


class PromptInterrupted(Exception):
    """Ctrl-C or Ctrl-D at the prompt: the answer is "no", and the run ends with 130."""


def confirm(
    actions: Sequence[PlannedAction], yes: bool, interactive: bool
) -> tuple[bool, str | None]:
    """(go ahead, reason if not): --yes, or a terminal prompt; never without either.

    Raises PromptInterrupted on Ctrl-C / Ctrl-D: nothing is changed.
    """
    if yes:
        return True, None
    if not interactive:
        return False, "not confirmed: no terminal and no --yes, nothing was changed"
    show_plan(actions, f"mlflow-audit will update {len(actions)} tracking server(s):")
    try:
        go = ask_yes_no("Apply these changes?")
    except Interrupted:
        echo("")
        raise PromptInterrupted("interrupted at the prompt, nothing was changed") from None
    if go:
        return True, None
    return False, "not confirmed at the prompt, nothing was changed"
