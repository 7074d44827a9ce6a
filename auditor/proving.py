"""The prove stage on the task pool: each distinct bucket resolved once (ownership proof).

Whatever number of resources use a bucket, it is probed once, from an account that uses
it; see ``auditor.ownership`` for the proof itself.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from auditor.artifacts import ParsedUri
from auditor.clients import ClientCache
from auditor.model import BucketProof, Resource
from auditor.ownership import prove_bucket
from auditor.scope import Account
from auditor.tasks import TaskGroup


def prove_buckets(
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
