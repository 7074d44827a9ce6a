"""``--security-hub``, ``--notify`` and ``--security-lake`` of a run, once its reports are
written and recorded.

Each finding is imported from its own account with the credentials the scan used there;
the notification is published as the caller; the Security Lake objects are written as the
custom source's provider role, assumed as the caller. The results go into findings.json
(re-written atomically) and the terminal summary; failures are warnings and leave the
exit code as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from auditor.app.results import S3Output
from auditor.aws.clients import ClientCache
from auditor.aws.credentials import caller_credentials
from auditor.core.model import Account
from auditor.core.request import ScanRequest
from auditor.integrations.push import (
    AccountClients,
    push_lake,
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
    cache = ClientCache(session, pool_size=8)
    if request.security_hub:
        doc["security_hub"] = push_security_hub(
            doc, AccountClients(cache, scan_credentials(accounts))
        )
        warn(doc["security_hub"])
    if request.notify:
        doc["notification"] = push_notification(
            doc,
            request.notify,
            cache,
            lambda: caller_credentials(session),
            report_location=str(remote.where) if remote else str(out_dir.resolve()),
        )
        warn(doc["notification"])
    if request.security_lake:
        doc["security_lake"] = push_lake(
            doc,
            request.security_lake,
            cache,
            lambda: caller_credentials(session),
            request.security_lake_role,
            request.security_lake_external_id,
        )
        warn(doc["security_lake"])
    if remote is not None and "json" in request.formats:
        remote.rewrite_document(doc)
    else:
        record_results(doc, out_dir, request.formats)
