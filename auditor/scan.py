"""The scan pipeline: scope -> collect -> prove ownership -> facts -> evaluate.

Only this module schedules AWS calls; each stage it calls is a plain function. Every
(account, region) scope, every Describe and every bucket probe is an independent task on
one bounded pool, so a scan is bounded by API latency, not by the order of the loops.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.credentials import Credentials

from auditor import collect
from auditor.artifacts import ParsedUri, parse_artifact_store_uri
from auditor.clients import ClientCache
from auditor.engine import Rule, evaluate_all
from auditor.errors import error_code, scan_error
from auditor.facts import TrustContext, build_facts
from auditor.model import (
    DEFAULT_ROLE_NAME,
    MLFLOW_APP,
    TRACKING_SERVER,
    BucketProof,
    Resource,
    ScanError,
)
from auditor.ownership import list_owned_buckets, prove_bucket
from auditor.pacing import DEFAULT_BUDGET_S, Lanes, Pacer, is_throttling
from auditor.policy import Policy
from auditor.scope import (
    REGION_NOT_ENABLED_CODES,
    Account,
    CredentialFactory,
    caller_account_id,
    caller_credentials,
    organization_accounts,
    resolve_regions,
)
from auditor.tasks import TaskGroup

DEFAULT_CONCURRENCY = 32


@dataclass(slots=True)
class ScanOptions:
    regions: list[str] = field(default_factory=list)  # empty: offered and enabled
    accounts: list[str] = field(default_factory=list)
    org: bool = False
    role_name: str = DEFAULT_ROLE_NAME
    external_id: str | None = None
    trusted_accounts: list[str] = field(default_factory=list)
    concurrency: int = DEFAULT_CONCURRENCY
    shard: tuple[int, int] | None = None  # (K, N), 1-based K
    # How long one call may keep being throttled (paced and retried) before it fails.
    throttle_budget_s: float = DEFAULT_BUDGET_S


@dataclass(slots=True)
class ScopeResult:
    account_id: str
    region: str
    status: str = "scanned"  # scanned | error | skipped
    resources: int = 0
    # Resource types whose MLflow operations this region does not offer (coverage, not
    # an error): e.g. ["mlflow-app"] where tracking servers exist but Apps do not.
    not_offered: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ScanResult:
    caller_account_id: str
    accounts: list[Account]
    scopes: list[ScopeResult]
    resources: list[Resource]
    proofs: dict[str, BucketProof]
    facts: list[dict[str, Any]]
    findings: list[dict[str, Any]]  # findings.json shape, see docs/findings-schema.md
    errors: list[ScanError]
    expired_waivers: list[dict[str, Any]]
    trusted_accounts: list[str]
    started_at: dt.datetime
    finished_at: dt.datetime
    stats: dict[str, int]
    # Explicit --region values that no audited account has enabled, or where MLflow is
    # not offered: shown as warnings, never silently a PASS over nothing.
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.errors


def shard_of(account_id: str, total: int) -> int:
    """The 1-based shard an account belongs to: stable across runs and machines."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    scopes_done: int
    scopes_total: int
    resources: int  # described so far
    errors: int


Progress = Callable[[ProgressSnapshot], None]


