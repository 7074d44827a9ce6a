"""``--remediate``: plan (pure), confirm, apply (the only writer), verify, journal.

The plan pins ``S3BucketOwnerAccountId`` with the fail-closed choice of
``auditor.evaluate.fixes.choose_owner``. Apply re-describes each server right before updating it
and skips it when it changed since the scan or is not in a stable status (after a
bounded wait), updates it, describes it again and checks the values read back. Every
write attempt is appended to a JSON Lines journal before and after it happens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from auditor.aws.clients import ClientCache
from auditor.aws.errors import error_code, error_message
from auditor.aws.tasks import TaskGroup
from auditor.core.kinds import TRACKING_SERVER_KIND
from auditor.core.model import TRACKING_SERVER
from auditor.core.request import DEFAULT_STABLE_WAIT_S
from auditor.core.terminal import echo
from auditor.evaluate.fixes import choose_owner, update_command
from auditor.remediate.membership import organization_members
from auditor.remediate.prompt import PromptInterrupted, confirm, show_plan

# Statuses in which UpdateMlflowTrackingServer is accepted (the kind's data); anything
# else is in flux.
STABLE_STATUSES = TRACKING_SERVER_KIND.stable_statuses
JOURNAL_NAME = "remediation-journal.jsonl"

POLL_INTERVAL_S = 5.0


@dataclass(slots=True)
class Action:
    account_id: str
    region: str
    resource_name: str
    resource_arn: str
    status: str  # planned | applied | verified | skipped | failed
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    command: str
    artifact_store_uri: str | None = None
    error: dict[str, str] | None = None
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("artifact_store_uri")
        return d


def _values(verification: bool | None, owner: str | None) -> dict[str, Any]:
    return {"S3BucketOwnerVerification": verification, "S3BucketOwnerAccountId": owner}


def complies(verification: bool | None, pinned: str | None, account_id: str, owner: str) -> bool:
    """Verification on and the effective expected owner already the chosen one."""
    return verification is True and (pinned or account_id) == owner


def plan(facts_list: list[dict[str, Any]]) -> list[Action]:
    """Pure: one action per tracking server that needs (or cannot get) a change."""
    actions = []
    for facts in facts_list:
        resource = facts["resource"]
        if resource["type"] != TRACKING_SERVER:
            continue
        verification = (
            resource["owner_verification"] if resource["owner_verification_reported"] else None
        )
        before = _values(verification, resource["pinned_owner"])
        owner, reason = choose_owner(facts)
        common = {
            "account_id": resource["account_id"],
            "region": resource["region"],
            "resource_name": resource["name"],
            "resource_arn": resource["arn"],
            "before": before,
            "command": update_command(resource, owner),
            "artifact_store_uri": resource["artifact_store_uri"],
        }
        if owner is None:
            actions.append(Action(status="skipped", reason=reason, after=before, **common))
            continue
        if owner not in facts["trust"]["trusted_accounts"]:  # defence in depth
            actions.append(
                Action(
                    status="skipped",
                    after=before,
                    **common,
                    reason=f"refusing to pin {owner}: not a trusted account",
                )
            )
            continue
        if complies(verification, resource["pinned_owner"], resource["account_id"], owner):
            continue
        actions.append(
            Action(status="planned", reason=reason, after=_values(True, owner), **common)
        )
    return actions


class Journal:
    """Append-only JSON Lines record of every write attempted (flushed and synced)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, action: Action, result: str, **extra: Any) -> None:
        entry = {
            "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "account_id": action.account_id,
            "region": action.region,
            "server": action.resource_name,
            "arn": action.resource_arn,
            "before": action.before,
            "after": action.after,
            "result": result,
            **extra,
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


@dataclass(slots=True)
class Applier:
    """Applies planned actions.

    ``sagemaker_for(account, region)`` returns a client and ``acting_as(account)`` a
    context in which its calls act as that account (see auditor.aws.clients).
    """

    sagemaker_for: Callable[[str, str], Any]
    acting_as: Callable[[str], Any]
    journal: Journal
    stable_wait_s: float = DEFAULT_STABLE_WAIT_S
    poll_s: float = POLL_INTERVAL_S
    sleep: Callable[[float], None] | None = None  # default: wait on ``stop``
    monotonic: Callable[[], float] = time.monotonic
    update_calls: int = field(default=0)
    #: Set on Ctrl-C: every wait ends at once and no further update is sent.
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _pause(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        else:
            self.stop.wait(seconds)

    def _interrupted(self, action: Action) -> bool:
        if self.stop.is_set():
            action.status = "skipped"
            action.reason = f"{action.reason}; not applied: interrupted"
            return True
        return False

    def _describe(self, sm: Any, name: str) -> dict[str, Any]:
        return sm.describe_mlflow_tracking_server(TrackingServerName=name)

    def _wait_stable(self, sm: Any, action: Action) -> dict[str, Any] | None:
        """Describe until the server is in a stable status, within the bounded wait."""
        deadline = self.monotonic() + self.stable_wait_s
        while True:
            if self._interrupted(action):
                return None
            try:
                current = self._describe(sm, action.resource_name)
            except ClientError as exc:
                if error_code(exc) not in ("ResourceNotFound", "ResourceNotFoundException"):
                    raise
                action.status = "skipped"
                action.reason = "the server no longer exists"
                return None
            status = current.get(TRACKING_SERVER_KIND.status_field)
            if status in STABLE_STATUSES:
                return current
            if self.monotonic() + self.poll_s > deadline:
                action.status = "skipped"
                action.reason = (
                    f"server is {status}, not in a stable state after waiting "
                    f"{self.stable_wait_s:g}s; re-run later"
                )
                return None
            self._pause(self.poll_s)

    def apply(self, action: Action) -> None:
        try:
            with self.acting_as(action.account_id):
                self._apply(self.sagemaker_for(action.account_id, action.region), action)
        except Exception as exc:  # one failure is recorded, never fatal
            action.status = "failed"
            action.error = {"code": error_code(exc), "message": error_message(exc)}
            action.reason = f"{error_code(exc)}: {error_message(exc)}"

    def _apply(self, sm: Any, action: Action) -> None:
        deadline = self.monotonic() + self.stable_wait_s
        while True:
            current = self._wait_stable(sm, action)
            if current is None:
                return
            if not self._unchanged(current, action) or self._interrupted(action):
                return
            try:
                self.journal.record(action, "attempt")
                with self._lock:
                    self.update_calls += 1
                action.attempts += 1
                sm.update_mlflow_tracking_server(
                    TrackingServerName=action.resource_name,
                    S3BucketOwnerVerification=True,
                    S3BucketOwnerAccountId=action.after["S3BucketOwnerAccountId"],
                )
            except ClientError as exc:
                self.journal.record(
                    action, "error", error_code=error_code(exc), error_message=error_message(exc)
                )
                # Conflict: the server started changing between Describe and Update.
                if error_code(exc) == "ConflictException" and self.monotonic() < deadline:
                    self._pause(self.poll_s)
                    continue
                raise
            break
        action.status = "applied"
        self.journal.record(action, "applied")
        self._verify(sm, action)

    def _unchanged(self, current: dict[str, Any], action: Action) -> bool:
        """False (and the action skipped) when the server changed since the scan."""
        now = _values(
            current.get("S3BucketOwnerVerification"), current.get("S3BucketOwnerAccountId")
        )
        if current.get("ArtifactStoreUri") != action.artifact_store_uri or now != action.before:
            if (
                complies(
                    now["S3BucketOwnerVerification"],
                    now["S3BucketOwnerAccountId"],
                    action.account_id,
                    action.after["S3BucketOwnerAccountId"],
                )
                and current.get("ArtifactStoreUri") == action.artifact_store_uri
            ):
                action.status = "skipped"
                action.reason = "already compliant (changed since the scan)"
            else:
                action.status = "skipped"
                action.reason = (
                    "configuration changed since the scan "
                    f"(now {now}, URI {current.get('ArtifactStoreUri')!r}); "
                    "re-run the scan to plan it again"
                )
            return False
        return True

    def _verify(self, sm: Any, action: Action) -> None:
        after = self._describe(sm, action.resource_name)
        got = _values(after.get("S3BucketOwnerVerification"), after.get("S3BucketOwnerAccountId"))
        if got == action.after:
            action.status = "verified"
            self.journal.record(action, "verified")
        else:
            action.status = "failed"
            action.error = {
                "code": "VerificationMismatch",
                "message": f"Describe after the update returned {got}",
            }
            action.reason = "the update was accepted but Describe does not show the new values"
            self.journal.record(action, "verify-failed", read_back=got)


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt (the one environment fact the CLI reads)."""
    return sys.stdin.isatty()


def _learn_membership(facts_list: list[dict[str, Any]], session: Any) -> None:
    """Organization membership for the plan (``trust.org_accounts``), unless the caller
    already set it (``--org``): asked once; None when Organizations cannot be read."""
    if all("org_accounts" in f["trust"] for f in facts_list):
        return
    members = organization_members(session)
    for facts in facts_list:
        facts["trust"].setdefault("org_accounts", members)


def run_remediation(
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
    _learn_membership(result.facts, session)
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
        sagemaker_for=lambda acct, region: clients.client(region, "sagemaker"),
        acting_as=lambda acct: clients.acting_as(credentials[acct]),
        journal=Journal(Path(out_dir) / JOURNAL_NAME),
        stable_wait_s=stable_wait_s,
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
    return [a.to_dict() for a in actions]


class RemediationInterrupted(KeyboardInterrupt):
    """Ctrl-C during remediation, carrying the records of what was and was not done."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__("remediation interrupted")
        self.records = records
