"""The one fail-closed choice of the account a resource must verify owns its bucket.

:func:`decide` is the one decision both the fix printed on every finding and
``--remediate`` read, so the report never recommends something the remediator would not
do. The kind (``auditor.core.kinds``) says whether a resource can verify its bucket's
owner and which call and parameters change it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from auditor.core.kinds import ResourceKind, kind_of


def choose_owner(facts: dict[str, Any]) -> tuple[str | None, str]:
    """The account to pin, or None with the reason no safe choice exists.

    * bucket owner proven and trusted -> that owner;
    * bucket missing, or owned by an untrusted account -> the configured expected owner
      if it is trusted, else the resource's own account (it then refuses the bucket);
    * owner unknown -> None (not enough evidence);
    * never an account outside the trusted set;
    * never replace a pin that S3 proves correct (the pinned account owns the bucket)
      unless that owner is known to be outside the Organization
      (``facts["trust"]["org_accounts"]``: the members, or absent/None when unknown).
    """
    resource = facts["resource"]
    bucket = facts["bucket"]
    trusted = facts["trust"]["trusted_accounts"]
    kind = kind_of(resource["type"])
    if not kind.has_owner_verification:
        return None, f"{kind.plural} have no bucket-owner setting to pin"
    if not facts["uri"]["valid"]:
        return None, f"{kind.uri_field} names no S3 bucket; fix the URI first"
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
        return own, f"{why}; pinning the {kind.short}'s own account {own} fails closed"
    return None, "the bucket's owner is not proven; not enough evidence to pin an account"


def _command(kind: ResourceKind, resource: dict[str, Any], *options: str) -> str:
    """``aws <service> <update> --region R --<identifier> ID <options>``, shell-quoted."""
    if kind.update_api is None:
        return ""
    parts = [
        "aws",
        kind.service,
        kind.cli(kind.update_api),
        "--region",
        resource["region"],
        f"--{kind.cli(kind.describe_param)}",
        kind.identifier(resource["name"], resource["arn"]),
        *options,
    ]
    return " ".join(shlex.quote(p) for p in parts)


def update_command(resource: dict[str, Any], owner: str) -> str:
    """The ``aws`` CLI command that makes the resource verify that ``owner`` owns its bucket."""
    kind = kind_of(resource["type"])
    return _command(
        kind,
        resource,
        f"--{kind.cli(kind.param(kind.verification_param, kind.verification_field))}",
        f"--{kind.cli(kind.param(kind.owner_param, kind.owner_field))}",
        owner,
    )


def uri_command(resource: dict[str, Any]) -> str:
    """The ``aws`` CLI command that points the resource at another bucket (which bucket
    only its owner can say: the one placeholder a fix may carry)."""
    kind = kind_of(resource["type"])
    placeholder = "s3://<BUCKET_YOUR_ACCOUNT_OWNS>/<PREFIX>"
    return _command(
        kind, resource, f"--{kind.cli(kind.param(kind.uri_param, kind.uri_field))}", placeholder
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``--remediate`` does to one resource, and so what its findings recommend."""

    action: str  # "pin" | "none" (already verifies the chosen owner) | "skip" | "cannot"
    owner: str | None  # the account pinned by "pin"; the verified one for "none"
    reason: str
    command: str  # the owner fix a person can run: update_command for "pin", else ""


def decide(facts: dict[str, Any]) -> Decision:
    """The one decision, over the facts alone (trusted set, Organization membership in
    ``trust.org_accounts``, expected owner): the finding's fix (:func:`fix_facts`) and
    the remediation plan (``auditor.remediate.plan``) both read it, so the report never
    recommends what the remediator would not do."""
    resource = facts["resource"]
    kind = kind_of(resource["type"])
    owner, reason = choose_owner(facts)
    if not kind.remediable:
        return Decision("cannot", None, reason, "")
    if owner is None:
        return Decision("skip", None, reason, "")
    if owner not in facts["trust"]["trusted_accounts"]:  # defence in depth
        return Decision("skip", None, f"refusing to pin {owner}: not a trusted account", "")
    # Already verifying and pinned to the chosen owner: the fail-closed fix is applied;
    # what is left is the bucket (or the URI).
    if (
        resource["owner_verification"] is True
        and (resource["pinned_owner"] or resource["account_id"]) == owner
    ):
        why = f"the {kind.short} already verifies the bucket owner {owner}: it fails closed"
        return Decision("none", owner, why, "")
    return Decision("pin", owner, reason, update_command(resource, owner))


def fix_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """The ``fix`` part of a facts record: chosen owner, why, and the commands.

    ``owner`` is the account ``--remediate`` pins (None when it pins nothing) and
    ``command`` its update command; when the owner fix is applied already, or the kind has
    none, the URI command (point the resource at a bucket you own); when no safe pin
    exists, nothing to run (``reason`` says why, as the plan does).
    """
    decision = decide(facts)
    uri = uri_command(facts["resource"])
    command = {"pin": decision.command, "skip": ""}.get(decision.action, uri)
    return {
        "owner": decision.owner if decision.action == "pin" else None,
        "applied": decision.action == "none",
        "reason": decision.reason,
        "command": command,
        "uri_command": uri,
    }