class _Collector:
    """Mutable state of one collection pass, shared by the pool's tasks under a lock."""

    def __init__(
        self,
        clients: ClientCache,
        factory: CredentialFactory,
        group: TaskGroup,
        requested_regions: list[str],
        progress: Progress | None,
    ) -> None:
        self.clients = clients
        self.factory = factory
        self.group = group
        self.requested_regions = requested_regions
        self.progress = progress
        self.lock = threading.Lock()
        self.resources: list[Resource] = []
        self.errors: list[ScanError] = []
        self.scopes: dict[tuple[str, str], ScopeResult] = {}
        self.inventories: dict[str, set[str]] = {}
        # ARN -> why a resource that a List returned could not be described.
        self.undescribed: dict[str, str] = {}
        self.lanes = Lanes(clients.pacer, group.submit_after)
        self.scopes_total = 0
        self.scopes_done = 0

    def _error(self, err: ScanError) -> None:
        with self.lock:
            self.errors.append(err)

    def _tick(self) -> None:
        with self.lock:
            self.scopes_done += 1
            snapshot = ProgressSnapshot(
                self.scopes_done, self.scopes_total, len(self.resources), len(self.errors)
            )
        if self.progress:
            self.progress(snapshot)

    def account_task(self, account: Account, scan_resources: bool = True) -> None:
        """Credentials, then the bucket inventory and (unless inventory-only) the scopes.

        With ``--shard`` the accounts of other shards are still inventoried (one
        ListBuckets each), so a bucket owned by an account of another shard is proven
        by its owner's list rather than left unknown: every shard sees the whole
        organisation's ownership map, and merged shards agree with a single scan.
        """
        try:
            account.credentials = self.factory.credentials_for(account)
        except Exception as exc:  # one failure is recorded, never fatal
            account.error = scan_error(account.account_id, None, "sts:AssumeRole", exc)
            if scan_resources:
                self._error(account.error)
            return
        if not scan_resources:
            self.group.submit(self.inventory_task, account, scan_resources, priority=1)
            return
        for err in resolve_regions(account, self.clients, self.requested_regions or None):
            self._error(err)
        with self.lock:
            for region in account.skipped_regions:
                self.scopes[(account.account_id, region)] = ScopeResult(
                    account.account_id, region, status="skipped"
                )
            for region in account.regions:
                self.scopes[(account.account_id, region)] = ScopeResult(account.account_id, region)
            self.scopes_total += len(account.regions)
        self.group.submit(self.inventory_task, account, True, priority=1)
        for region in account.regions:
            self.group.submit(self.scope_task, account, region, priority=1)

    def inventory_task(self, account: Account, report_errors: bool = True) -> None:
        assert account.credentials is not None
        try:
            with self.clients.acting_as(account.credentials, account.account_id):
                s3 = self.clients.client(self.clients.default_region, "s3")
                owned = list_owned_buckets(s3)
        except Exception as exc:  # one failure is recorded, never fatal
            if report_errors:  # another shard's account: that shard reports it
                self._error(scan_error(account.account_id, None, "s3:ListBuckets", exc))
            return
        with self.lock:
            self.inventories[account.account_id] = owned

    def _scope_failed(
        self, account: Account, scope: ScopeResult, operation: str, exc: Exception
    ) -> None:
        # Only when DescribeRegions could not say which regions are enabled is an
        # "unrecognized client" answer taken to mean "not enabled": otherwise it is a
        # credential problem in an enabled region and must make the scan incomplete.
        if (
            error_code(exc) in REGION_NOT_ENABLED_CODES
            and not account.regions_verified
            and not self.requested_regions
        ):
            scope.status = "skipped"
            return
        scope.status = "error"
        self._error(scan_error(scope.account_id, scope.region, operation, exc))

    def scope_task(self, account: Account, region: str) -> None:
        assert account.credentials is not None
        scope = self.scopes[(account.account_id, region)]
        servers: list[tuple[str, str | None]] = []
        app_arns: list[str] = []
        with self.clients.acting_as(account.credentials, account.account_id):
            sm = self.clients.client(region, "sagemaker")
            try:
                servers = collect.list_tracking_servers(sm)
            except Exception as exc:  # one failure is recorded, never fatal
                if not collect.not_offered(exc):
                    self._scope_failed(account, scope, "sagemaker:ListMlflowTrackingServers", exc)
                    self._tick()
                    return
                scope.not_offered.append(TRACKING_SERVER)
            try:
                app_arns = collect.list_apps(sm)
            except Exception as exc:  # one failure is recorded, never fatal
                if collect.not_offered(exc):
                    scope.not_offered.append(MLFLOW_APP)
                else:
                    self._scope_failed(account, scope, "sagemaker:ListMlflowApps", exc)
        scope.resources = len(servers) + len(app_arns)
        for name, arn in servers:
            self.group.submit(self.describe_task, account, region, "server", name, arn)
        for arn in app_arns:
            self.group.submit(self.describe_task, account, region, "app", arn, arn)
        self._tick()

    def describe_task(
        self,
        account: Account,
        region: str,
        kind: str,
        ident: str,
        listed_arn: str | None,
        first_try: float | None = None,
    ) -> None:
        assert account.credentials is not None
        op = "DescribeMlflowTrackingServer" if kind == "server" else "DescribeMlflowApp"
        key = (account.account_id, region, f"sagemaker:{op}")
        pacer = self.clients.pacer
        if first_try is None:
            # A paced scope's Describes wait for their slots off the workers.
            args = (account, region, kind, ident, listed_arn, pacer.now())
            self.lanes.run(key, self.describe_task, *args)
            return
        try:
            with self.clients.acting_as(account.credentials, account.account_id):
                sm = self.clients.client(region, "sagemaker")
                resource = (
                    collect.describe_tracking_server(sm, account.account_id, region, ident)
                    if kind == "server"
                    else collect.describe_app(sm, account.account_id, region, ident)
                )
        except Exception as exc:  # one failure is recorded, never fatal
            if is_throttling(error_code(exc)) and pacer.now() - first_try < pacer.budget_s:
                args = (account, region, kind, ident, listed_arn, first_try)
                self.lanes.retry(key, self.describe_task, *args)
                return
            err = scan_error(account.account_id, region, f"sagemaker:{op}", exc)
            if not err.message.startswith(f"{ident}:"):
                err.message = f"{ident}: {err.message}"
            self._error(err)
            # Listed, so never lost: reported with UNKNOWN findings that say why.
            placeholder = Resource(
                resource_type=TRACKING_SERVER if kind == "server" else MLFLOW_APP,
                account_id=account.account_id,
                region=region,
                name=ident if kind == "server" else ident.rsplit("/", 1)[-1],
                arn=listed_arn or _synthetic_arn(account.account_id, region, kind, ident),
                artifact_store_uri=None,
            )
            with self.lock:
                self.scopes[(account.account_id, region)].status = "error"
                self.resources.append(placeholder)
                self.undescribed[placeholder.arn] = (
                    f"{op} failed ({err.error_code}), so nothing about this resource is known"
                )
            return
        if resource is not None:
            with self.lock:
                self.resources.append(resource)


