"""The collect stage alone (``Collector`` / ``collect_all``), through real botocore against
the in-process simulation: every listed resource described, a denied scope kept as an
error record, an unreachable account reported, and ``Targets`` narrowing the Describes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from auditor.aws.clients import ClientCache
from auditor.aws.credentials import CredentialFactory, caller_credentials
from auditor.aws.tasks import TaskGroup
from auditor.collect.stage import Collection, Collector, Targets, collect_all
from auditor.core.model import TRACKING_SERVER, Account
from auditor.sim import SimulatedAWS, simulated_aws
from auditor.sim.org_builder import trust_policy

PROD, OTHER = "111111111111", "222222222222"
EAST, WEST = "us-east-1", "us-west-2"
ROLE = f"arn:aws:iam::{PROD}:role/MlflowTrackingServerRole"
DESCRIBE = "DescribeMlflowTrackingServer"


@pytest.fixture
def sim() -> Iterator[SimulatedAWS]:
    with simulated_aws() as s:
        s3 = s.session_for(PROD).client("s3")
        s3.create_bucket(Bucket="prod-artifacts")
        for region, names in ((EAST, ("alpha", "beta")), (WEST, ("gamma",))):
            sm = s.session_for(PROD, region).client("sagemaker")
            for name in names:
                sm.create_mlflow_tracking_server(
                    TrackingServerName=name,
                    ArtifactStoreUri=f"s3://prod-artifacts/{name}",
                    RoleArn=ROLE,
                )
        s.reset_calls()
        yield s


def collect(
    sim: SimulatedAWS,
    scan: list[str],
    regions: list[str],
    targets: Targets | None = None,
    inventory_only: tuple[str, ...] = (),
) -> tuple[Collection, list[Account]]:
    """The stage as the pipeline runs it, with PROD as the caller."""
    base = sim.session_for(PROD)
    clients = ClientCache(base, pool_size=4)
    factory = CredentialFactory(clients, caller_credentials(base), PROD, "MlflowAuditRole", None)
    accounts = [Account(a) for a in scan]
    with TaskGroup(max_workers=4) as group:
        collector = Collector(clients, factory, group, regions, None, targets)
        out = collect_all(group, collector, accounts, [Account(a) for a in inventory_only])
    return out, accounts


def servers(out: Collection) -> list[tuple[str, str]]:
    return sorted((r.region, r.name) for r in out.resources if r.resource_type == TRACKING_SERVER)


def test_every_listed_resource_is_described_once_with_its_settings(sim):
    out, accounts = collect(sim, [PROD], [EAST, WEST])

    assert servers(out) == [(EAST, "alpha"), (EAST, "beta"), (WEST, "gamma")]
    alpha = next(r for r in out.resources if r.name == "alpha")
    assert alpha.account_id == PROD
    assert alpha.arn == f"arn:aws:sagemaker:{EAST}:{PROD}:mlflow-tracking-server/alpha"
    assert alpha.artifact_store_uri == "s3://prod-artifacts/alpha"
    assert alpha.role_arn == ROLE
    assert out.errors == [] and out.undescribed == {}
    assert {k: (s.status, s.resources) for k, s in out.scopes.items()} == {
        (PROD, EAST): ("scanned", 2),
        (PROD, WEST): ("scanned", 1),
    }
    assert out.inventories == {PROD: {"prod-artifacts"}}
    assert accounts[0].access == "caller"  # its own account: no AssumeRole
    assert sim.count("sagemaker", DESCRIBE) == 3
    assert sim.count("sts", "AssumeRole") == 0


def test_a_denied_scope_is_an_error_record_and_the_other_scope_is_kept(sim):
    sim.faults.deny(PROD, WEST, "sagemaker")

    out, _ = collect(sim, [PROD], [EAST, WEST])

    assert servers(out) == [(EAST, "alpha"), (EAST, "beta")]
    assert out.scopes[(PROD, WEST)].status == "error"
    assert out.scopes[(PROD, EAST)].status == "scanned"
    (err,) = out.errors
    assert (err.account_id, err.region) == (PROD, WEST)
    assert err.operation == "sagemaker:ListMlflowTrackingServers"
    assert err.error_code == "AccessDeniedException"
    # The scope's first List failed: no other List is tried there.
    assert sim.count("sagemaker", account_id=PROD, region=WEST) == 1


def test_an_account_whose_role_cannot_be_assumed_is_an_error_not_a_crash(sim):
    out, accounts = collect(sim, [PROD, OTHER], [EAST])

    assert servers(out) == [(EAST, "alpha"), (EAST, "beta")]
    (err,) = out.errors
    assert (err.account_id, err.operation) == (OTHER, "sts:AssumeRole")
    other = next(a for a in accounts if a.account_id == OTHER)
    assert other.credentials is None and other.error is err
    assert not any(key[0] == OTHER for key in out.scopes)


def test_an_assumed_role_account_is_listed_as_itself(sim):
    iam = sim.session_for(OTHER).client("iam")
    iam.create_role(
        RoleName="MlflowAuditRole",
        AssumeRolePolicyDocument=trust_policy(f"arn:aws:iam::{PROD}:root"),
    )
    sim.session_for(OTHER).client("sagemaker").create_mlflow_tracking_server(
        TrackingServerName="delta",
        ArtifactStoreUri="s3://prod-artifacts/delta",
        RoleArn=f"arn:aws:iam::{OTHER}:role/MlflowTrackingServerRole",
    )
    sim.reset_calls()

    out, accounts = collect(sim, [PROD, OTHER], [EAST])

    assert out.errors == []
    assert {(r.account_id, r.name) for r in out.resources} == {
        (PROD, "alpha"),
        (PROD, "beta"),
        (OTHER, "delta"),
    }
    assert sim.count("sts", "AssumeRole") == 1
    assert sim.count("sagemaker", DESCRIBE, account_id=OTHER) == 1
    assert next(a for a in accounts if a.account_id == OTHER).access == "assume-role"


def test_inventory_only_accounts_are_inventoried_but_never_listed(sim):
    out, _ = collect(sim, [], [EAST], inventory_only=(PROD,))

    assert out.resources == [] and out.scopes == {} and out.errors == []
    assert out.inventories == {PROD: {"prod-artifacts"}}
    assert sim.count("sagemaker") == 0
    assert sim.count("ec2", "DescribeRegions") == 0


def test_targets_describe_only_the_named_resource_in_the_named_scope(sim):
    targets = Targets(scopes=frozenset({(PROD, EAST)}), resources=frozenset({"beta"}))

    out, _ = collect(sim, [PROD], [], targets)

    assert servers(out) == [(EAST, "beta")]
    assert list(out.scopes) == [(PROD, EAST)]
    assert out.scopes[(PROD, EAST)].resources == 1
    assert sim.count("sagemaker", DESCRIBE) == 1
    assert sim.count("sagemaker", region=WEST) == 0
    # The event's region is known to be enabled: DescribeRegions is not asked.
    assert sim.count("ec2", "DescribeRegions") == 0


def test_targets_name_a_resource_by_arn_too(sim):
    arn = f"arn:aws:sagemaker:{EAST}:{PROD}:mlflow-tracking-server/alpha"
    targets = Targets(scopes=frozenset({(PROD, EAST)}), resources=frozenset({arn}))

    out, _ = collect(sim, [PROD], [], targets)

    assert [r.arn for r in out.resources] == [arn]


def test_a_bucket_target_describes_every_resource_of_its_scope(sim):
    targets = Targets(scopes=frozenset({(PROD, EAST)}), buckets=frozenset({"prod-artifacts"}))

    out, _ = collect(sim, [PROD], [], targets)

    assert servers(out) == [(EAST, "alpha"), (EAST, "beta")]
    assert sim.count("sagemaker", DESCRIBE) == 2
