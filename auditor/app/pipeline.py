"""The scheduler: run the AWS stages of a scan on one bounded pool, then evaluate.

    identity (scope) -> accounts -> collect (collection) -> prove (proving) -> evaluate

Each stage is a function over plain data and can be called alone; this module only
builds the shared clients and pool and passes each stage's output to the next. A
targeted run (``Targets``: what one CloudTrail event affects) goes through exactly the
same stages for fewer scopes and resources.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3

from auditor.aws.clients import ClientCache
from auditor.aws.credentials import CredentialFactory, caller_account_id, caller_credentials
from auditor.aws.pacing import Pacer
from auditor.aws.tasks import CANCEL_GRACE_S, TaskGroup
from auditor.collect.accounts import AccountSelection, select_accounts
from auditor.collect.stage import (
    Collection,
    Collector,
    Targets,
    collect_all,
    interrupted_error,
    region_warnings,
)
from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.model import Account, BucketProof, Progress, ScanResult
from auditor.core.request import ScanRequest
from auditor.evaluate.engine import Rule
from auditor.evaluate.facts import TrustContext
from auditor.evaluate.policy import Policy
from auditor.evaluate.role_policy import named_buckets
from auditor.evaluate.rules import sources_read
from auditor.evaluate.stage import evaluate_resources
from auditor.prove.stage import INTEGRITY, ROLE, RoleRun, prove_stage, read_roles
from auditor.remediate.membership import membership_for_fixes

#: Why a bucket has no proof in an interrupted run (its facts are UNKNOWN with it).
NOT_PROVEN_REASON = "the run was interrupted before S3 was asked who owns this bucket"


@dataclass(frozen=True, slots=True)
class Share:
    """A worker process's part of a scan (auditor.app.workers): the accounts it lists, out
    of the selection its parent already made as ``caller`` (so no worker asks STS and
    Organizations again, and all of them scan the same organisation)."""

    accounts: frozenset[str]
    caller: str
    selection: AccountSelection


class ScanInterrupted(KeyboardInterrupt):
    """Ctrl-C during the scan, carrying the ScanResult of the incomplete run.

    What was collected is kept and evaluated; every scope not finished is an
    ``interrupted`` error, so the run is incomplete. auditor.app.scan writes its reports,
    exits 130, and neither records it in the history nor pushes it anywhere.
    """

    def __init__(self, result: ScanResult) -> None:
        super().__init__("scan interrupted")
        self.result = result


def _prove(
    group: TaskGroup,
    clients: ClientCache,
    scan: list[Account],
    inventory_only: list[Account],
    found: Collection,
    uris: dict[str, Any],
    proofs: dict[str, BucketProof],
    integrity: dict[str, Any],
    lock: threading.Lock,
    sources: frozenset[str],
) -> RoleRun | None:
    """The prove stage: each bucket's owner, then only what an enabled rule reads (its
    configuration, each execution role). Any account we hold credentials for reads its
    own buckets and roles, whichever shard or worker lists it. No role read: None.

    The configuration reads are queued by ``prove_stage``, the role reads share the
    pool with them, and the last wait finishes both.
    """
    readers = [*scan, *inventory_only]
    prove_stage(
        group,
        clients,
        readers,
        found.resources,
        uris,
        found.inventories,
        proofs,
        integrity,
        lock,
        sources,
    )
    roles = None
    if ROLE in sources:
        roles = read_roles(
            group, clients, readers, found.resources, proofs, found.inventories, named_buckets
        )
    group.wait()
    return roles


def _narrow(
    scan: list[Account], inventory_only: list[Account], keep: set[str] | frozenset[str]
) -> tuple[list[Account], list[Account]]:
    """Only ``keep``'s accounts are listed; the others are still inventoried."""
    rest = [a for a in scan if a.account_id not in keep]
    return [a for a in scan if a.account_id in keep], [*inventory_only, *rest]


