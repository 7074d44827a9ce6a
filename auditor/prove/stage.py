"""The prove stage on the task pool: each distinct bucket resolved once.

Whatever number of resources use a bucket, it is probed once, from an account that uses
it (``auditor.prove.ownership`` has the proof itself); then, for a bucket whose proven owner
is an audited account, its access configuration is read once with that owner's
credentials (``auditor.integrity``).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from auditor.aws.clients import ClientCache
from auditor.aws.pacing import Lanes
from auditor.aws.tasks import TaskGroup
from auditor.core.access import RoleRun
from auditor.core.artifacts import ParsedUri
from auditor.core.model import Account, BucketProof, Resource
from auditor.prove.integrity import (
    AccountBlockPublicAccess,
    BucketIntegrity,
    BucketReads,
    gather_account_public_access_block,
)
from auditor.prove.ownership import prove_bucket
from auditor.prove.roles import RolePolicies, RoleReader, gather_role, parse_role_arn


def prove_buckets(
    group: TaskGroup,
    clients: ClientCache,
    accounts: list[Account],
    resources: list[Resource],
    uris: dict[str, ParsedUri],
    inventories: dict[str, set[str]],
    out: dict[str, BucketProof] | None = None,
    lock: threading.Lock | None = None,
) -> dict[str, BucketProof]:
    """Resolve each distinct bucket once, whatever number of resources use it.

    Proofs are stored in ``out`` under ``lock`` as they arrive, so an interrupted run
    (auditor.app.pipeline) keeps the buckets already proven.
    """
    credentials = {a.account_id: a.credentials for a in accounts if a.credentials is not None}
    users: dict[str, list[Resource]] = defaultdict(list)
    for resource in resources:
        bucket = uris[resource.arn].bucket
        if bucket:
            users[bucket].append(resource)
    proofs: dict[str, BucketProof] = {} if out is None else out
    lock = lock or threading.Lock()
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


def gather_integrity(
    group: TaskGroup,
    clients: ClientCache,
    accounts: list[Account],
    resources: list[Resource],
    uris: dict[str, ParsedUri],
    proofs: dict[str, BucketProof],
    out: dict[str, BucketIntegrity] | None = None,
    lock: threading.Lock | None = None,
    wait: bool = True,
) -> dict[str, BucketIntegrity]:
    """Access configuration of every bucket owned by an audited account we can act as.

    One set of calls per distinct bucket (5, or 6 with a policy) and one S3 Control call
    per owner account; a bucket owned elsewhere, or not proven, gets none (its integrity
    facts are UNKNOWN with the reason). A bucket's settings are independent tracks of
    reads (``BucketReads``); a read whose key is paced, or that AWS throttled, waits for
    its slot in the key's queue (``Lanes``), not in a worker, while the other tracks go
    on, so throttled keys never starve the others of the pool (until the pacing budget:
    then the throttling is the read's answer, and its setting UNKNOWN). ``wait=False``
    only queues the reads on ``group`` (``out`` fills as they answer): the next
    ``group.wait()`` finishes them, so another stage's reads can share the pool meanwhile.
    """
    credentials = {a.account_id: a.credentials for a in accounts if a.credentials is not None}
    region_of: dict[str, str] = {}
    for r in resources:
        bucket = uris[r.arn].bucket
        if bucket:
            region_of.setdefault(bucket, uris[r.arn].region or r.region)
    owned = {
        bucket: proof.owner_account_id
        for bucket, proof in proofs.items()
        if proof.owner_account_id in credentials and bucket in region_of
    }
    lock = lock or threading.Lock()
    account_pab: dict[str, AccountBlockPublicAccess] = {}
    pab_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
    out = {} if out is None else out

    def account_setting(owner: str, region: str) -> AccountBlockPublicAccess:
        with pab_locks[owner]:  # read once per owner account, whatever its buckets
            if owner not in account_pab:
                account_pab[owner] = gather_account_public_access_block(
                    owner, clients.client(region, "s3control")
                )
            return account_pab[owner]

    pacer = clients.pacer
    lanes = Lanes(pacer, group.submit_after)

    def start(bucket: str, owner: str) -> None:
        region = region_of[bucket]
        with clients.acting_as(credentials[owner], owner):
            pab = account_setting(owner, region)
        reads = BucketReads(BucketIntegrity(bucket, owner), pab)
        for track in reads.tracks():
            go_on(reads, track, owner, region)

    def go_on(reads: BucketReads, track: int, owner: str, region: str) -> None:
        """The track's next read, at once or, when its key is paced, off the workers."""
        call = reads.next_call(track)
        if call is not None:
            lanes.run((owner, region, call), read, reads, track, owner, region, None)
        elif reads.track_done():  # the bucket's last track
            with lock:
                out[reads.out.bucket] = reads.finish()

    def read(
        reads: BucketReads, track: int, owner: str, region: str, first_try: float | None
    ) -> None:
        first = pacer.now() if first_try is None else first_try
        with clients.acting_as(credentials[owner], owner):
            s3 = clients.client(region, "s3")
            retry = pacer.now() - first < pacer.budget_s
            throttled = reads.read_next(track, s3, retry_throttled=retry)
        if throttled is not None:  # back to the head of its key's queue, until the budget
            key = (owner, region, str(reads.next_call(track)))
            lanes.retry(key, read, reads, track, owner, region, first)
            return
        go_on(reads, track, owner, region)

    # The buckets of the busiest (owner, region) first: AWS paces each operation per
    # account and region, so a scope with many buckets is the run's longest chain of
    # reads; started last, it would be a tail that the rest of the pool cannot shorten.
    per_scope = Counter((owner, region_of[b]) for b, owner in owned.items())
    for bucket, owner in sorted(
        owned.items(), key=lambda i: (-per_scope[i[1], region_of[i[0]]], i[0])
    ):
        group.submit(start, bucket, owner)
    if wait:
        group.wait()
    return out


#: The fact source of the bucket configuration reads (auditor.evaluate.rules.FACT_SOURCES).
INTEGRITY = "integrity"
#: The fact source of the execution-role reads.
ROLE = "role"


def prove_stage(
    group: TaskGroup,
    clients: ClientCache,
    readers: list[Account],
    resources: list[Resource],
    uris: dict[str, ParsedUri],
    inventories: dict[str, set[str]],
    proofs: dict[str, BucketProof],
    integrity: dict[str, BucketIntegrity],
    lock: threading.Lock,
    sources: frozenset[str],
) -> None:
    """Each bucket's owner, then only the reads an enabled rule needs (``sources``, from
    auditor.evaluate.rules.sources_read): with every integrity check disabled, not one
    bucket configuration is read. ``readers``: every account we hold credentials for
    (the resources' own accounts among them, which probe their buckets) reads its own
    buckets, whichever shard or worker lists it.

    The owners are awaited; the configuration reads are only queued on ``group`` (they
    need the owners, nothing needs them yet), so the execution-role reads can share the
    pool with them: the caller's next ``group.wait()`` finishes both."""
    prove_buckets(group, clients, readers, resources, uris, inventories, proofs, lock)
    if INTEGRITY in sources:
        gather_integrity(
            group, clients, readers, resources, uris, proofs, integrity, lock, wait=False
        )


# ---------------------------------------------------------------- execution roles
# Kept apart from the bucket proofs above: a fact source of its own (``role.*`` facts).


def read_roles(
    group: TaskGroup,
    clients: ClientCache,
    accounts: list[Account],
    resources: list[Resource],
    proofs: dict[str, BucketProof],
    inventories: dict[str, set[str]],
    names_of: Callable[[list[tuple[str, dict[str, Any]]]], set[str]],
) -> RoleRun:
    """Read each distinct execution role once, as the role's account (IAM is global:
    one read per role, not per region), then prove the owners of the buckets the roles'
    Allows name that are not artifact buckets already proven (``names_of``: the buckets
    a role's identity policies name exactly; deciding that is the evaluate stage's).

    A role in an account the run holds no credentials for is read by nobody: its facts
    are UNKNOWN with that reason (``auditor.prove.roles.gather_role``).
    """
    credentials = {a.account_id: a.credentials for a in accounts if a.credentials is not None}
    region = clients.default_region  # any region of the partition reaches IAM's endpoint
    reader = RoleReader(lambda account: clients.client(region, "iam"))
    arns = sorted({r.role_arn for r in resources if r.role_arn})

    def read(arn: str, account: str) -> None:
        with clients.acting_as(credentials[account], account):
            reader.read(arn)

    unread: dict[str, RolePolicies] = {}
    for arn in arns:
        parsed = parse_role_arn(arn)
        if parsed is None or parsed[0] not in credentials:
            unread[arn] = gather_role(arn, None, reader.policies)
        else:
            group.submit(read, arn, parsed[0])
    group.wait()
    out = RoleRun({**reader.roles, **unread}, managed_policies_read=len(reader.policies))
    named: dict[str, str] = {}  # bucket -> the account of a role that names it
    for _arn, role in sorted(out.roles.items()):
        if role.identity is not None and role.account_id:
            for bucket in names_of(role.identity) - set(proofs):
                named.setdefault(bucket, role.account_id)
    lock = threading.Lock()
    inventoried = frozenset(inventories)

    def prove(bucket: str, account: str) -> None:
        probe_from = (account, region) if account in credentials else None
        try:
            with clients.acting_as(
                credentials[account] if probe_from else None, account if probe_from else None
            ):
                proof = prove_bucket(
                    bucket,
                    probe_from,
                    {account},
                    inventories,
                    lambda _a, r: clients.client(r, "s3"),
                    inventoried,
                )
        except Exception as exc:  # a bug or an unparsable answer: unknown, not fatal
            proof = BucketProof(name=bucket, unknown_reason=f"proof failed: {exc!r}")
        with lock:
            out.named_bucket_proofs[bucket] = proof

    for bucket, account in sorted(named.items()):
        group.submit(prove, bucket, account)
    group.wait()
    return out