def _synthetic_arn(account_id: str, region: str, kind: str, ident: str) -> str:
    """The ARN a listed server would have, when its List summary lacked it."""
    if kind != "server":
        return ident
    return f"arn:aws:sagemaker:{region}:{account_id}:mlflow-tracking-server/{ident}"


class _Unknowable(dict):  # type: ignore[type-arg]
    """``unknown`` for a resource that could not be described: every fact, one reason."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def get(self, key: Any, default: Any = None) -> Any:
        return self.reason


def _undescribed_facts(facts: dict[str, Any], reason: str) -> dict[str, Any]:
    """Facts of a listed resource whose Describe failed: nothing can be evaluated."""
    keep = {"type", "name", "arn", "account_id", "region"}
    facts["resource"] = {k: (v if k in keep else None) for k, v in facts["resource"].items()}
    facts["uri"] = dict.fromkeys(facts["uri"])
    facts["bucket"] = dict.fromkeys(facts["bucket"])
    facts["expected_owner"] = facts["expected_owner_trusted"] = None
    facts["trust"] = {**facts["trust"], "all_trusted_inventoried": None}
    facts["unknown"] = _Unknowable(reason)
    return facts


def region_warnings(
    requested: list[str], accounts: list[Account], scopes: list[ScopeResult]
) -> list[str]:
    """Explicit regions that no audited account has enabled, or where MLflow is not offered."""
    warnings: list[str] = []
    readable = [a for a in accounts if a.credentials is not None]
    if not readable:
        return warnings
    by_region: dict[str, list[ScopeResult]] = defaultdict(list)
    for scope in scopes:
        if scope.status != "skipped":
            by_region[scope.region].append(scope)
    for region in sorted(set(requested)):
        scanned = by_region.get(region, [])
        if not scanned:
            warnings.append(f"--region {region}: no audited account has this region enabled")
            continue
        read = [s for s in scanned if s.status == "scanned"]
        for kind, label in ((TRACKING_SERVER, "tracking servers"), (MLFLOW_APP, "MLflow Apps")):
            if read and all(kind in s.not_offered for s in read):
                warnings.append(f"--region {region}: SageMaker does not offer MLflow {label} here")
    return warnings


def _select_accounts(
    clients: ClientCache, caller_creds: Credentials, caller: str, options: ScanOptions
) -> tuple[list[Account], list[Account], list[str]]:
    """(accounts to scan, other accounts to inventory only, Organization account ids)."""
    org_ids: list[str] = []
    accounts: dict[str, Account] = {}
    if options.org:
        for acct in organization_accounts(clients, caller_creds):
            accounts[acct.account_id] = acct
        org_ids = sorted(accounts)
    for account_id in options.accounts:
        accounts.setdefault(account_id, Account(account_id=account_id))
    if not accounts:
        accounts[caller] = Account(account_id=caller)
    selected = sorted(accounts.values(), key=lambda a: a.account_id)
    others: list[Account] = []
    if options.shard:
        k, n = options.shard
        others = [a for a in selected if shard_of(a.account_id, n) != k]
        selected = [a for a in selected if shard_of(a.account_id, n) == k]
    return selected, others, org_ids


def _prove_buckets(
    group: TaskGroup,
    clients: ClientCache,
    accounts: list[Account],
    resources: list[Resource],
    uris: dict[str, ParsedUri],
    inventories: dict[str, set[str]],
) -> dict[str, BucketProof]:
    """Resolve each distinct bucket once, whatever number of resources use it."""
    credentials = {a.account_id: a.credentials for a in accounts if a.credentials is not None}
    users: dict[str, list[Resource]] = defaultdict(list)
    for resource in resources:
        bucket = uris[resource.arn].bucket
        if bucket:
            users[bucket].append(resource)
    proofs: dict[str, BucketProof] = {}
    lock = threading.Lock()
    inventoried = frozenset(inventories)

    def s3_for(account_id: str, region: str) -> Any:
        return clients.client(region, "s3")  # called inside acting_as(account_id) below

    def task(bucket: str, using: list[Resource]) -> None:
        probe_from = next(
            (
                (r.account_id, uris[r.arn].region or r.region)
                for r in using
                if r.account_id in credentials
            ),
            None,
        )
        candidates = {r.s3_bucket_owner_account_id or r.account_id for r in using}
        try:
            with clients.acting_as(
                credentials[probe_from[0]] if probe_from else None,
                probe_from[0] if probe_from else None,
            ):
                proof = prove_bucket(
                    bucket, probe_from, candidates, inventories, s3_for, inventoried
                )
        except Exception as exc:  # a bug or an unparsable answer: unknown, not fatal
            proof = BucketProof(name=bucket, unknown_reason=f"proof failed: {exc!r}")
        with lock:
            proofs[bucket] = proof

    for bucket, using in sorted(users.items()):
        group.submit(task, bucket, using)
    group.wait()
    return proofs


def run_scan(
    base: boto3.Session,
    options: ScanOptions,
    rules: list[Rule],
    policy: Policy,
    progress: Progress | None = None,
    today: dt.date | None = None,
) -> ScanResult:
    """Run the read-only pipeline and return plain data; never writes to AWS."""
    started = dt.datetime.now(dt.UTC)
    clients = ClientCache(
        base, pool_size=options.concurrency, pacer=Pacer(budget_s=options.throttle_budget_s)
    )
    caller_creds = caller_credentials(base)
    caller = caller_account_id(clients, caller_creds)
    accounts, inventory_only, org_ids = _select_accounts(clients, caller_creds, caller, options)
    factory = CredentialFactory(
        clients, caller_creds, caller, options.role_name, options.external_id
    )
    trusted = sorted({*options.trusted_accounts, *policy.trusted_accounts, *org_ids})

    with TaskGroup(max_workers=max(1, options.concurrency)) as group:
        state = _Collector(clients, factory, group, options.regions, progress)
        for account in accounts:
            group.submit(state.account_task, account, True, priority=2)
        for account in inventory_only:
            group.submit(state.account_task, account, False, priority=2)
        group.wait()
        uris = {r.arn: parse_artifact_store_uri(r.artifact_store_uri) for r in state.resources}
        proofs = _prove_buckets(group, clients, accounts, state.resources, uris, state.inventories)

    trust = TrustContext(
        trusted_accounts=frozenset(trusted), inventoried_accounts=frozenset(state.inventories)
    )
    resources = sorted(state.resources, key=lambda r: (r.account_id, r.region, r.name))
    facts = [
        build_facts(r, uris[r.arn], proofs.get(uris[r.arn].bucket or ""), trust) for r in resources
    ]
    for i, r in enumerate(resources):
        if r.arn in state.undescribed:
            facts[i] = _undescribed_facts(facts[i], state.undescribed[r.arn])
    findings, expired = evaluate_all(rules, facts, policy, today or dt.date.today())
    errors = sorted(state.errors, key=lambda e: (e.account_id or "", e.region or "", e.operation))
    scopes = sorted(state.scopes.values(), key=lambda s: (s.account_id, s.region))
    stats = {
        "clients_built": clients.built,
        "assume_role_calls": factory.assume_role_calls,
        "buckets": len(proofs),
        "throttled": clients.pacer.throttled_count,
        "paced_deferrals": clients.pacer.deferred_count,
    }
    return ScanResult(
        caller_account_id=caller,
        accounts=accounts,
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
        warnings=region_warnings(options.regions, accounts, scopes),
    )
