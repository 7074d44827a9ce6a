"""The prove stage alone (``prove_stage``, ``read_roles``) over plain resources, through
real botocore against the in-process simulation: each distinct bucket proven once, its
configuration read only when a rule needs it, each execution role read once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from auditor.aws.clients import ClientCache
from auditor.aws.credentials import caller_credentials
from auditor.aws.tasks import TaskGroup
from auditor.core.access import RoleRun
from auditor.core.artifacts import ParsedUri, parse_artifact_store_uri
from auditor.core.model import TRACKING_SERVER, Account, BucketProof, Resource
from auditor.prove.stage import INTEGRITY, prove_stage, read_roles
from auditor.sim import SimulatedAWS, simulated_aws

PROD, OTHER = "111111111111", "222222222222"
SHARED, SOLO = "prod-shared-artifacts", "prod-solo-artifacts"
MISSING = "prod-never-created"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def role(name: str, account: str = PROD) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def server(name: str, bucket: str, role_arn: str | None = None) -> Resource:
    return Resource(
        resource_type=TRACKING_SERVER,
        account_id=PROD,
        region="us-east-1",
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:{PROD}:mlflow-tracking-server/{name}",
        artifact_store_uri=f"s3://{bucket}/{name}",
        status="Created",
        s3_bucket_owner_verification=True,
        role_arn=role_arn,
    )


@pytest.fixture
def sim() -> Iterator[SimulatedAWS]:
    with simulated_aws() as s:
        admin = s.session_for(PROD)
        for bucket in (SHARED, SOLO):
            admin.client("s3").create_bucket(Bucket=bucket)
        for name in ("TeamRole", "OtherTeamRole"):
            admin.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
        s.reset_calls()
        yield s


@pytest.fixture
def clients(sim: SimulatedAWS) -> ClientCache:
    return ClientCache(sim.session_for(PROD), pool_size=4)


@pytest.fixture
def prod(clients: ClientCache) -> Account:
    return Account(PROD, access="caller", credentials=caller_credentials(clients.base))


def uris_of(resources: list[Resource]) -> dict[str, ParsedUri]:
    return {r.arn: parse_artifact_store_uri(r.artifact_store_uri) for r in resources}


def prove(
    clients: ClientCache,
    readers: list[Account],
    resources: list[Resource],
    sources: frozenset[str],
    inventories: dict[str, set[str]] | None = None,
    workers: int = 4,
) -> tuple[dict[str, BucketProof], dict[str, object]]:
    proofs: dict[str, BucketProof] = {}
    integrity: dict[str, object] = {}
    with TaskGroup(max_workers=workers) as group:
        prove_stage(
            group,
            clients,
            readers,
            resources,
            uris_of(resources),
            inventories if inventories is not None else {},
            proofs,
            integrity,
            threading.Lock(),
            sources,
        )
        group.wait()
    return proofs, integrity


def calls(sim: SimulatedAWS) -> Counter[tuple[str, str]]:
    return Counter((c.service, c.operation) for c in sim.calls)


def test_a_bucket_is_proven_once_however_many_resources_use_it(sim, clients, prod):
    prove(clients, [prod], [server("one", SHARED)], frozenset())
    for_one_user = calls(sim)
    sim.reset_calls()

    users = [server(n, SHARED) for n in ("one", "two", "three", "four")]
    proofs, _ = prove(clients, [prod], users, frozenset())

    assert for_one_user  # the bucket (not inventoried) needed S3 calls
    assert calls(sim) == for_one_user
    assert list(proofs) == [SHARED]
    assert proofs[SHARED].exists is True


def test_each_distinct_bucket_gets_its_own_proof(sim, clients, prod):
    resources = [server("a", SHARED), server("b", SHARED), server("c", SOLO)]
    resources.append(server("d", MISSING))
    resources.append(Resource(TRACKING_SERVER, PROD, "us-east-1", "e", "arn:e", "not-a-uri"))
    inventories = {PROD: {SHARED, SOLO}}

    proofs, _ = prove(clients, [prod], resources, frozenset(), inventories)

    assert sorted(proofs) == sorted([SHARED, SOLO, MISSING])  # no bucket, no proof
    assert (proofs[SHARED].exists, proofs[SHARED].owner_account_id) == (True, PROD)
    assert (proofs[SOLO].exists, proofs[SOLO].owner_account_id) == (True, PROD)
    assert proofs[MISSING].exists is False and proofs[MISSING].owner_account_id is None
    # The inventory proves the listed buckets: only the unlisted one is asked about.
    assert calls(sim) == Counter({("s3", "HeadBucket"): 1})


def test_with_integrity_each_owned_bucket_configuration_is_read_once(sim, clients, prod):
    resources = [server("a", SHARED), server("b", SHARED), server("c", SOLO)]
    inventories = {PROD: {SHARED, SOLO}}

    _, integrity = prove(clients, [prod], resources, frozenset({INTEGRITY}), inventories)

    assert sorted(integrity) == sorted([SHARED, SOLO])
    seen = calls(sim)
    assert seen[("s3", "GetBucketVersioning")] == 2  # one per bucket, not per resource
    assert seen[("s3", "GetBucketOwnershipControls")] == 2
    assert seen[("s3control", "GetPublicAccessBlock")] == 1  # one per owner account


def test_without_the_integrity_source_no_bucket_configuration_is_read(sim, clients, prod):
    resources = [server("a", SHARED), server("c", SOLO)]
    inventories = {PROD: {SHARED, SOLO}}

    proofs, integrity = prove(clients, [prod], resources, frozenset({"role"}), inventories)

    assert sorted(proofs) == sorted([SHARED, SOLO]) and integrity == {}
    assert sim.count("s3control") == 0
    assert [c for c in sim.calls if c.operation.startswith("Get")] == []


def test_a_bucket_owned_by_an_account_we_cannot_act_as_is_not_configuration_read(
    sim, clients, prod
):
    sim.session_for(OTHER).client("s3").create_bucket(Bucket="other-team-artifacts")
    sim.reset_calls()
    resources = [server("a", SHARED), server("x", "other-team-artifacts")]
    inventories = {PROD: {SHARED}, OTHER: {"other-team-artifacts"}}

    proofs, integrity = prove(clients, [prod], resources, frozenset({INTEGRITY}), inventories)

    assert proofs["other-team-artifacts"].owner_account_id == OTHER
    assert list(integrity) == [SHARED]
    assert sim.count(account_id=OTHER) == 0


def roles_of(
    clients: ClientCache,
    accounts: list[Account],
    resources: list[Resource],
    proofs: dict[str, BucketProof] | None = None,
    named: frozenset[str] = frozenset(),
) -> RoleRun:
    with TaskGroup(max_workers=4) as group:
        return read_roles(
            group,
            clients,
            accounts,
            resources,
            proofs or {},
            {PROD: {SHARED, SOLO}},
            lambda identity: set(named),
        )


def test_each_distinct_role_is_read_once(sim, clients, prod):
    team, other = role("TeamRole"), role("OtherTeamRole")
    resources = [server(n, SHARED, team) for n in ("a", "b", "c")]
    resources += [server("d", SOLO, other), server("e", SOLO, None)]

    run = roles_of(clients, [prod], resources)

    assert sorted(run.roles) == sorted([team, other])
    assert sim.count("iam", "GetRole") == 2
    assert run.roles[team].trust is not None and run.roles[team].identity == []
    assert run.named_bucket_proofs == {}


def test_a_role_of_an_account_without_credentials_is_read_by_nobody(sim, clients, prod):
    foreign = role("TeamRole", OTHER)

    run = roles_of(clients, [prod], [server("a", SHARED, foreign)])

    assert sim.count("iam") == 0
    assert OTHER in run.roles[foreign].unknown["permissions"]


def test_buckets_the_roles_name_are_proven_once_unless_already_proven(sim, clients, prod):
    already = {SHARED: BucketProof(SHARED, exists=True, owner_account_id=PROD)}
    resources = [server("a", SHARED, role("TeamRole")), server("b", SHARED, role("OtherTeamRole"))]

    run = roles_of(clients, [prod], resources, already, frozenset({SHARED, SOLO, MISSING}))

    assert sorted(run.named_bucket_proofs) == sorted([SOLO, MISSING])
    assert run.named_bucket_proofs[SOLO].owner_account_id == PROD
    assert run.named_bucket_proofs[MISSING].exists is False
    assert sim.count("s3", "HeadBucket") == 1  # the listed one needs no probe


def test_a_throttled_configuration_read_waits_off_the_workers(sim, clients, prod):
    """One worker, six buckets, S3 throttling GetBucketVersioning beyond 2 a second: a
    throttled read waits for its slot in its key's queue while the worker reads the other
    buckets, and every read still gets its answer within the pacing budget."""
    buckets = [f"prod-bucket-{i}" for i in range(6)]
    admin = sim.session_for(PROD).client("s3")
    for bucket in buckets:
        admin.create_bucket(Bucket=bucket)
    sim.set_rate_limit("s3:GetBucketVersioning", rate=2, burst=1, account_id=PROD)
    sim.reset_calls()
    resources = [server(f"s{i}", b) for i, b in enumerate(buckets)]
    _, integrity = prove(
        clients, [prod], resources, frozenset({INTEGRITY}), {PROD: set(buckets)}, workers=1
    )

    assert sorted(integrity) == buckets
    assert all(integrity[b].versioning is not None for b in buckets)  # answered, not UNKNOWN
    # Each record's evidence is in reading order, whichever of its reads waited.
    order = [
        "s3:GetBucketPolicy",
        "s3:GetPublicAccessBlock",
        "s3control:GetPublicAccessBlock",
        "s3:GetBucketOwnershipControls",
        "s3:GetBucketVersioning",
        "s3:GetObjectLockConfiguration",
    ]
    assert all([e.call for e in integrity[b].evidence] == order for b in buckets)
    ops = [(c.operation, c.status_code) for c in sim.calls if c.service == "s3"]
    throttled = [i for i, (op, code) in enumerate(ops) if code == 503]
    assert throttled, "the limit never throttled: the test shows nothing"
    # The worker went on with other reads right after a throttled one, instead of
    # sleeping in it until its slot and retrying.
    assert any(ops[i + 1][0] != "GetBucketVersioning" for i in throttled if i + 1 < len(ops))
