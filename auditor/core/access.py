"""A bucket's access configuration as its owner account's S3 answers it.

The records the prove stage fills (auditor.prove.integrity) and the evaluate stage reads
(auditor.evaluate.integrity): ``None`` is always "unknown", with the reason beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.core.model import BucketProof, Evidence

PAB_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


#: How the role checks' Describe evidence names the execution role: the history reads a
#: resource's role back from it (IAM events re-check the resources using a role).
ROLE_ANSWER_PREFIX = "RoleArn="


@dataclass(slots=True)
class AccountBlockPublicAccess:
    """An account's Block Public Access (S3 Control), read once per owner account."""

    account_id: str
    flags: dict[str, bool] | None = None  # None: unknown (see unknown_reason)
    unknown_reason: str | None = None
    evidence: list[Evidence] = field(default_factory=list)


@dataclass(slots=True)
class BucketIntegrity:
    """What the owner account's S3 answers say about one bucket's access configuration.

    ``None`` is unknown, with the reason in ``unknown[<field>]``.
    """

    bucket: str
    owner_account_id: str
    policy_present: bool | None = None
    policy: dict[str, Any] | None = None  # the parsed bucket policy, when there is one
    policy_is_public: bool | None = None  # GetBucketPolicyStatus.IsPublic
    bucket_pab: dict[str, bool] | None = None
    account_pab: dict[str, bool] | None = None
    object_ownership: str | None = None
    versioning: str | None = None  # Enabled, Suspended, or Disabled (never enabled)
    mfa_delete: str | None = None
    object_lock: str | None = None  # Enabled or Disabled
    object_lock_rule: str | None = None  # default retention, e.g. "GOVERNANCE 30 days"
    unknown: dict[str, str] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    # (trusted accounts, trusted orgs) -> verdict; see auditor.evaluate.integrity
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class PolicyRead:
    """One managed policy's default version, read once per run by ARN."""

    arn: str
    document: dict[str, Any] | None = None
    unknown_reason: str | None = None
    evidence: list[Evidence] = field(default_factory=list)


@dataclass(slots=True)
class RolePolicies:
    """What IAM said about one role. ``None`` is unknown, the reason in ``unknown``:
    keys ``trust``, ``permissions`` and ``boundary``."""

    arn: str
    account_id: str | None
    name: str | None
    trust: dict[str, Any] | None = None
    # (name, document) of every attached and inline policy, once all were read
    identity: list[tuple[str, dict[str, Any]]] | None = None
    boundary_arn: str | None = None
    boundary: dict[str, Any] | None = None  # None with no boundary, or unknown
    unknown: dict[str, str] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    # (trusted accounts, orgs, bucket owners) -> verdicts; see auditor.evaluate.role_facts
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class RoleRun:
    """Every execution role the run read, and the proofs of the buckets their policies
    name (beyond the artifact buckets): what ``role.*`` facts are decided on."""

    roles: dict[str, RolePolicies] = field(default_factory=dict)
    named_bucket_proofs: dict[str, BucketProof] = field(default_factory=dict)
    managed_policies_read: int = 0  # distinct managed policy documents read
