"""Facts and findings for collected resources: the evaluate stage (no AWS calls)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from auditor.core.artifacts import ParsedUri
from auditor.core.model import BucketProof, Finding, Resource
from auditor.evaluate.engine import Rule, evaluate_all
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.policy import Policy
from auditor.evaluate.role_policy import ABSENT

if TYPE_CHECKING:
    from auditor.core.access import RoleRun


class _Unknowable(dict):  # type: ignore[type-arg]
    """``unknown`` for a resource that could not be described: every fact, one reason."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def get(self, key: Any, default: Any = None) -> Any:
        return self.reason


def _undescribed_facts(facts: dict[str, Any], reason: str) -> dict[str, Any]:
    """Facts of a listed resource whose Describe failed: nothing can be evaluated."""
    keep = {"type", "name", "arn", "account_id", "region"}
    facts["resource"] = {k: (v if k in keep else None) for k, v in facts["resource"].items()}
    facts["uri"] = dict.fromkeys(facts["uri"])
    facts["bucket"] = dict.fromkeys(facts["bucket"])
    facts["expected_owner"] = facts["expected_owner_trusted"] = None
    facts["trust"] = {**facts["trust"], "all_trusted_inventoried": None}
    facts["unknown"] = _Unknowable(reason)
    return facts


def bucket_owners(proofs: dict[str, BucketProof]) -> dict[str, str | None]:
    """Bucket -> proven owner, ABSENT (proven not to exist) or None (not proven)."""
    return {
        name: ABSENT if proof.exists is False else proof.owner_account_id
        for name, proof in proofs.items()
    }


def evaluate_resources(
    resources: list[Resource],
    uris: dict[str, ParsedUri],
    proofs: dict[str, BucketProof],
    trust: TrustContext,
    undescribed: dict[str, str],
    rules: list[Rule],
    policy: Policy,
    today: dt.date,
    integrity: dict[str, Any] | None = None,
    roles: RoleRun | None = None,
) -> tuple[list[dict[str, Any]], list[Finding], list[dict[str, Any]]]:
    """(facts, findings, expired waivers) for ``resources`` (sorted by the caller)."""
    integrity = integrity or {}
    owners = bucket_owners({**(roles.named_bucket_proofs if roles else {}), **proofs})
    read = roles.roles if roles else {}
    facts = []
    for r in resources:
        bucket = uris[r.arn].bucket or ""
        record = build_facts(
            r,
            uris[r.arn],
            proofs.get(bucket),
            trust,
            integrity.get(bucket),
            read.get(r.role_arn or ""),
            owners,
        )
        if r.arn in undescribed:
            record = _undescribed_facts(record, undescribed[r.arn])
        facts.append(record)
    findings, expired = evaluate_all(rules, facts, policy, today)
    return facts, findings, expired
