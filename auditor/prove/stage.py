"""The prove stage on the task pool: each distinct bucket resolved once.

Whatever number of resources use a bucket, it is probed once, from an account that uses
it (``auditor.prove.ownership`` has the proof itself); then, for a bucket whose proven owner
is an audited account, its access configuration is read once with that owner's
credentials (``auditor.integrity``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from auditor.aws.clients import ClientCache
from auditor.aws.tasks import TaskGroup
from auditor.collect.scope import Account
from auditor.core.artifacts import ParsedUri
from auditor.core.model import BucketProof, Resource
from auditor.prove.integrity import (
    AccountBlockPublicAccess,
    BucketIntegrity,
    gather_account_public_access_block,
    gather_bucket_integrity,
)
from auditor.prove.ownership import prove_bucket


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
) -> dict[str, BucketIntegrity]:
    """Access configuration of every bucket owned by an audited account we can act as.

    One set of calls per distinct bucket (5, or 6 with a policy) and one S3 Control call
    per owner account; a bucket owned elsewhere, or not proven, gets none (its integrity
    facts are UNKNOWN with the reason).
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

    def task(bucket: str, owner: str) -> None:
        region = region_of[bucket]
        with clients.acting_as(credentials[owner], owner):
            pab = account_setting(owner, region)
            result = gather_bucket_integrity(bucket, owner, clients.client(region, "s3"), pab)
        with lock:
            out[bucket] = result

    for bucket, owner in sorted(owned.items()):
        group.submit(task, bucket, owner)
    group.wait()
    return out


#: The fact source of the bucket configuration reads (auditor.evaluate.rules.FACT_SOURCES).
INTEGRITY = "integrity"


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
    buckets, whichever shard or worker lists it."""
    prove_buckets(group, clients, readers, resources, uris, inventories, proofs, lock)
    if INTEGRITY in sources:
        gather_integrity(group, clients, readers, resources, uris, proofs, integrity, lock)
