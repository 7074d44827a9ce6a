"""The collect stage on the task pool: credentials, regions, List and Describe per scope.

Every (account, region) scope, every Describe and every bucket inventory is a task on
the shared pool, so collection is bounded by API latency, not by the order of loops. A
resource a List returned is never lost: one whose Describe failed is kept as a
placeholder with the reason (``undescribed``), and gets UNKNOWN findings.

``Targets`` narrows a run to what one event affects: only the given scopes are listed,
and only the resources named (or, for a bucket, every resource of the scope, to learn
which ones use it) are described.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace

from auditor.aws.clients import ClientCache
from auditor.aws.credentials import CredentialFactory
from auditor.aws.errors import error_code, scan_error
from auditor.aws.pacing import Lanes, is_throttling
from auditor.aws.tasks import TaskGroup
from auditor.collect import describe as collect
from auditor.collect.inventory import list_owned_buckets
from auditor.collect.scope import REGION_NOT_ENABLED_CODES, Account, resolve_regions
from auditor.core.kinds import KINDS, ResourceKind
from auditor.core.model import (
    Progress,
    ProgressSnapshot,
    Resource,
    ScanError,
    ScopeResult,
)

#: The ``errors`` entry of a scope an interrupted run did not finish (the run exits 130).
INTERRUPTED_OPERATION = "interrupted"
INTERRUPTED_CODE = "Interrupted"


@dataclass(frozen=True, slots=True)
class Targets:
    """What a targeted run (``mlflow-audit event``) re-checks."""

    scopes: frozenset[tuple[str, str]]  # (account, region) to list
    resources: frozenset[str] = frozenset()  # names or ARNs to describe and evaluate
    buckets: frozenset[str] = frozenset()  # and every resource of a scope using these

    def describes(self, ident: str, arn: str | None) -> bool:
        return bool(self.buckets) or ident in self.resources or (arn or "") in self.resources

    def keeps(self, resource: Resource, bucket: str | None) -> bool:
        return (
            resource.arn in self.resources
            or resource.name in self.resources
            or (bucket is not None and bucket in self.buckets)
        )


@dataclass(slots=True)
class Collection:
    resources: list[Resource] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    scopes: dict[tuple[str, str], ScopeResult] = field(default_factory=dict)
    inventories: dict[str, set[str]] = field(default_factory=dict)
    # ARN -> why a resource that a List returned could not be described.
    undescribed: dict[str, str] = field(default_factory=dict)


class Collector:
    """Mutable state of one collection pass, shared by the pool's tasks under a lock."""

    def __init__(
        self,
        clients: ClientCache,
        factory: CredentialFactory,
        group: TaskGroup,
        requested_regions: list[str],
        progress: Progress | None,
        targets: Targets | None = None,
    ) -> None:
        self.clients = clients
        self.factory = factory
        self.group = group
        self.requested_regions = requested_regions
        self.progress = progress
        self.targets = targets
        self.lock = threading.Lock()
        self.out = Collection()
        self.lanes = Lanes(clients.pacer, group.submit_after)
        self.scopes_total = 0
        self.scopes_done = 0
        # What an interrupted run has not finished (see ``interrupted``).
        self.accounts_done: set[str] = set()
        self.listed: set[tuple[str, str]] = set()
        self.to_describe: dict[tuple[str, str, str, str], str | None] = {}

    def _error(self, err: ScanError) -> None:
        with self.lock:
            self.out.errors.append(err)

    def _tick(self, scope: ScopeResult) -> None:
        with self.lock:
            self.listed.add((scope.account_id, scope.region))
            self.scopes_done += 1
            snapshot = ProgressSnapshot(
                self.scopes_done, self.scopes_total, len(self.out.resources), len(self.out.errors)
            )
        if self.progress:
            self.progress(snapshot)

    def _regions_of(self, account: Account) -> list[str] | None:
        if self.targets is None:
            return self.requested_regions or None
        return sorted(r for a, r in self.targets.scopes if a == account.account_id)

    def account_task(self, account: Account, scan_resources: bool = True) -> None:
        """Credentials, then the bucket inventory and (unless inventory-only) the scopes.

        With ``--shard`` (and in a targeted run) the other accounts are still inventoried
        (one ListBuckets each), so a bucket owned by any of them is proven by its owner's
        list rather than left unknown: every shard sees the whole organisation's
        ownership map, and merged shards agree with a single scan.
        """
        try:
            account.credentials = self.factory.credentials_for(account)
        except Exception as exc:  # one failure is recorded, never fatal
            account.error = scan_error(account.account_id, None, "sts:AssumeRole", exc)
            if scan_resources:
                self._error(account.error)
            self._account_done(account)
            return
        if not scan_resources:
            self.group.submit(self.inventory_task, account, scan_resources, priority=1)
            return
        known = self.targets is not None  # an event's regions: the call was made there
        for err in resolve_regions(account, self.clients, self._regions_of(account), known):
            self._error(err)
        with self.lock:
            for region in account.skipped_regions:
                self.out.scopes[(account.account_id, region)] = ScopeResult(
                    account.account_id, region, status="skipped"
                )
            for region in account.regions:
                scope = ScopeResult(account.account_id, region)
                self.out.scopes[(account.account_id, region)] = scope
            self.scopes_total += len(account.regions)
        self._account_done(account)
        self.group.submit(self.inventory_task, account, True, priority=1)
        for region in account.regions:
            self.group.submit(self.scope_task, account, region, priority=1)

    def _account_done(self, account: Account) -> None:
        with self.lock:
            self.accounts_done.add(account.account_id)

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
            self.out.inventories[account.account_id] = owned

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
            and self.targets is None
        ):
            scope.status = "skipped"
            return
        scope.status = "error"
        self._error(scan_error(scope.account_id, scope.region, operation, exc))

    def scope_task(self, account: Account, region: str) -> None:
        """List every kind in one scope; each listed resource becomes a Describe task."""
        assert account.credentials is not None
        scope = self.out.scopes[(account.account_id, region)]
        listed: list[tuple[ResourceKind, str, str | None]] = []
        with self.clients.acting_as(account.credentials, account.account_id):
            for n, kind in enumerate(list(KINDS.values())):
                try:
                    client = self.clients.client(region, kind.service)
                    found = collect.list_resources(client, kind)
                except Exception as exc:  # one failure is recorded, never fatal
                    if collect.not_offered(exc):
                        scope.not_offered.append(kind.name)
                        continue
                    self._scope_failed(account, scope, f"{kind.service}:{kind.list_api}", exc)
                    # The scope's first List is also its probe of the scope itself
                    # (credentials, region enabled): when it fails, so would the others.
                    if n == 0:
                        self._tick(scope)
                        return
                    continue
                listed.extend((kind, ident, arn) for ident, arn in found)
        if self.targets is not None:
            listed = [x for x in listed if self.targets.describes(x[1], x[2])]
        scope.resources = len(listed)
        with self.lock:
            for kind, ident, arn in listed:
                self.to_describe[(account.account_id, region, kind.name, ident)] = arn
        for kind, ident, arn in listed:
            self.group.submit(self.describe_task, account, region, kind, ident, arn)
        self._tick(scope)

    def describe_task(
        self,
        account: Account,
        region: str,
        kind: ResourceKind,
        ident: str,
        listed_arn: str | None,
        first_try: float | None = None,
    ) -> None:
        assert account.credentials is not None
        key = (account.account_id, region, f"{kind.service}:{kind.describe_api}")
        pacer = self.clients.pacer
        pending = (account.account_id, region, kind.name, ident)
        if first_try is None:
            # A paced scope's Describes wait for their slots off the workers.
            args = (account, region, kind, ident, listed_arn, pacer.now())
            self.lanes.run(key, self.describe_task, *args)
            return
        try:
            with self.clients.acting_as(account.credentials, account.account_id):
                client = self.clients.client(region, kind.service)
                resource = collect.describe_resource(
                    client, kind, account.account_id, region, ident
                )
        except Exception as exc:  # one failure is recorded, never fatal
            if is_throttling(error_code(exc)) and pacer.now() - first_try < pacer.budget_s:
                args = (account, region, kind, ident, listed_arn, first_try)
                self.lanes.retry(key, self.describe_task, *args)
                return
            self._undescribed(account, region, kind, ident, listed_arn, exc)
            return
        with self.lock:
            self.to_describe.pop(pending, None)
            if resource is not None:
                self.out.resources.append(resource)

    def _undescribed(
        self,
        account: Account,
        region: str,
        kind: ResourceKind,
        ident: str,
        listed_arn: str | None,
        exc: Exception,
    ) -> None:
        """Listed, so never lost: kept as a placeholder with UNKNOWN findings that say why."""
        err = scan_error(account.account_id, region, f"{kind.service}:{kind.describe_api}", exc)
        if not err.message.startswith(f"{ident}:"):
            err.message = f"{ident}: {err.message}"
        self._error(err)
        placeholder = _placeholder(account.account_id, region, kind, ident, listed_arn)
        with self.lock:
            self.to_describe.pop((account.account_id, region, kind.name, ident), None)
            self.out.scopes[(account.account_id, region)].status = "error"
            self.out.resources.append(placeholder)
            self.out.undescribed[placeholder.arn] = (
                f"{kind.describe_api} failed ({err.error_code}), so nothing about this "
                "resource is known"
            )

    def interrupted(self, accounts: list[Account]) -> Collection:
        """What an interrupted collection holds, as a Collection of its own (tasks still in
        flight no longer change it): the resources described so far; a listed resource not
        yet described as a placeholder (UNKNOWN findings that say why); an ``interrupted``
        error for every account and scope not finished."""
        self.progress = None  # a task finishing late draws nothing
        with self.lock:
            out = self.out
            part = Collection(
                resources=list(out.resources),
                errors=list(out.errors),
                scopes={k: replace(v) for k, v in out.scopes.items()},
                inventories=dict(out.inventories),
                undescribed=dict(out.undescribed),
            )
            accounts_done, listed = set(self.accounts_done), set(self.listed)
            to_describe = dict(self.to_describe)
        for account in accounts:
            if account.account_id not in accounts_done:
                account.error = interrupted_error(
                    account.account_id, None, "its regions were listed"
                )
                part.errors.append(account.error)
        waiting: dict[tuple[str, str], int] = defaultdict(int)
        for (account_id, region, kind_name, ident), arn in sorted(to_describe.items()):
            kind = KINDS[kind_name]
            placeholder = _placeholder(account_id, region, kind, ident, arn)
            part.resources.append(placeholder)
            part.undescribed[placeholder.arn] = (
                f"the run was interrupted before {kind.describe_api} answered, so nothing "
                "about this resource is known"
            )
            waiting[(account_id, region)] += 1
        for key, scope in sorted(part.scopes.items()):
            if scope.status != "scanned":
                continue
            if key not in listed:
                what = "its resources were listed"
            elif waiting.get(key):
                what = f"{waiting[key]} of its {scope.resources} resources were described"
            else:
                continue
            scope.status = "error"
            part.errors.append(interrupted_error(scope.account_id, scope.region, what))
        return part