def _uris(found: Collection, targets: Targets | None) -> dict[str, Any]:
    """Each collected resource's parsed URI; with ``targets``, only their resources kept."""
    uris = {r.arn: parse_artifact_store_uri(r.artifact_store_uri) for r in found.resources}
    if targets is not None:
        found.resources = [r for r in found.resources if targets.keeps(r, uris[r.arn].bucket)]
    return uris


def run_scan(
    base: boto3.Session,
    request: ScanRequest,
    rules: list[Rule],
    policy: Policy,
    progress: Progress | None = None,
    today: dt.date | None = None,
    targets: Targets | None = None,
    share: Share | None = None,
) -> ScanResult:
    """Run the read-only pipeline and return plain data; never writes to AWS.

    Ctrl-C (KeyboardInterrupt in the calling thread) cancels the pool within a second
    and raises ScanInterrupted with what was collected so far, evaluated. ``share``: a
    worker process's part of the accounts (auditor.app.workers); the others are
    inventoried only, as another shard's are.
    """
    started = dt.datetime.now(dt.UTC)
    clients = ClientCache(
        base, pool_size=request.concurrency, pacer=Pacer(budget_s=request.throttle_budget_s)
    )
    caller: str | None = None
    try:
        caller_creds = caller_credentials(base)
        if share is None:
            caller = caller_account_id(clients, caller_creds)
            selection = select_accounts(clients, caller_creds, caller, request)
        else:
            caller, selection = share.caller, share.selection
    except KeyboardInterrupt:
        raise interrupted_before_accounts(caller, started) from None
    scan, inventory_only = selection.scan, selection.inventory_only
    if share is not None:
        scan, inventory_only = _narrow(scan, inventory_only, share.accounts)
    if targets is not None:  # every account is inventoried; only the targets' are listed
        scan, inventory_only = _narrow(scan, inventory_only, {a for a, _ in targets.scopes})
    factory = CredentialFactory(
        clients, caller_creds, caller, request.role_name, request.external_id
    )
    trusted = sorted({*request.trusted_accounts, *policy.trusted_accounts, *selection.organization})
    regions = list(request.regions)

    group = TaskGroup(max_workers=max(1, request.concurrency))
    collector = Collector(clients, factory, group, regions, progress, targets)
    lock = threading.Lock()  # proofs and integrity, filled as they arrive
    proofs: dict[str, BucketProof] = {}
    integrity: dict[str, Any] = {}
    roles: RoleRun | None = None  # an interrupted run leaves every role unread (UNKNOWN)
    interrupted = False
    sources = sources_read(rules, policy.disabled_checks)  # no call that no rule needs
    try:
        found = collect_all(group, collector, scan, inventory_only)
        uris = _uris(found, targets)
        roles = _prove(
            group, clients, scan, inventory_only, found, uris, proofs, integrity, lock, sources
        )
    except KeyboardInterrupt:
        interrupted = True
        group.cancel()
        group.close(CANCEL_GRACE_S)  # the calls in hand may still answer meanwhile
        found = collector.interrupted(scan)
        uris = _uris(found, targets)
        with lock:
            proofs, integrity = dict(proofs), dict(integrity)
        acting = {a.account_id for a in [*scan, *inventory_only] if a.credentials is not None}
        if INTEGRITY not in sources:  # no configuration was to be read
            acting = set()
        _mark_unproven(found, uris, proofs, integrity, acting)
    else:
        group.close()

    resources = sorted(found.resources, key=lambda r: (r.account_id, r.region, r.name))
    pins = [
        (r.account_id, r.s3_bucket_owner_account_id, _owner(r, uris, proofs)) for r in resources
    ]
    trust = TrustContext(
        trusted_accounts=frozenset(trusted),
        inventoried_accounts=frozenset(found.inventories),
        trusted_orgs=frozenset(selection.organization_ids),
        org_accounts=membership_for_fixes(base, request.org, trusted, [] if interrupted else pins),
    )
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
        roles,
    )
    stats = {
        "clients_built": clients.built,
        "assume_role_calls": factory.assume_role_calls,
        "buckets": len(proofs),
        "buckets_configuration_read": len(integrity),
        "throttled": clients.pacer.throttled_count,
        "paced_deferrals": clients.pacer.deferred_count,
        "execution_roles": len(roles.roles) if roles else 0,
        "managed_policies_read": roles.managed_policies_read if roles else 0,
    }
    result = _result(caller, scan, resources, found, proofs, facts, findings, started, stats)
    result.expired_waivers = expired
    result.trusted_accounts = trusted
    result.warnings = region_warnings(regions, scan, result.scopes)
    if interrupted:
        raise ScanInterrupted(result)
    return result


