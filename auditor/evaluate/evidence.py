"""The evidence of a finding: the calls and answers its verdict rests on.

Built once per resource and kind of fact (resource, uri, bucket) and shared by that
resource's findings, so an organisation's evidence is not copied per check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor.core.access import ROLE_ANSWER_PREFIX
from auditor.core.kinds import ResourceKind, kind_of

if TYPE_CHECKING:
    from auditor.evaluate.rules import Rule


def evidence_for(facts: dict[str, Any], rule: Rule) -> list[dict[str, Any]]:
    """The proof a verdict rests on; items are shared by a resource's findings."""
    cache = facts.setdefault("_evidence", {})
    kinds = tuple(sorted({_evidence_kind(p) for p in rule.reads}))
    if kinds not in cache:
        cache[kinds] = _build_evidence(facts, rule)
    return cache[kinds]


_PER_FACT = ("integrity.", "role.")


def _evidence_kind(path: str) -> str:
    # integrity.<fact> and role.<fact> have evidence of their own per fact; the others
    # per section
    return path if path.startswith(_PER_FACT) else path.split(".")[0]


def _build_evidence(facts: dict[str, Any], rule: Rule) -> list[dict[str, Any]]:
    resource = facts["resource"]
    kind = kind_of(resource["type"])
    items: list[dict[str, Any]] = []
    if any(p.startswith("resource.") for p in rule.reads):
        items.append(_describe_evidence(kind, resource))
    if any(p.startswith("uri.") for p in rule.reads) or not facts["uri"]["valid"]:
        uri = facts["uri"]
        items.append(
            {
                "call": f"parse:{kind.uri_field}",
                "as_account": None,
                "params": {kind.uri_field: resource["artifact_store_uri"] or ""},
                "answer": f"bucket={uri['bucket']}" if uri["valid"] else "no bucket",
                "conclusion": f"{uri['style']} URI" if uri["valid"] else uri["error"],
            }
        )
    if any(p.startswith("bucket.") for p in rule.reads):
        items.extend(facts["bucket"].get("evidence", []))
    for path in rule.reads:
        if path.startswith("integrity."):
            items.extend(facts["integrity"]["evidence_for"].get(path.split(".", 1)[1], []))
    if any(p.startswith("role.") for p in rule.reads):
        items.append(role_describe_evidence(kind, resource))
    for path in rule.reads:
        if path.startswith("role."):
            items.extend(facts["role"]["evidence_for"].get(path.split(".", 1)[1], []))
    return items


#: How the execution role's evidence names it: ``RoleArn=<arn>`` opens the answer of the
#: Describe record (auditor.history reads the role of each resource from it).


def role_describe_evidence(kind: ResourceKind, resource: dict[str, Any]) -> dict[str, Any]:
    """What Describe said of the resource's execution role and model registration."""
    registers = "on" if resource["automatic_model_registration"] else "off"
    return {
        "call": f"{kind.service}:{kind.describe_api}",
        "as_account": resource["account_id"],
        "params": {kind.describe_param: kind.identifier(resource["name"], resource["arn"])},
        "answer": f"{ROLE_ANSWER_PREFIX}{resource['role_arn'] or 'absent'}, "
        f"automatic model registration {registers}",
        "conclusion": "the execution role whose policies decide what it can write",
    }


def _describe_evidence(kind: ResourceKind, resource: dict[str, Any]) -> dict[str, Any]:
    """What Describe said of the resource's ownership settings, named for its kind."""
    identifier = kind.identifier(resource["name"], resource["arn"])
    if not kind.has_owner_verification:
        return {
            "call": f"{kind.service}:{kind.describe_api}",
            "as_account": resource["account_id"],
            "params": {kind.describe_param: identifier},
            "answer": f"{kind.uri_field}={resource['artifact_store_uri'] or 'absent'}",
            "conclusion": f"an {kind.label} has no bucket owner verification setting",
        }
    verification = (
        resource["owner_verification"] if resource["owner_verification_reported"] else "absent"
    )
    return {
        "call": f"{kind.service}:{kind.describe_api}",
        "as_account": resource["account_id"],
        "params": {kind.describe_param: identifier},
        "answer": f"{kind.verification_field}={verification}, "
        f"{kind.owner_field}={resource['pinned_owner'] or 'absent'}",
        "conclusion": "verification is on"
        if resource["owner_verification"]
        else "verification is off",
    }
