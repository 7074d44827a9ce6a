"""The only place boto3 clients are built: one per (account, region, service), reused.

boto3 Sessions are not thread-safe but clients are, so each client is built once under a
lock and then shared by every worker thread. Retries use botocore's own retry modes
(``standard`` by default, with more attempts than botocore's default because an
organisation-wide scan meets throttling) unless the user's environment or shared config
file chose a mode or attempt count, which then wins. No ``endpoint_url`` is ever passed:
``AWS_ENDPOINT_URL`` and the config file decide the endpoint, as in any AWS tool.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 30
USER_AGENT_EXTRA = "mlflow-audit"


def _user_config_value(session: boto3.Session, name: str) -> Any:
    """A setting the user chose (environment or profile), or None.

    ``get_config_variable`` would also return botocore's built-in default, which must not
    be mistaken for a user's choice.
    """
    env = os.environ.get(f"AWS_{name.upper()}")
    if env:
        return env
    return session._session.get_scoped_config().get(name)


def client_config(session: boto3.Session, pool_size: int) -> Config:
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


class ClientCache:
    """Builds every client; caches those that are reused, keyed by (account, region, service).

    A client used by one task only (a scope's SageMaker client, an account's one
    DescribeRegions) is built with ``build`` and dropped with its task: an organisation
    has tens of thousands of scopes, and keeping each scope's client alive would make
    memory grow with the organisation rather than with the findings.
    """

    def __init__(self, pool_size: int = 16) -> None:
        self._pool_size = pool_size
        self._clients: dict[tuple[str, str | None, str], Any] = {}
        self._lock = threading.Lock()
        self.built = 0  # how many clients were constructed (a benchmark figure)

    def build(self, session: boto3.Session, region: str | None, service: str) -> Any:
        """A new client that the caller owns (not cached).

        Built under the lock: a Session is not thread-safe while it creates clients
        (boto/botocore#2985), and creation is CPU-bound anyway.
        """
        with self._lock:
            client = session.client(service, region_name=region,
                                    config=client_config(session, self._pool_size))
            self.built += 1
        return client

    def get(self, session: boto3.Session, account_id: str, region: str | None,
            service: str) -> Any:
        key = (account_id, region, service)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = session.client(
                    service, region_name=region, config=client_config(session, self._pool_size)
                )
                self._clients[key] = client
                self.built += 1
            return client
