"""The one fail-closed choice of ``S3BucketOwnerAccountId`` (SPEC.md, Remediation).

Used both for the fix command printed on every finding and by ``--remediate``, so the
report never recommends something the remediator would not do.
"""

from __future__ import annotations

import shlex
from typing import Any

from auditor.core.model import TRACKING_SERVER


def choose_owner(facts: dict[str, Any]) -> tuple[str | None, str]:
    """The account to pin, or None with the reason no safe choice exists.

    * bucket owner proven and trusted -> that owner;
    * bucket missing, or owned by an untrusted account -> the configured expected owner
      if it is trusted, else the server's own account (the server then refuses the bucket);
    * owner unknown -> None (not enough evidence);
    * never an account outside the trusted set;
    * never replace a pin that S3 proves correct (the pinned account owns the bucket)
      unless that owner is known to be outside the Organization
      (``facts["trust"]["org_accounts"]``: the members, or absent/None when unknown).
    """
    resource = facts["resource"]
    bucket = facts["bucket"]
    trusted = facts["trust"]["trusted_accounts"]
    if resource["type"] != TRACKING_SERVER:
        return None, "MLflow Apps have no bucket-owner setting to pin"
    if not facts["uri"]["valid"]:
        return None, "ArtifactStoreUri names no S3 bucket; fix the URI first"
    owner = bucket.get("owner_account_id")
    if bucket.get("exists") and owner is not None and owner in trusted:
        return owner, f"the bucket's proven owner {owner} is trusted"
    if bucket.get("exists") and owner is not None and owner == resource["pinned_owner"]:
        members = facts["trust"].get("org_accounts")
        if members is None:
            return None, (
                f"S3 proves the pinned owner {owner} owns the bucket, and this run cannot "
                f"tell whether {owner} is in your Organization: left unchanged (trust it "
                f"with --trusted-account {owner}, or run with --org)"
            )
        if owner in members:
            return None, (
                f"S3 proves the pinned owner {owner} owns the bucket and {owner} is a member "
                f"of your Organization: left unchanged (trust it with --trusted-account {owner})"
            )
    if bucket.get("exists") is False or bucket.get("owner_trusted") is False:
        why = (
            "the bucket does not exist"
            if bucket.get("exists") is False
            else "the bucket is owned by an untrusted account"
        )
        expected = facts["expected_owner"]
        if facts["expected_owner_trusted"]:
            return expected, f"{why}; pinning the trusted expected owner {expected} fails closed"
        own = resource["account_id"]
        return own, f"{why}; pinning the server's own account {own} fails closed"
    return None, "the bucket's owner is not proven; not enough evidence to pin an account"


def update_command(resource: dict[str, Any], owner: str | None) -> str:
    """The ``aws`` CLI command that applies the fix to a tracking server."""
    parts = [
        "aws",
        "sagemaker",
        "update-mlflow-tracking-server",
        "--region",
        resource["region"],
        "--tracking-server-name",
        resource["name"],
        "--s3-bucket-owner-verification",
        "--s3-bucket-owner-account-id",
        owner or "<ACCOUNT_ID_THAT_OWNS_THE_BUCKET>",
    ]
    return " ".join(shlex.quote(p) for p in parts)


def uri_command(resource: dict[str, Any]) -> str:
    """The ``aws`` CLI command that points the resource at another bucket."""
    placeholder = "s3://<BUCKET_YOUR_ACCOUNT_OWNS>/<PREFIX>"
    if resource["type"] == TRACKING_SERVER:
        parts = [
            "aws",
            "sagemaker",
            "update-mlflow-tracking-server",
            "--region",
            resource["region"],
            "--tracking-server-name",
            resource["name"],
            "--artifact-store-uri",
            placeholder,
        ]
    else:
        parts = [
            "aws",
            "sagemaker",
            "update-mlflow-app",
            "--region",
            resource["region"],
            "--arn",
            resource["arn"],
            "--artifact-store-uri",
            placeholder,
        ]
    return " ".join(shlex.quote(p) for p in parts)


def fix_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """The ``fix`` part of a facts record: chosen owner, why, and the commands."""
    owner, reason = choose_owner(facts)
    resource = facts["resource"]
    owner_fix = resource["type"] == TRACKING_SERVER and facts["uri"]["valid"]
    # Already verifying and pinned to the chosen owner: the fail-closed fix is applied,
    # never offer it again; what is left is the bucket (or the URI).
    applied = (
        owner is not None
        and owner_fix
        and resource["owner_verification"] is True
        and (resource["pinned_owner"] or resource["account_id"]) == owner
    )
    if applied:
        return {
            "owner": None,
            "applied": True,
            "reason": f"the server already verifies the bucket owner {owner}: it fails closed",
            "command": uri_command(resource),
            "uri_command": uri_command(resource),
        }
    return {
        "owner": owner,
        "applied": False,
        "reason": reason,
        "command": update_command(resource, owner) if owner_fix else uri_command(resource),
        "uri_command": uri_command(resource),
    }
