"""The only place clients are built: one per (region, service) for the whole run.

An organisation-wide scan calls the same few operations in thousands of (account,
region) scopes. Building a botocore client per scope made client construction, not AWS,
the bound on a scan (each costs milliseconds of CPU, its own connection pool and TLS
handshakes). Instead every client is shared by all accounts, and the account a call acts
as is bound to the calling thread: the clients sign with ``BoundCredentials``, which
resolve to the credentials bound by ``ClientCache.acting_as`` for the duration of a
task. A call made with no account bound raises instead of signing with anything else.

Throttling is paced and retried per (account, region, operation) by ``auditor.aws.pacing``
(installed on every client by ``auditor.aws.hooks``), since AWS's limits are per account
and a shared client's retry quota is not. Other retries use botocore's own retry modes
(``standard`` by default, with more attempts than botocore's default) unless the user's
environment or shared config file chose a mode or attempt count, which then wins.
No ``endpoint_url`` is ever passed: ``AWS_ENDPOINT_URL`` and the config file decide.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    Credentials,
    ReadOnlyCredentials,
)

from auditor.aws import hooks, pacing
from auditor.aws.models import use_lean_models

DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 30
USER_AGENT_EXTRA = "mlflow-audit"


def _user_config_value(session: botocore.session.Session, name: str) -> Any:
    """A setting the user chose (environment or profile), or None.

    ``get_config_variable`` would also return botocore's built-in default, which must not
    be mistaken for a user's choice.
    """
    env = os.environ.get(f"AWS_{name.upper()}")
    if env:
        return env
    return session.get_scoped_config().get(name)


def client_config(session: botocore.session.Session, pool_size: int) -> Config:
    """botocore Config for our clients, deferring to the user's retry settings."""
    retries: dict[str, Any] = {}
    if _user_config_value(session, "retry_mode") is None:
        retries["mode"] = DEFAULT_RETRY_MODE
    if _user_config_value(session, "max_attempts") is None:
        retries["total_max_attempts"] = DEFAULT_MAX_ATTEMPTS
    kwargs: dict[str, Any] = {
        "max_pool_connections": max(10, pool_size),
        "connect_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "user_agent_extra": USER_AGENT_EXTRA,
    }
    if retries:
        kwargs["retries"] = retries
    return Config(**kwargs)


class NoAccountBound(RuntimeError):
    """An AWS call was made outside ``acting_as``: refused rather than guessed."""


class BoundCredentials(Credentials):
    """Credentials of whichever account the calling thread is bound to.

    botocore signs every request (and every retry) in the thread that makes the call,
    asking the client's credentials for a frozen copy each time; this object answers
    with the credentials bound to that thread.
    """

    method = "mlflow-audit-bound"

    def __init__(self) -> None:  # no super().__init__: every field is delegated
        self._local = threading.local()

    def _current(self) -> Credentials:
        creds = getattr(self._local, "credentials", None)
        if creds is None:
            raise NoAccountBound("an AWS call was made with no account bound")
        return creds

    @contextmanager
    def bind(self, credentials: Credentials, account_id: str | None = None) -> Iterator[None]:
        previous = getattr(self._local, "credentials", None), getattr(self._local, "account", None)
        self._local.credentials = credentials
        self._local.account = account_id
        try:
            yield
        finally:
            self._local.credentials, self._local.account = previous

    def scope_account(self) -> str:
        """The account the thread acts as, for pacing: its id, else its access key."""
        account = getattr(self._local, "account", None)
        if account:
            return str(account)
        creds = getattr(self._local, "credentials", None)
        return "" if creds is None else str(getattr(creds, "access_key", "") or "")

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return self._current().get_frozen_credentials()

    @property  # type: ignore[override]
    def access_key(self) -> str:
        return self._current().access_key

    @property  # type: ignore[override]
    def secret_key(self) -> str:
        return self._current().secret_key

    @property  # type: ignore[override]
    def token(self) -> str | None:
        return self._current().token

    @property
    def account_id(self) -> str | None:
        return getattr(self._current(), "account_id", None)


class _BoundProvider(CredentialProvider):
    """A credential provider that always answers with the run's ``BoundCredentials``."""

    METHOD = BoundCredentials.method

    def __init__(self, credentials: BoundCredentials) -> None:
        super().__init__()
        self._bound = credentials

    def load(self) -> Credentials:
        return self._bound


class ClientCache:
    """Shared clients keyed by (region, service), for every account of the run."""

    def __init__(
        self, base: boto3.Session, pool_size: int = 16, pacer: pacing.Pacer | None = None
    ) -> None:
        self.base = base
        self.pacer = pacer or pacing.Pacer()
        self._pool_size = pool_size
        self.credentials = BoundCredentials()
        # A session of the caller's profile (so the shared config file's settings apply)
        # whose clients sign with the bound credentials.
        profile = base.profile_name if base.profile_name != "default" else None
        bc = botocore.session.Session(profile=profile)
        # The session's credential chain is replaced by one provider: the bound ones.
        bc.register_component(
            "credential_provider", CredentialResolver([_BoundProvider(self.credentials)])
        )
        self._config = bc
        self._session = boto3.Session(botocore_session=bc, region_name=base.region_name)
        use_lean_models(bc)
        self._clients: dict[tuple[str | None, str], Any] = {}
        self._lock = threading.Lock()
        self.built = 0  # how many clients were constructed (a benchmark figure)

    @property
    def default_region(self) -> str:
        return self.base.region_name or "us-east-1"

    def acting_as(self, credentials: Credentials, account_id: str | None = None) -> Any:
        """Context manager: calls made by this thread inside it act with ``credentials``
        (of ``account_id``, which keys the pacing; the access key when not given)."""
        return self.credentials.bind(credentials, account_id)

    def client(self, region: str | None, service: str) -> Any:
        key = (region, service)
        client = self._clients.get(key)
        if client is not None:
            return client
        # A Session is not thread-safe while it creates clients (boto/botocore#2985).
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._session.client(
                    service,
                    region_name=region,
                    config=client_config(self._config, self._pool_size),
                )
                hooks.install(
                    client, self.pacer, client.meta.region_name, self.credentials.scope_account
                )
                self._clients[key] = client
                self.built += 1
            return client
