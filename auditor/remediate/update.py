"""Apply one planned action: the only code that writes to AWS.

Re-describes the resource right before updating it and skips it when it changed since
the scan or is not in a stable status (after a bounded wait), updates it, describes it
again and checks the values read back. Every write attempt is journalled before and
after it happens. The kind (``auditor.core.kinds``) names the calls, their parameters
and where the Describe answer keeps each value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from auditor.aws.classify import gone
from auditor.aws.errors import error_code, error_message
from auditor.core.kinds import ResourceKind, kind_of
from auditor.core.request import DEFAULT_STABLE_WAIT_S
from auditor.remediate.journal import Journal
from auditor.remediate.plan import Action, complies, values

POLL_INTERVAL_S = 5.0


@dataclass(slots=True)
class Applier:
    """Applies planned actions.

    ``client_for(account, region, service)`` returns a client and ``acting_as(account)``
    a context in which its calls act as that account (see auditor.aws.clients).
    """

    client_for: Callable[[str, str, str], Any]
    acting_as: Callable[[str], Any]
    journal: Journal
    stable_wait_s: float = DEFAULT_STABLE_WAIT_S
    poll_s: float = POLL_INTERVAL_S
    sleep: Callable[[float], None] | None = None  # default: wait on ``stop``
    monotonic: Callable[[], float] = time.monotonic
    update_calls: int = field(default=0)
    #: Set on Ctrl-C: every wait ends at once and no further update is sent.
    stop: threading.Event = field(default_factory=threading.Event)
    #: Told once per action when it starts waiting for the resource to become stable
    #: (``on_wait(action, status)``), so a person sees why nothing seems to happen.
    on_wait: Callable[[Action, str], None] | None = None
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

    @staticmethod
    def _describe(client: Any, kind: ResourceKind, action: Action) -> dict[str, Any]:
        ident = kind.identifier(action.resource_name, action.resource_arn)
        return getattr(client, kind.method(kind.describe_api))(**{kind.describe_param: ident})

    def _wait_stable(
        self, client: Any, kind: ResourceKind, action: Action
    ) -> dict[str, Any] | None:
        """Describe until the resource is in a stable status, within the bounded wait."""
        deadline = self.monotonic() + self.stable_wait_s
        told = False
        while True:
            if self._interrupted(action):
                return None
            try:
                current = self._describe(client, kind, action)
            except ClientError as exc:
                if not gone(exc):  # the same "deleted" decision as the Describe step
                    raise
                action.status = "skipped"
                action.reason = f"the {kind.short} no longer exists"
                return None
            status = kind.value(current, kind.status_field)
            if status in kind.stable_statuses:
                return current
            if self.monotonic() + self.poll_s > deadline:
                action.status = "skipped"
                action.reason = (
                    f"{kind.short} is {status}, not in a stable state after waiting "
                    f"{self.stable_wait_s:g}s; re-run later"
                )
                return None
            if not told and self.on_wait is not None:
                self.on_wait(action, str(status))
                told = True
            self._pause(self.poll_s)

    def apply(self, action: Action) -> None:
        try:
            kind = kind_of(action.resource_type)
            with self.acting_as(action.account_id):
                client = self.client_for(action.account_id, action.region, kind.service)
                self._apply(client, kind, action)
        except Exception as exc:  # one failure is recorded, never fatal
            action.status = "failed"
            action.error = {"code": error_code(exc), "message": error_message(exc)}
            action.reason = f"{error_code(exc)}: {error_message(exc)}"

    def _update(self, client: Any, kind: ResourceKind, action: Action) -> None:
        assert kind.update_api is not None  # the plan holds remediable kinds only
        params = {
            kind.describe_param: kind.identifier(action.resource_name, action.resource_arn),
            kind.param(kind.verification_param, kind.verification_field): True,
            kind.param(kind.owner_param, kind.owner_field): action.after["S3BucketOwnerAccountId"],
        }
        getattr(client, kind.method(kind.update_api))(**params)

    def _apply(self, client: Any, kind: ResourceKind, action: Action) -> None:
        deadline = self.monotonic() + self.stable_wait_s
        while True:
            current = self._wait_stable(client, kind, action)
            if current is None:
                return
            if not self._unchanged(kind, current, action) or self._interrupted(action):
                return
            try:
                self.journal.record(action, "attempt")
                with self._lock:
                    self.update_calls += 1
                action.attempts += 1
                self._update(client, kind, action)
            except ClientError as exc:
                self.journal.record(
                    action, "error", error_code=error_code(exc), error_message=error_message(exc)
                )
                # Conflict: the resource started changing between Describe and Update.
                if error_code(exc) == "ConflictException" and self.monotonic() < deadline:
                    self._pause(self.poll_s)
                    continue
                raise
            break
        action.status = "applied"
        self.journal.record(action, "applied")
        self._verify(client, kind, action)

    @staticmethod
    def _read(kind: ResourceKind, answer: dict[str, Any]) -> dict[str, Any]:
        return values(
            kind.value(answer, kind.verification_field), kind.value(answer, kind.owner_field)
        )

    def _unchanged(self, kind: ResourceKind, current: dict[str, Any], action: Action) -> bool:
        """False (and the action skipped) when the resource changed since the scan."""
        now = self._read(kind, current)
        uri = kind.value(current, kind.uri_field)
        if uri != action.artifact_store_uri or now != action.before:
            if (
                complies(
                    now["S3BucketOwnerVerification"],
                    now["S3BucketOwnerAccountId"],
                    action.account_id,
                    action.after["S3BucketOwnerAccountId"],
                )
                and uri == action.artifact_store_uri
            ):
                action.status = "skipped"
                action.reason = "already compliant (changed since the scan)"
            else:
                action.status = "skipped"
                action.reason = (
                    "configuration changed since the scan "
                    f"(now {now}, URI {uri!r}); "
                    "re-run the scan to plan it again"
                )
            return False
        return True

    def _verify(self, client: Any, kind: ResourceKind, action: Action) -> None:
        got = self._read(kind, self._describe(client, kind, action))
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
