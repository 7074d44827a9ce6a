"""The remediation plan: pure, one action per resource that needs (or cannot get) a pin.

The plan pins the bucket's owner as ``auditor.evaluate.fixes.decide`` decides (the same
decision the findings' fixes show), on every resource whose kind can verify its bucket's
owner (``ResourceKind.remediable``); a skipped resource has no command, its reason says
why. ``before`` and ``after`` name the values
as findings.json's remediation records do (``S3BucketOwnerVerification``,
``S3BucketOwnerAccountId``), whatever the kind calls them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from auditor.evaluate.fixes import decide


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
    resource_type: str = ""  # the kind's name (not part of the record)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("artifact_store_uri")
        d.pop("resource_type")
        return d


def values(verification: bool | None, owner: str | None) -> dict[str, Any]:
    """The ``before`` / ``after`` record of an action."""
    return {"S3BucketOwnerVerification": verification, "S3BucketOwnerAccountId": owner}


def complies(verification: bool | None, pinned: str | None, account_id: str, owner: str) -> bool:
    """Verification on and the effective expected owner already the chosen one."""
    return verification is True and (pinned or account_id) == owner


def plan(facts_list: list[dict[str, Any]]) -> list[Action]:
    """Pure: one action per remediable resource that needs (or cannot get) a change, as
    ``auditor.evaluate.fixes.decide`` decides (the decision its findings' fixes show)."""
    actions = []
    for facts in facts_list:
        resource = facts["resource"]
        decision = decide(facts)
        if decision.action in ("cannot", "none"):
            continue
        verification = (
            resource["owner_verification"] if resource["owner_verification_reported"] else None
        )
        before = values(verification, resource["pinned_owner"])
        planned = decision.action == "pin"
        actions.append(
            Action(
                account_id=resource["account_id"],
                region=resource["region"],
                resource_name=resource["name"],
                resource_arn=resource["arn"],
                status="planned" if planned else "skipped",
                reason=decision.reason,
                before=before,
                after=values(True, decision.owner) if planned else before,
                command=decision.command,
                artifact_store_uri=resource["artifact_store_uri"],
                resource_type=resource["type"],
            )
        )
    return actions
