"""Which accounts and regions a run audits, and the credentials for each account.

The caller's own account is audited with the caller's credentials; every other account
through ``sts:AssumeRole`` into ``--role-name``, once per account per run, with
credentials that botocore refreshes before they expire (long scans outlive one hour).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import boto3
import botocore.session
from botocore.credentials import (
    Credentials,
    DeferredRefreshableCredentials,
    RefreshableCredentials,
)
from botocore.exceptions import NoCredentialsError

from auditor.aws import classify
from auditor.aws.clients import ClientCache
from auditor.aws.errors import scan_error
from auditor.core.model import ScanError

log = logging.getLogger(__name__)

ROLE_SESSION_NAME = "mlflow-audit"
# Assumed-role credentials last an hour by default; botocore refreshes them this many
# seconds before expiry (its advisory window), so a long scan never uses stale keys.
ASSUME_ROLE_DURATION_S = 3600
# AWS answers these when a region is not enabled for the account (opt-in regions).
REGION_NOT_ENABLED_CODES = classify.REGION_NOT_ENABLED


@dataclass(slots=True)
class Account:
    account_id: str
    name: str | None = None
    access: str = "assume-role"  # or "caller"
    credentials: Credentials | None = None  # set once the account can be acted as
    regions: list[str] = field(default_factory=list)
    skipped_regions: list[str] = field(default_factory=list)
    # True when DescribeRegions said which regions are enabled; False in the fallback
    # where it was denied and every offered region is tried.
    regions_verified: bool = False
    error: ScanError | None = None
    # From ListAccounts' ARN (arn:aws:organizations::MGMT:account/o-ID/ACCOUNT): bucket
    # policies that limit a grant with aws:PrincipalOrgID name this id.
    organization_id: str | None = None


#: endpointPrefix (service-2 metadata) of the services whose regions ``known_regions``
#: unions; tests/unit/test_scope_regions.py checks them against the installed models.
KNOWN_REGION_PREFIXES = ("api.sagemaker", "ec2", "s3")
_KNOWN: set[str] | None = None


def known_regions() -> set[str]:
    """Every region botocore knows in any partition (to reject typos in --region).

    What ``get_available_regions`` answers for sagemaker, ec2 and s3 in every partition,
    read from botocore's ``endpoints.json`` alone: asking the session would parse those
    three full service models (~0.25 s) just to learn their endpoint prefixes. Computed
    once per process.
    """
    global _KNOWN
    if _KNOWN is None:
        data = botocore.session.get_session().get_component("data_loader").load_data("endpoints")
        regions: set[str] = set()
        for partition in data["partitions"]:
            names = set(partition.get("regions", {}))
            for prefix in KNOWN_REGION_PREFIXES:
                endpoints = partition.get("services", {}).get(prefix, {}).get("endpoints", {})
                regions.update(names.intersection(endpoints))
        _KNOWN = regions
    return set(_KNOWN)


_OFFERED: dict[str, list[str]] = {}


def offered_regions(session: boto3.Session) -> list[str]:
    """Regions where SageMaker is offered in the session's partition (computed once: it
    costs tens of ms of file lookups, and is the same for every account)."""
    partition = session.get_partition_for_region(session.region_name or "us-east-1")
    if partition not in _OFFERED:
        _OFFERED[partition] = sorted(
            session.get_available_regions("sagemaker", partition_name=partition)
        )
    return list(_OFFERED[partition])


def caller_credentials(base: boto3.Session) -> Credentials:
    """The caller's own credentials (standard chain, or --profile)."""
    credentials = base.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    return credentials


def caller_account_id(clients: ClientCache, credentials: Credentials) -> str:
    with clients.acting_as(credentials):
        sts = clients.client(clients.default_region, "sts")
        return str(sts.get_caller_identity()["Account"])


