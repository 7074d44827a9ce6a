"""The ``integrity`` section of a facts record: what the four artifact-bucket checks read.

Plain data over :class:`BucketIntegrity`, evaluated for one resource's trusted set (the
foreign-writer verdict is memoised per bucket and trusted set, so a bucket used by many
resources is evaluated once). Every fact the rules read is ``None`` with a reason in
``unknown["integrity.<key>"]`` when it cannot be decided; a definite FAIL (S3 says the
bucket is public, a foreign write grant exists) wins over an unknown sibling.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from auditor.core.access import PAB_FLAGS, BucketIntegrity
from auditor.core.model import Evidence
from auditor.evaluate.writers import WriterVerdict, foreign_writers

# The facts each rule reads (``integrity.<key>``).
RULE_FACTS = ("not_public", "no_foreign_writers", "acls_disabled", "versioning_enabled")
_KEYS = (
    *RULE_FACTS,
    "policy_is_public",
    "public_access_blocked",
    "foreign_writers_anyone",
)


_ALL_KEYS = (
    *_KEYS,
    "owner_account_id",
    "policy_present",
    "block_public_access",
    "bucket_block_public_access",
    "account_block_public_access",
    "object_ownership",
    "versioning",
    "mfa_delete",
    "object_lock",
    "object_lock_rule",
)


def sample_integrity(bucket: str, owner: str) -> list[BucketIntegrity]:
    """A failing and a passing bucket, for rehearsing rules at load time (no AWS)."""
    on = dict.fromkeys(PAB_FLAGS, True)
    bad = BucketIntegrity(
        bucket,
        owner,
        policy_present=True,
        policy={
            "Statement": [
                {
                    "Sid": "x",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ]
        },
        policy_is_public=True,
        bucket_pab=dict.fromkeys(PAB_FLAGS, False),
        account_pab=dict.fromkeys(PAB_FLAGS, False),
        object_ownership="ObjectWriter",
        versioning="Suspended",
        object_lock="Disabled",
    )
    good = BucketIntegrity(
        bucket,
        owner,
        policy_present=False,
        policy_is_public=False,
        bucket_pab=on,
        account_pab=None,
        unknown={"account_pab": "denied"},
        object_ownership="BucketOwnerEnforced",
        versioning="Enabled",
        object_lock="Enabled",
        object_lock_rule="GOVERNANCE 30 days",
    )
    return [bad, good]


def unavailable_reason(bucket: dict[str, Any], unknown: dict[str, str]) -> str:
    """Why a resource's bucket configuration was not read, from its ownership facts."""
    if bucket.get("exists") is None:
        return unknown.get("bucket.exists") or "whether the bucket exists is not known"
    if bucket["exists"] is False:
        return "the bucket does not exist"
    owner = bucket.get("owner_account_id")
    if owner is None:
        return "the bucket's owner is not proven, so its configuration cannot be read as the owner"
    return (
        f"the bucket's configuration was not read with its owner {owner}'s credentials "
        "(only buckets owned by an audited account are read)"
    )


def _effective_pab(
    integrity: BucketIntegrity,
) -> tuple[dict[str, bool | None], bool | None, str | None]:
    """Per flag: on at the bucket or the account level (S3 applies the stricter)."""
    b, a = integrity.bucket_pab, integrity.account_pab
    flags: dict[str, bool | None] = {}
    for f in PAB_FLAGS:
        if (b and b[f]) or (a and a[f]):
            flags[f] = True
        elif b is not None and a is not None:
            flags[f] = False
        else:
            flags[f] = None
    values = list(flags.values())
    if all(v is True for v in values):
        return flags, True, None
    if any(v is False for v in values):
        return flags, False, None
    reason = integrity.unknown.get("bucket_pab") or integrity.unknown.get("account_pab")
    return flags, None, reason


def _writers(
    integrity: BucketIntegrity, accounts: frozenset[str], orgs: frozenset[str]
) -> WriterVerdict | None:
    if integrity.policy_present is False:
        return WriterVerdict()
    if integrity.policy is None:
        return None
    key = (accounts, orgs)
    if key not in integrity.memo:
        integrity.memo[key] = foreign_writers(integrity.policy, accounts, orgs)
    return integrity.memo[key]


def _public_facts(
    integrity: BucketIntegrity, unknown: dict[str, str]
) -> tuple[bool | None, bool | None, dict[str, bool | None]]:
    """(not_public, public_access_blocked, effective flags): S3's own verdict on the policy,
    and Block Public Access at both levels. Either one failing decides ``not_public``."""
    flags, blocked, pab_reason = _effective_pab(integrity)
    public = integrity.policy_is_public
    not_public: bool | None
    if public is True or blocked is False:
        not_public = False
    elif public is False and blocked is True:
        not_public = True
    else:
        not_public = None
        unknown["integrity.not_public"] = (
            integrity.unknown.get("policy_is_public") or pab_reason or "not known"
        )
    if blocked is None:
        unknown["integrity.public_access_blocked"] = pab_reason or "not known"
    if public is None:
        unknown["integrity.policy_is_public"] = integrity.unknown.get("policy_is_public", "")
    return not_public, blocked, flags