def interrupted_error(account_id: str | None, region: str | None, before: str) -> ScanError:
    """The ``errors`` entry of a scope an interrupted run did not finish."""
    return ScanError(
        account_id=account_id,
        region=region,
        operation=INTERRUPTED_OPERATION,
        error_code=INTERRUPTED_CODE,
        message=f"the run was interrupted before {before}",
    )


def _placeholder(
    account_id: str, region: str, kind: ResourceKind, ident: str, listed_arn: str | None
) -> Resource:
    """A listed resource that could not be described: name and ARN only."""
    return Resource(
        resource_type=kind.name,
        account_id=account_id,
        region=region,
        name=ident.rsplit("/", 1)[-1] if kind.identified_by_arn else ident,
        arn=listed_arn
        or (ident if kind.identified_by_arn else kind.arn(region, account_id, ident)),
        artifact_store_uri=None,
    )


def collect_all(
    group: TaskGroup,
    collector: Collector,
    scan: list[Account],
    inventory_only: list[Account],
) -> Collection:
    """Run the collect stage for every account (inventory only for ``inventory_only``)."""
    for account in scan:
        group.submit(collector.account_task, account, True, priority=2)
    for account in inventory_only:
        group.submit(collector.account_task, account, False, priority=2)
    group.wait()
    return collector.out


def region_warnings(
    requested: list[str], accounts: list[Account], scopes: list[ScopeResult]
) -> list[str]:
    """Explicit regions that no audited account has enabled, or where a kind is not offered."""
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
        for kind in KINDS.values():
            if read and all(kind.name in s.not_offered for s in read):
                warnings.append(
                    f"--region {region}: {kind.service_label} does not offer {kind.plural} here"
                )
    return warnings
