"""AWS Config custom-rule invocations of the Lambda: re-check, then ``PutEvaluations``.

    parse (auditor.events.config) -> membership -> re-check -> verdicts and PutEvaluations
                                                               (auditor.integrations.config_rule)

A change notification (or an oversized one) re-checks the named tracking server as an
event run does (auditor.app.event.run_event: the same rules, proofs and policy as scan);
a periodic run scans every resource of the rule's (account, region), the rest of the
Organization inventoried for the ownership proofs as in any event run. The answer goes
to Config in the account that invoked the rule: the caller's own Config as the caller,
a member's through its audit role (which needs ``config:PutEvaluations``), since a
result token is only valid in the account and region of the rule that issued it
(PutEvaluations API reference,
https://docs.aws.amazon.com/config/latest/APIReference/API_PutEvaluations.html).

A Config re-check is read-only and leaves no trace: no remediation (Config has its own
remediation actions), no history and no pushes (the CloudTrail event of the same change
already reaches the event function, which records and pushes). With ``--org``
(``MLFLOW_AUDIT_ORG``) an invocation from an account outside the Organization is refused:
an organisation rule's function may be invoked by any account's Config service.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3

from auditor.app.documents import role_credentials
from auditor.app.event import run_event
from auditor.app.finish import AfterScan, RunContext, finish_run
from auditor.app.recording import scan_recorder
from auditor.app.scan import execute_scan, load_run_policy
from auditor.aws.clients import ClientCache
from auditor.aws.credentials import caller_credentials
from auditor.collect.scope import organization_accounts
from auditor.collect.stage import Targets
from auditor.core.model import TRACKING_SERVER, Resource
from auditor.core.request import ScanRequest
from auditor.events.config import ConfigEventError, ConfigInvocation, parse_config_event
from auditor.events.parse import ParseResult, ResourceTarget
from auditor.integrations.config_rule import handle_event
from auditor.integrations.push import AccountClients
from auditor.report.console import TerminalProgress

TRACKING_SERVER_ARN = ":mlflow-tracking-server/"


@dataclass(frozen=True, slots=True)
class WholeScopes(Targets):
    """Every resource of the targeted (account, region) scopes, none elsewhere."""

    def describes(self, ident: str, arn: str | None) -> bool:
        return True

    def keeps(self, resource: Resource, bucket: str | None) -> bool:
        return True


def recheck_request(request: ScanRequest) -> ScanRequest:
    """The run's request, read-only and traceless (see the module's docstring)."""
    return replace(
        request,
        formats=("json",),
        quiet=True,
        no_history=True,
        history_path=None,
        security_hub=False,
        notify=None,
        security_lake=None,
        security_lake_role=None,
        security_lake_external_id=None,
        remediate=False,
        yes=False,
        dry_run=False,
    )


def _named(invocation: ConfigInvocation) -> ParseResult:
    """The tracking servers a change notification names, as an event run's targets."""
    targets = [
        ResourceTarget(
            kind=TRACKING_SERVER,
            account_id=r.account_id,
            region=r.region,
            name=r.resource_id,
            arn=r.arn if r.arn and TRACKING_SERVER_ARN in r.arn else None,
            effect="configured",
            event_name=invocation.message_type,
            event_id=f"config:{r.resource_id}:{r.ordering_timestamp.isoformat()}",
        )
        for r in invocation.resources
        if r.applicable
    ]
    return ParseResult(resources=targets)


def _scan_scope(
    invocation: ConfigInvocation, request: ScanRequest, session: boto3.Session, out: Path
) -> list[dict[str, Any]]:
    """A periodic run: every resource of the rule's account and region, re-checked."""
    scope = (invocation.account_id, invocation.region)
    request = replace(request, accounts=(scope[0],), regions=(scope[1],))
    rules, policy = load_run_policy(request)
    targets = WholeScopes(frozenset({scope}))
    result = execute_scan(session, request, rules, policy, TerminalProgress(False), targets)
    run = RunContext(request, session, policy, out)
    doc, _ = finish_run(result, run, AfterScan(scan_recorder(request), show_summary=False))
    return list(doc["findings"])


def recheck(
    invocation: ConfigInvocation, request: ScanRequest, session: boto3.Session
) -> list[dict[str, Any]]:
    """The findings of what ``invocation`` asks about, re-checked now."""
    request = recheck_request(request)
    with tempfile.TemporaryDirectory(prefix="mlflow-audit-config-") as tmp:
        if invocation.scheduled:
            return _scan_scope(invocation, request, session, Path(tmp))
        outcome = run_event(_named(invocation), request, session, Path(tmp))
        return list(outcome.doc["findings"]) if outcome.doc is not None else []


def refusal(event: Any, request: ScanRequest, cache: ClientCache, session: Any) -> str | None:
    """Why this invocation is not answered (its account is not a member of the caller's
    Organization, when the run audits the Organization), else None."""
    if not request.org:
        return None
    try:
        invocation = parse_config_event(event)
    except ConfigEventError:
        return None  # handle_event answers a malformed event with its one line
    members = {a.account_id for a in organization_accounts(cache, caller_credentials(session))}
    if invocation.account_id in members:
        return None
    return (
        f"Config invocation from account {invocation.account_id}, which is not an ACTIVE "
        "member of the Organization: not evaluated"
    )


def handle_config_event(event: Any, request: ScanRequest, session: boto3.Session) -> dict[str, Any]:
    """Answer one Config rule invocation; a small JSON-able summary (never raises for a
    malformed or refused event: Config invokes the rule again on the next change)."""
    cache = ClientCache(session, pool_size=4)
    refused = refusal(event, request, cache, session)
    if refused is not None:
        return {"status": "refused", "message": refused}

    def config_for(invocation: ConfigInvocation) -> Any:
        # asked only once the invocation parsed: a malformed event makes no AWS call
        credentials_for = role_credentials(session, cache, request.role_name, request.external_id)
        clients = AccountClients(cache, credentials_for, service="config")
        return clients(invocation.account_id, invocation.region)

    return handle_event(event, lambda invocation: recheck(invocation, request, session), config_for)