def _writer_facts(
    integrity: BucketIntegrity, verdict: WriterVerdict | None, unknown: dict[str, str]
) -> tuple[bool | None, list[dict[str, Any]], bool | None]:
    """(no_foreign_writers, foreign write grants, whether one is to anyone)."""
    if verdict is None:
        reason = integrity.unknown.get("policy", "not known")
        unknown["integrity.no_foreign_writers"] = reason
        unknown["integrity.foreign_writers_anyone"] = reason
        return None, [], None
    grants = [g.to_dict() for g in verdict.grants]
    no_foreign: bool | None = True
    if grants:
        no_foreign = False
    elif verdict.unresolved:
        no_foreign = None
        unknown["integrity.no_foreign_writers"] = "; ".join(verdict.unresolved)
    return no_foreign, grants, any(g["anyone"] for g in grants)


def _grant_evidence(
    integrity: BucketIntegrity, verdict: WriterVerdict | None
) -> list[dict[str, Any]]:
    """One evidence entry per foreign write grant, naming its statement."""
    if verdict is None:
        return []
    return [
        Evidence(
            call="s3:GetBucketPolicy",
            as_account=integrity.owner_account_id,
            answer=g.statement,
            params={"Bucket": integrity.bucket, "Sid": g.sid or ""},
            conclusion=f"grants {', '.join(g.actions[:4])}"
            f"{' ...' if len(g.actions) > 4 else ''} to "
            f"{', '.join(g.principals)}, outside the trusted accounts",
        ).to_dict()
        for g in verdict.grants
    ]


def integrity_section(
    integrity: BucketIntegrity | None,
    reason: str,
    trusted_accounts: Collection[str],
    trusted_orgs: Collection[str] = (),
) -> tuple[dict[str, Any], dict[str, str]]:
    """(section, unknown reasons keyed ``integrity.<key>``) for one resource."""
    if integrity is None:
        section: dict[str, Any] = dict.fromkeys(_ALL_KEYS)
        section.update(
            gathered=False, foreign_write_grants=[], evidence_for={k: [] for k in RULE_FACTS}
        )
        return section, {f"integrity.{k}": reason for k in _KEYS}
    unknown: dict[str, str] = {}
    # The same (hash-cached) set for every resource whose bucket owner is already trusted.
    accounts = frozenset(trusted_accounts)
    if integrity.owner_account_id not in accounts:
        accounts = accounts | {integrity.owner_account_id}
    ev = {e.call: e.to_dict() for e in integrity.evidence}

    def pick(*calls: str) -> list[dict[str, Any]]:
        return [ev[c] for c in calls if c in ev]

    not_public, blocked, flags = _public_facts(integrity, unknown)
    verdict = _writers(integrity, accounts, frozenset(trusted_orgs))
    no_foreign, grants, anyone = _writer_facts(integrity, verdict, unknown)

    ownership = integrity.object_ownership
    if ownership is None:
        unknown["integrity.acls_disabled"] = integrity.unknown.get("object_ownership", "")
    versioning = integrity.versioning
    if versioning is None:
        unknown["integrity.versioning_enabled"] = integrity.unknown.get("versioning", "")

    section = {
        "gathered": True,
        "owner_account_id": integrity.owner_account_id,
        "not_public": not_public,
        "policy_is_public": integrity.policy_is_public,
        "policy_present": integrity.policy_present,
        "public_access_blocked": blocked,
        "block_public_access": flags,
        "bucket_block_public_access": integrity.bucket_pab,
        "account_block_public_access": integrity.account_pab,
        "no_foreign_writers": no_foreign,
        "foreign_write_grants": grants,
        "foreign_writers_anyone": anyone,
        "acls_disabled": None if ownership is None else ownership == "BucketOwnerEnforced",
        "object_ownership": ownership,
        "versioning_enabled": None if versioning is None else versioning == "Enabled",
        "versioning": versioning,
        "mfa_delete": integrity.mfa_delete,
        "object_lock": integrity.object_lock,
        "object_lock_rule": integrity.object_lock_rule,
        "evidence_for": {
            "not_public": pick(
                "s3:GetBucketPolicy",
                "s3:GetBucketPolicyStatus",
                "s3:GetPublicAccessBlock",
                "s3control:GetPublicAccessBlock",
            ),
            "no_foreign_writers": pick("s3:GetBucketPolicy") + _grant_evidence(integrity, verdict),
            "acls_disabled": pick("s3:GetBucketOwnershipControls"),
            "versioning_enabled": pick("s3:GetBucketVersioning", "s3:GetObjectLockConfiguration"),
        },
    }
    return section, unknown
