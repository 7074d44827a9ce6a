"""Credentials the run acts with: the caller's own, and one assumed role per audited
account (refreshed by botocore before they expire)."""

from __future__ import annotations

import functools
import threading

import boto3
from botocore.credentials import (
    Credentials,
    DeferredRefreshableCredentials,
    RefreshableCredentials,
)
from botocore.exceptions import NoCredentialsError

from auditor.aws.clients import ClientCache
from auditor.core.model import Account

ROLE_SESSION_NAME = "mlflow-audit"
# Assumed-role credentials last an hour by default; botocore refreshes them this many
# seconds before expiry (its advisory window), so a long scan never uses stale keys.
ASSUME_ROLE_DURATION_S = 3600


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
