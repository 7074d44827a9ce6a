"""Build the facts record that every rule reads (a plain dict, queried with JMESPath).

The hard decisions are made here, once, so each rule stays a one-line condition. A fact
that could not be established is ``None`` and ``unknown[<path>]`` says why; the engine
turns a rule that reads it into ``UNKNOWN`` with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.core.access import BucketIntegrity, RolePolicies
from auditor.core.artifacts import ParsedUri, account_namespace
from auditor.core.kinds import kind_of
from auditor.core.model import BucketProof, Resource
from auditor.evaluate.fixes import fix_facts
from auditor.evaluate.integrity import integrity_section, unavailable_reason
from auditor.evaluate.role_facts import role_section


@dataclass(frozen=True, slots=True)
class TrustContext:
    """Accounts trusted to own artifact buckets, and which of them S3 inventories cover."""

    trusted_accounts: frozenset[str]  # --trusted-account, policy, Organization accounts
    inventoried_accounts: frozenset[str]  # accounts whose ListBuckets succeeded
    trusted_orgs: frozenset[str] = frozenset()  # Organization ids (--org): all trusted
    # The Organization's accounts, when known (with --org, or read because a fix depends
    # on it); None when unknown. The fix of a finding and the remediation plan read it.
    org_accounts: frozenset[str] | None = None

    def trusted_for(self, resource: Resource) -> frozenset[str]:
        """The trusted set for a resource: the same object for every resource whose
        account is already trusted (an organisation's set has thousands of ids, and a
        copy per resource would make memory grow with accounts x resources)."""
        if resource.account_id in self.trusted_accounts:
            return self.trusted_accounts
        return self.trusted_accounts | {resource.account_id}


def build_facts(
    resource: Resource,
    uri: ParsedUri,
    proof: BucketProof | None,
    trust: TrustContext,
    integrity: BucketIntegrity | None = None,
    role: RolePolicies | None = None,
    bucket_owners: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The facts of one resource. ``role`` is its execution role as the run read it
    (None: not read); ``bucket_owners`` maps the buckets the run proved to their owner
    (``auditor.evaluate.role_policy.ABSENT`` for one proven not to exist, None when not
    proven), which decides the role's Allows that name buckets."""
    unknown: dict[str, str] = {}
    trusted = trust.trusted_for(resource)
    expected = resource.s3_bucket_owner_account_id or resource.account_id
    kind = kind_of(resource.resource_type)
    verifies = kind.has_owner_verification  # the kind has the setting at all

    bucket: dict[str, Any] = {
        "name": uri.bucket,
        "exists": None,
        "owner_account_id": None,
        "owned_by_expected": None,
        "owner_trusted": None,
        "in_account_namespace": None,
        "namespace_account_id": None,
        "namespace_account_trusted": None,
    }
    if not uri.valid:
        reason = f"{kind.uri_field} names no S3 bucket ({uri.error})"
        for key in bucket:
            if key != "name":
                unknown[f"bucket.{key}"] = reason
    else:
        assert uri.bucket is not None
        ns = account_namespace(uri.bucket)
        bucket["in_account_namespace"] = ns is not None
        if ns is not None:
            bucket["namespace_account_id"] = ns.account_id
            bucket["namespace_account_trusted"] = ns.account_id in trusted
        _bucket_ownership(bucket, unknown, proof, expected, trusted, trust)

    verification = resource.s3_bucket_owner_verification
    facts: dict[str, Any] = {
        "resource": {
            "type": resource.resource_type,
            "name": resource.name,
            "arn": resource.arn,
            "account_id": resource.account_id,
            "region": resource.region,
            "status": resource.status,
            "artifact_store_uri": resource.artifact_store_uri,
            # Absent means a server created before the feature: not verifying.
            "owner_verification": bool(verification) if verifies else None,
            "owner_verification_reported": verification is not None if verifies else None,
            "pinned_owner": resource.s3_bucket_owner_account_id,
            # Verifying with a trusted expected owner: a bucket someone else creates or
            # owns is refused, so the residual risk is an outage, not exfiltration.
            "fails_closed": bool(verification) and expected in trusted if verifies else False,
            "role_arn": resource.role_arn,
            "automatic_model_registration": bool(resource.automatic_model_registration),
        },
        "uri": {"valid": uri.valid, "bucket": uri.bucket, "style": uri.style, "error": uri.error},
        "expected_owner": expected,
        "expected_owner_trusted": expected in trusted,
        "bucket": bucket,
        "trust": {
            "trusted_accounts": trusted,  # a shared frozenset; facts are never serialised
            "all_trusted_inventoried": trusted <= trust.inventoried_accounts,
            "org_accounts": trust.org_accounts,
        },
        "unknown": unknown,
    }
    facts["integrity"], why = integrity_section(
        integrity, unavailable_reason(bucket, unknown), trusted, trust.trusted_orgs
    )
    unknown.update(why)
    facts["role"], why = role_section(
        resource.role_arn, role, trusted, trust.trusted_orgs, bucket_owners
    )
    unknown.update(why)
    if not verifies:
        unknown["resource.owner_verification"] = (
            f"{kind.plural} have no S3BucketOwnerVerification setting"
        )
    facts["fix"] = fix_facts(facts)
    return facts


def _bucket_ownership(
    bucket: dict[str, Any],
    unknown: dict[str, str],
    proof: BucketProof | None,
    expected: str,
    trusted: frozenset[str],
    trust: TrustContext,
) -> None:
    if proof is None:
        for key in ("exists", "owner_account_id", "owned_by_expected", "owner_trusted"):
            unknown[f"bucket.{key}"] = "the bucket was not probed"
        return
    bucket["exists"] = proof.exists
    bucket["owner_account_id"] = proof.owner_account_id
    bucket["evidence"] = [e.to_dict() for e in proof.evidence]
    if proof.exists is None:
        reason = proof.unknown_reason or "S3 did not say whether the bucket exists"
        for key in ("exists", "owner_account_id", "owned_by_expected", "owner_trusted"):
            unknown[f"bucket.{key}"] = reason
        return
    if proof.exists is False:
        for key in ("owner_account_id", "owned_by_expected", "owner_trusted"):
            unknown[f"bucket.{key}"] = "the bucket does not exist"
        return
    owner = proof.owner_account_id
    if owner is not None:
        bucket["owned_by_expected"] = owner == expected
        bucket["owner_trusted"] = owner in trusted
        return
    unknown["bucket.owner_account_id"] = proof.unknown_reason or "the owner was not proven"
    # This check fails only on a proven owner. Refuting the expected owner is
    # evidence (kept), but who owns the bucket is still unknown.
    if expected in proof.not_owned_by:
        unknown["bucket.owned_by_expected"] = (
            f"the bucket's owner is not proven; S3 shows only that it is not {expected}"
        )
    else:
        unknown["bucket.owned_by_expected"] = (
            f"the owner was not proven and {expected} could not be ruled out"
        )
    # In no audited account's ListBuckets while every trusted account was inventoried:
    # the owner is proven to be outside the trusted set, whoever it is.
    if trusted <= proof.not_owned_by and trusted <= trust.inventoried_accounts:
        bucket["owner_trusted"] = False
    else:
        unknown["bucket.owner_trusted"] = (
            "the owner was not proven and not every trusted account could be inventoried"
        )
