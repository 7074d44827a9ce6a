"""Which accounts belong to the caller's AWS Organization, when that can be read.

``--remediate`` must not cut a working server off a bucket that S3 proves its pinned
owner owns, unless that owner is known to be outside the Organization (the fail-closed
owner choice, ``auditor.evaluate.fixes.choose_owner``). A run without ``--org`` learns
membership here, during the scan and only when such a decision depends on it, when the
caller may call ``organizations:ListAccounts`` (the management account or a delegated
administrator); otherwise membership is unknown and such servers are skipped with a
reason. The findings' fixes and the remediation plan decide with the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from auditor.aws.classify import NO_ORGANIZATION, error_code


def organization_members(session: boto3.Session) -> frozenset[str] | None:
    """Every account id of the caller's Organization (any state: a suspended member is
    still a member), an empty set when the caller is in no Organization
    (``AWSOrganizationsNotInUseException``), or None when that cannot be read
    (AccessDenied for a member account, network failure, ...).

    ListAccounts: https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html
    ("This operation can be called only from the organization's management account or by
    a member account that is a delegated administrator.")
    """
    try:
        org = session.client("organizations")
        members: set[str] = set()
        for page in org.get_paginator("list_accounts").paginate():
            members.update(str(a["Id"]) for a in page.get("Accounts", []))
        return frozenset(members)
    except ClientError as exc:
        if error_code(exc) in NO_ORGANIZATION:
            return frozenset()
        return None
    except BotoCoreError:
        return None


def membership_for_fixes(
    session: boto3.Session,
    org: bool,
    trusted: Iterable[str],
    pins: Iterable[tuple[str, str | None, str | None]],
) -> frozenset[str] | None:
    """The Organization membership the fixes and the remediation plan decide with.

    With ``--org`` every member is trusted, so the trusted set is the membership that
    matters (an untrusted owner is known to be outside). Otherwise it is read, once, only
    when a decision depends on it: some ``(account, pinned owner, proven bucket owner)``
    of a resource in ``pins`` where S3 proves that an untrusted pinned owner (not the
    resource's own account) owns the bucket. None: unknown.
    """
    trusted_set = frozenset(trusted)
    if org:
        return trusted_set
    if not any(
        p is not None and p == owner and p not in trusted_set and p != account
        for account, p, owner in pins
    ):
        return None
    return organization_members(session)
