"""``--security-hub``, ``--notify`` and ``--security-lake`` of a run, once its reports are
written and recorded.

Each finding is imported from its own account with the credentials the scan used there;
the notification is published as the caller; the Security Lake objects are written as the
custom source's provider role, assumed as the caller. The results go into findings.json
(re-written atomically) and the terminal summary; failures are warnings and leave the
exit code as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.credentials import Credentials

from auditor.app.results import S3Output
from auditor.aws.clients import ClientCache
from auditor.aws.credentials import caller_credentials
from auditor.core.errors import ConfigError
from auditor.core.model import Account
from auditor.core.request import ScanRequest
from auditor.integrations.push import (
    AccountClients,
    push_notification,
    push_security_hub,
    record_results,
    scan_credentials,
    warn,
)


def run_integrations(
    doc: dict[str, Any],
    request: ScanRequest,
    session: boto3.Session,
    accounts: list[Account],
    out_dir: Path,
    remote: S3Output | None = None,
) -> None:
    """Push ``doc`` where ``request`` asks (Security Hub, SNS, Security Lake) and record
    the results."""
    push_all(
        doc,
        ClientCache(session, pool_size=8),
        session,
        hub_credentials=scan_credentials(accounts) if request.security_hub else None,
        topic=request.notify,
        lake=(request.security_lake, request.security_lake_role, request.security_lake_external_id),
        report_location=str(remote.where) if remote else str(out_dir.resolve()),
    )
    if remote is not None and "json" in request.formats:
        remote.rewrite_document(doc)
    else:
        record_results(doc, out_dir, request.formats)


def push_all(
    doc: dict[str, Any],
    cache: ClientCache,
    session: boto3.Session,
    *,
    hub_credentials: Callable[[str], Credentials] | None,
    topic: str | None,
    lake: tuple[str | None, str | None, str | None],
    report_location: str,
) -> None:
    """The pushes of a run, in order, each result in ``doc`` and its failures warned
    about: Security Hub (each account's findings with ``hub_credentials(account)``; None:
    not asked), the SNS ``topic`` (as the caller), the Security Lake custom source
    ``lake`` = (location or None, provider role, external id). A scan and the nightly
    merge push alike; only where the account credentials come from differs."""

    def caller() -> Credentials:  # read only when a push needs it
        return caller_credentials(session)

    if hub_credentials is not None:
        doc["security_hub"] = push_security_hub(doc, AccountClients(cache, hub_credentials))
        warn(doc["security_hub"])
    if topic:
        doc["notification"] = push_notification(
            doc, topic, cache, caller, report_location=report_location
        )
        warn(doc["notification"])
    uri, role_arn, external_id = lake
    if uri:
        doc["security_lake"] = push_lake(doc, uri, cache, caller, role_arn, external_id)
        warn(doc["security_lake"])


def push_lake(
    doc: dict[str, Any],
    uri: str,
    cache: ClientCache,
    caller: Callable[[], Credentials],
    role_arn: str | None,
    external_id: str | None,
) -> dict[str, Any]:
    """Write ``doc``'s findings to the Security Lake custom source at ``uri`` as its
    provider role (assumed as the caller); every failure is a warning in the result."""
    from auditor.integrations.securitylake import parse_destination, push_security_lake

    try:
        destination = parse_destination(uri)
        credentials = caller()
    except Exception as exc:  # no credentials: the same warning as a failed write
        message = exc.message if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        return {
            "destination": uri,
            "status": "failed",
            "records": 0,
            "objects": [],
            "warnings": [f"Security Lake: nothing written: {str(message)[:300]}"],
        }
    return push_security_lake(doc, destination, cache, credentials, role_arn, external_id)