def organization_accounts(clients: ClientCache, credentials: Credentials) -> list[Account]:
    """Every ACTIVE account of the caller's Organization (``organizations:ListAccounts``)."""
    accounts: list[Account] = []
    with clients.acting_as(credentials):
        org = clients.client(clients.default_region, "organizations")
        for page in org.get_paginator("list_accounts").paginate():
            for acct in page["Accounts"]:
                # `State` replaces the deprecated `Status`; read whichever is present.
                state = acct.get("State") or acct.get("Status")
                if state == "ACTIVE":
                    arn = acct.get("Arn") or ""
                    org_id = arn.split("/")[1] if arn.count("/") == 2 else None
                    accounts.append(
                        Account(
                            account_id=acct["Id"], name=acct.get("Name"), organization_id=org_id
                        )
                    )
    return accounts


class CredentialFactory:
    """Credentials per audited account: the caller's own, or one AssumeRole each,
    refreshed by botocore before they expire (thread-safe)."""

    def __init__(
        self,
        clients: ClientCache,
        caller: Credentials,
        caller_id: str,
        role_name: str,
        external_id: str | None,
    ) -> None:
        self._clients = clients
        self._caller = caller
        self._caller_id = caller_id
        self._role_name = role_name
        self._external_id = external_id
        self._lock = threading.Lock()
        self.assume_role_calls = 0

    def role_arn(self, account_id: str) -> str:
        partition = self._clients.base.get_partition_for_region(self._clients.default_region)
        return f"arn:{partition}:iam::{account_id}:role/{self._role_name}"

    def credentials_for(self, account: Account) -> Credentials:
        """The caller's credentials for its own account, assumed-role ones otherwise.

        Raises ClientError when the role cannot be assumed.
        """
        if account.account_id == self._caller_id:
            account.access = "caller"
            return self._caller
        fetch = functools.partial(self._assume, self.role_arn(account.account_id))
        return RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )

    def deferred_for(self, account: Account) -> Credentials:
        """Like ``credentials_for``, but the role is assumed only when first used: the
        accounts a worker process scanned, for what the parent does after the scan."""
        if account.account_id == self._caller_id:
            return self._caller
        fetch = functools.partial(self._assume, self.role_arn(account.account_id))
        return DeferredRefreshableCredentials(refresh_using=fetch, method="sts-assume-role")

    def _assume(self, arn: str) -> dict[str, str]:
        params = {
            "RoleArn": arn,
            "RoleSessionName": ROLE_SESSION_NAME,
            "DurationSeconds": ASSUME_ROLE_DURATION_S,
        }
        if self._external_id:
            params["ExternalId"] = self._external_id
        with self._lock:
            self.assume_role_calls += 1
        # Always as the caller, also when botocore refreshes these credentials in
        # the middle of a call bound to the member account.
        with self._clients.acting_as(self._caller):
            sts = self._clients.client(self._clients.default_region, "sts")
            creds = sts.assume_role(**params)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }


def enabled_regions(account: Account, clients: ClientCache) -> set[str]:
    """Regions enabled for the account (``ec2:DescribeRegions`` lists only those)."""
    assert account.credentials is not None
    with clients.acting_as(account.credentials, account.account_id):
        ec2 = clients.client(clients.default_region, "ec2")
        answer = ec2.describe_regions(AllRegions=False)
    return {r["RegionName"] for r in answer["Regions"]}


def resolve_regions(
    account: Account,
    clients: ClientCache,
    requested: Iterable[str] | None,
    known_enabled: bool = False,
) -> list[ScanError]:
    """Fill ``account.regions``: requested (or offered) regions that are enabled.

    Regions that are not enabled are skipped quietly (``account.skipped_regions``). When
    DescribeRegions itself is denied the candidates are kept and the failure reported, so
    a missing ec2 permission never silently shrinks the scan. ``known_enabled``: the
    requested regions are known to be enabled (an event run: the call it reports was
    made there), so DescribeRegions is not asked; a region disabled since then makes
    its scope an error, never a silent skip.
    """
    candidates = sorted(set(requested)) if requested else offered_regions(clients.base)
    if known_enabled and requested:
        account.regions = candidates
        return []
    try:
        enabled = enabled_regions(account, clients)
    except Exception as exc:  # one failure is recorded, never fatal
        account.regions = candidates
        return [scan_error(account.account_id, None, "ec2:DescribeRegions", exc)]
    account.regions = [r for r in candidates if r in enabled]
    account.skipped_regions = [r for r in candidates if r not in enabled]
    account.regions_verified = True
    return []
