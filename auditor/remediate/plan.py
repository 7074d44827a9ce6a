"""The remediation plan: pure, one action per resource that needs (or cannot get) a pin.

The plan pins the bucket's owner with the fail-closed choice of
``auditor.evaluate.fixes.choose_owner``, on every resource whose kind can verify its
bucket's owner (``ResourceKind.remediable``). ``before`` and ``after`` name the values
as findings.json's remediation records do (``S3BucketOwnerVerification``,
``S3BucketOwnerAccountId``), whatever the kind calls them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from auditor.core.kinds import kind_of
from auditor.evaluate.fixes import choose_owner, update_command


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
    """Pure: one action per remediable resource that needs (or cannot get) a change."""
    actions = []
    for facts in facts_list:
        resource = facts["resource"]
        if not kind_of(resource["type"]).remediable:
            continue
        verification = (
            resource["owner_verification"] if resource["owner_verification_reported"] else None
        )
        before = values(verification, resource["pinned_owner"])
        owner, reason = choose_owner(facts)
        common = {
            "account_id": resource["account_id"],
            "region": resource["region"],
            "resource_name": resource["name"],
            "resource_arn": resource["arn"],
            "before": before,
            "command": update_command(resource, owner),
            "artifact_store_uri": resource["artifact_store_uri"],
            "resource_type": resource["type"],
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
        actions.append(Action(status="planned", reason=reason, after=values(True, owner), **common))
    return actions
