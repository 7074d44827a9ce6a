"""The scheduler: run the AWS stages of a scan on one bounded pool, then evaluate.

    identity (scope) -> accounts -> collect (collection) -> prove (proving) -> evaluate

Each stage is a function over plain data and can be called alone; this module only
builds the shared clients and pool and passes each stage's output to the next. A
targeted run (``Targets``: what one CloudTrail event affects) goes through exactly the
same stages for fewer scopes and resources.
"""

from __future__ import annotations

import datetime as dt

import boto3

from auditor.accounts import select_accounts
from auditor.artifacts import parse_artifact_store_uri
from auditor.clients import ClientCache
from auditor.collection import Collector, Targets, collect_all, region_warnings
from auditor.engine import Rule
from auditor.evaluation import evaluate_resources
from auditor.facts import TrustContext
from auditor.model import Progress, ScanResult
from auditor.pacing import Pacer
from auditor.policy import Policy
from auditor.proving import gather_integrity, prove_buckets
from auditor.request import ScanRequest
from auditor.scope import CredentialFactory, caller_account_id, caller_credentials
from auditor.tasks import TaskGroup


def run_scan(
    base: boto3.Session,
    request: ScanRequest,
    rules: list[Rule],
    policy: Policy,
    progress: Progress | None = None,
    today: dt.date | None = None,
    targets: Targets | None = None,
) -> ScanResult:
    """Run the read-only pipeline and return plain data; never writes to AWS."""
    started = dt.datetime.now(dt.UTC)
    clients = ClientCache(
        base, pool_size=request.concurrency, pacer=Pacer(budget_s=request.throttle_budget_s)
    )
    caller_creds = caller_credentials(base)
    caller = caller_account_id(clients, caller_creds)
    selection = select_accounts(clients, caller_creds, caller, request)
    scan, inventory_only = selection.scan, selection.inventory_only
    if targets is not None:  # every account is inventoried; only the targets' are listed
        wanted = {account for account, _ in targets.scopes}
        inventory_only = [*inventory_only, *(a for a in scan if a.account_id not in wanted)]
        scan = [a for a in scan if a.account_id in wanted]
    factory = CredentialFactory(
        clients, caller_creds, caller, request.role_name, request.external_id
    )
    trusted = sorted({*request.trusted_accounts, *policy.trusted_accounts, *selection.organization})
    regions = list(request.regions)

    with TaskGroup(max_workers=max(1, request.concurrency)) as group:
        collector = Collector(clients, factory, group, regions, progress, targets)
        found = collect_all(group, collector, scan, inventory_only)
        uris = {r.arn: parse_artifact_store_uri(r.artifact_store_uri) for r in found.resources}
        if targets is not None:
            found.resources = [r for r in found.resources if targets.keeps(r, uris[r.arn].bucket)]
        proofs = prove_buckets(group, clients, scan, found.resources, uris, found.inventories)
        # any account we hold credentials for reads its own buckets, whichever shard lists it
        readers = [*scan, *inventory_only]
        integrity = gather_integrity(group, clients, readers, found.resources, uris, proofs)

    trust = TrustContext(
        trusted_accounts=frozenset(trusted),
        inventoried_accounts=frozenset(found.inventories),
        trusted_orgs=frozenset(selection.organization_ids),
    )
    resources = sorted(found.resources, key=lambda r: (r.account_id, r.region, r.name))
    facts, findings, expired = evaluate_resources(
        resources,
        uris,
        proofs,
        trust,
        found.undescribed,
        rules,
        policy,
        today or dt.date.today(),
        integrity,
    )
    errors = sorted(found.errors, key=lambda e: (e.account_id or "", e.region or "", e.operation))
    scopes = sorted(found.scopes.values(), key=lambda s: (s.account_id, s.region))
    stats = {
        "clients_built": clients.built,
        "assume_role_calls": factory.assume_role_calls,
        "buckets": len(proofs),
        "buckets_configuration_read": len(integrity),
        "throttled": clients.pacer.throttled_count,
        "paced_deferrals": clients.pacer.deferred_count,
    }
    return ScanResult(
        caller_account_id=caller,
        accounts=scan,
        scopes=scopes,
        resources=resources,
        proofs=proofs,
        facts=facts,
        findings=findings,
        errors=errors,
        expired_waivers=expired,
        trusted_accounts=trusted,
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        stats=stats,
        warnings=region_warnings(regions, scan, scopes),
    )
