"""The evidence of a finding: the calls and answers its verdict rests on.

Built once per resource and kind of fact (resource, uri, bucket) and shared by that
resource's findings, so an organisation's evidence is not copied per check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.ruleset import Rule


def evidence_for(facts: dict[str, Any], rule: Rule) -> list[dict[str, Any]]:
    """The proof a verdict rests on; items are shared by a resource's findings."""
    cache = facts.setdefault("_evidence", {})
    kinds = tuple(sorted({p.split(".")[0] for p in rule.reads}))
    if kinds not in cache:
        cache[kinds] = _build_evidence(facts, rule)
    return cache[kinds]


def _build_evidence(facts: dict[str, Any], rule: Rule) -> list[dict[str, Any]]:
    resource = facts["resource"]
    items: list[dict[str, Any]] = []
    if any(p.startswith("resource.") for p in rule.reads):
        verification = (
            resource["owner_verification"] if resource["owner_verification_reported"] else "absent"
        )
        items.append(
            {
                "call": "sagemaker:DescribeMlflowTrackingServer",
                "as_account": resource["account_id"],
                "params": {"TrackingServerName": resource["name"]},
                "answer": f"S3BucketOwnerVerification={verification}, "
                f"S3BucketOwnerAccountId={resource['pinned_owner'] or 'absent'}",
                "conclusion": "verification is on"
                if resource["owner_verification"]
                else "verification is off",
            }
        )
    if any(p.startswith("uri.") for p in rule.reads) or not facts["uri"]["valid"]:
        uri = facts["uri"]
        items.append(
            {
                "call": "parse:ArtifactStoreUri",
                "as_account": None,
                "params": {"ArtifactStoreUri": resource["artifact_store_uri"] or ""},
                "answer": f"bucket={uri['bucket']}" if uri["valid"] else "no bucket",
                "conclusion": f"{uri['style']} URI" if uri["valid"] else uri["error"],
            }
        )
    if any(p.startswith("bucket.") for p in rule.reads):
        items.extend(facts["bucket"].get("evidence", []))
    return items