def _owner(resource: Any, uris: dict[str, Any], proofs: dict[str, BucketProof]) -> str | None:
    """The proven owner of a resource's bucket, if any."""
    proof = proofs.get(uris[resource.arn].bucket or "")
    return proof.owner_account_id if proof is not None else None


def interrupted_before_accounts(caller: str | None, started: dt.datetime) -> ScanInterrupted:
    """Ctrl-C before the accounts to scan were known: a run that scanned nothing."""
    nothing = Collection(errors=[interrupted_error(None, None, "the accounts were known")])
    return ScanInterrupted(_result(caller, [], [], nothing, {}, [], [], started, {}))


def _mark_unproven(
    found: Collection,
    uris: dict[str, Any],
    proofs: dict[str, BucketProof],
    integrity: dict[str, Any],
    readers: set[str],
) -> None:
    """Every bucket an interrupted run did not prove gets an UNKNOWN proof that says why;
    each scope read in full but with a bucket not proven, or owned by an account we act
    as and whose configuration was not read yet, is an ``interrupted`` error too (scopes
    left unread already are: auditor.collect.stage.Collector.interrupted)."""
    unproven: Counter[tuple[str, str]] = Counter()
    unread: Counter[tuple[str, str]] = Counter()
    for r in found.resources:
        bucket = uris[r.arn].bucket
        if not bucket:
            continue
        if bucket not in proofs or proofs[bucket].unknown_reason == NOT_PROVEN_REASON:
            proofs[bucket] = BucketProof(name=bucket, unknown_reason=NOT_PROVEN_REASON)
            unproven[(r.account_id, r.region)] += 1
        elif proofs[bucket].owner_account_id in readers and bucket not in integrity:
            unread[(r.account_id, r.region)] += 1
    for key in sorted({*unproven, *unread}):
        scope = found.scopes.get(key)
        if scope is None or scope.status != "scanned":
            continue
        scope.status = "error"
        what = [
            f"the buckets of {unproven[key]} of its resources were proven" if unproven[key] else "",
            f"the configuration of {unread[key]} of its buckets was read" if unread[key] else "",
        ]
        found.errors.append(interrupted_error(*key, " and ".join(w for w in what if w)))


def _result(
    caller: str | None,
    scan: list[Any],
    resources: list[Any],
    found: Collection,
    proofs: dict[str, BucketProof],
    facts: list[dict[str, Any]],
    findings: list[Any],
    started: dt.datetime,
    stats: dict[str, int],
) -> ScanResult:
    errors = sorted(found.errors, key=lambda e: (e.account_id or "", e.region or "", e.operation))
    scopes = sorted(found.scopes.values(), key=lambda s: (s.account_id, s.region))
    return ScanResult(
        caller_account_id=caller,  # type: ignore[arg-type] - None only when interrupted
        accounts=scan,
        scopes=scopes,
        resources=resources,
        proofs=proofs,
        facts=facts,
        findings=findings,
        errors=errors,
        expired_waivers=[],
        trusted_accounts=[],
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        stats=stats,
    )
