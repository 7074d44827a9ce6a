"""The execution-role reader through botocore against moto's IAM (+ auditor.sim): the
planted roles read once each, AWS managed policies cached across accounts, every answer
as evidence, denied calls as UNKNOWN with the reason, and the verdicts over what was read."""

from __future__ import annotations

import itertools
import json

import pytest

from auditor.evaluate.role_facts import role_section
from auditor.evaluate.role_policy import named_buckets
from auditor.prove.roles import RoleReader, gather_role, parse_role_arn
from auditor.sim import simulated_aws

A = "111111111111"
B_ACCT = "222222222222"
ORG = "o-abc123def4"
BUCKET = "ml-artifacts"
FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
SM = {"Service": "sagemaker.amazonaws.com"}
_SERIAL = itertools.count()


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory):
    """One simulation for the module: moto loads its AWS managed policies (about a
    thousand, AmazonS3FullAccess among them) once per account, which takes seconds."""
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        mp.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        with simulated_aws() as s:
            yield s


@pytest.fixture
def sim(shared_sim):
    """The shared simulation, with no fault and no call left over."""
    shared_sim.faults.clear()
    shared_sim.reset_calls()
    yield shared_sim
    shared_sim.faults.clear()


def trust(condition=None):
    s = {"Effect": "Allow", "Principal": SM, "Action": "sts:AssumeRole"}
    if condition:
        s["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [s]})


def policy(*stmts):
    return json.dumps({"Version": "2012-10-17", "Statement": list(stmts)})


def make_role(sim, account, name, *, trust_doc=None, managed=(), inline=None, boundary=None):
    iam = sim.session_for(account).client("iam")
    name = f"{name}-{next(_SERIAL)}"  # the simulation is shared by the module's tests
    kwargs = {"PermissionsBoundary": boundary} if boundary else {}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc or trust(), **kwargs)[
        "Role"
    ]["Arn"]
    for p in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=p)
    if inline is not None:
        iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=inline)
    return arn


def verdicts(role, owners=None):
    section, unknown = role_section(role.arn, role, {A}, (ORG,), owners or {})
    return section["s3_write_scoped"], section["trust_scoped"], unknown


def reader_for(sim):
    return RoleReader(lambda account: sim.session_for(account).client("iam"))


def test_planted_roles_give_their_verdicts(sim):
    scoped = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    roles = {
        "full": make_role(sim, A, "full", managed=[FULL]),
        "account": make_role(
            sim,
            A,
            "account",
            inline=policy({**scoped, "Condition": {"StringEquals": {"s3:ResourceAccount": A}}}),
            trust_doc=trust({"StringEquals": {"aws:SourceAccount": A}}),
        ),
        "bucket": make_role(
            sim,
            A,
            "bucket",
            inline=policy(
                {**scoped, "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}
            ),
            trust_doc=trust({"ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:*:{A}:*"}}),
        ),
        "org": make_role(
            sim,
            A,
            "org",
            inline=policy({**scoped, "Condition": {"StringEquals": {"aws:ResourceOrgID": ORG}}}),
        ),
    }
    reader = reader_for(sim)
    got = {k: reader.read(arn) for k, arn in roles.items()}
    assert verdicts(got["full"])[:2] == (False, False)
    assert verdicts(got["account"])[:2] == (True, True)
    assert named_buckets(got["bucket"].identity) == {BUCKET}
    assert verdicts(got["bucket"], {BUCKET: A})[:2] == (True, True)
    assert verdicts(got["bucket"], {BUCKET: "999999999999"})[0] is False
    org = verdicts(got["org"])
    assert org[0] is True and org[1] is False  # trust without source conditions
    # evidence names the deciding statement of the AWS managed policy
    section, _ = role_section(roles["full"], got["full"], {A})
    items = section["evidence_for"]["s3_write_scoped"]
    assert any(
        i["call"] == "iam:GetPolicyVersion" and i["params"].get("Policy") == FULL for i in items
    )
    assert (
        section["trust_statements"] and "sagemaker" in section["trust_statements"][0]["statement"]
    )


def test_one_read_per_role_and_managed_policies_cached_across_accounts(sim):
    first = make_role(sim, A, "exec", managed=[FULL])
    second = make_role(sim, B_ACCT, "exec", managed=[FULL])
    reader = reader_for(sim)
    sim.reset_calls()
    for _ in range(3):  # three resources of the first role
        reader.read(first)
    reader.read(second)
    assert sim.count(service="iam", operation="GetRole") == 2
    assert sim.count(service="iam", operation="GetPolicy") == 1
    assert sim.count(service="iam", operation="GetPolicyVersion") == 1
    assert sim.count(service="iam", account_id=B_ACCT, operation="ListAttachedRolePolicies") == 1
    assert reader.read(second).identity == reader.read(first).identity
    assert len(reader.policies) == 1


def test_every_answer_is_evidence(sim):
    arn = make_role(
        sim,
        A,
        "exec",
        managed=[FULL],
        inline=policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        boundary=FULL,
    )
    role = gather_role(arn, sim.session_for(A).client("iam"), reader_for(sim).policies)
    calls = [e.call for e in role.evidence]
    assert calls == [
        "iam:GetRole",
        "iam:ListAttachedRolePolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
    ]  # the boundary is the same ARN: read once
    assert role.boundary_arn == FULL and role.boundary is not None and not role.unknown
    assert [name for name, _ in role.identity] == [FULL, "inline:s3"]
    assert "boundary arn:aws:iam::aws:policy/AmazonS3FullAccess" in role.evidence[0].answer


def test_denied_role_is_unknown_with_the_reason(sim):
    arn = make_role(sim, A, "exec", managed=[FULL])
    sim.faults.deny(A, None, "iam")
    role = reader_for(sim).read(arn)
    assert role.trust is None and role.identity is None
    assert "iam:GetRole" in role.unknown["trust"] and "denied" in role.unknown["trust"]
    write, trusted, unknown = verdicts(role)
    assert write is None and trusted is None
    assert "denied" in unknown["role.s3_write_scoped"] and "denied" in unknown["role.trust_scoped"]
    assert role.evidence[0].answer == "AccessDenied"


def _deny_during(sim, client, operation):
    """The sim denies IAM while ``operation`` is sent, so the call before it succeeds."""
    client.meta.events.register(
        f"before-call.iam.{operation}", lambda **_: sim.faults.deny(A, None, "iam")
    )
    client.meta.events.register(
        f"after-call.iam.{operation}", lambda **_: sim.faults.allow(A, None, "iam")
    )
    client.meta.events.register(
        f"after-call-error.iam.{operation}", lambda **_: sim.faults.allow(A, None, "iam")
    )


@pytest.mark.parametrize("operation", ["GetPolicyVersion", "ListRolePolicies", "GetRolePolicy"])
def test_denied_permission_read_leaves_permissions_unknown_trust_known(sim, operation):
    arn = make_role(
        sim,
        A,
        "exec",
        managed=[FULL],
        inline=policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
    )
    iam = sim.session_for(A).client("iam")
    _deny_during(sim, iam, operation)
    role = gather_role(arn, iam, reader_for(sim).policies)
    assert role.identity is None and f"iam:{operation}" in role.unknown["permissions"]
    write, trusted, unknown = verdicts(role)
    assert write is None and trusted is False
    assert f"iam:{operation}" in unknown["role.s3_write_scoped"]


def test_denied_boundary_read_is_unknown_only_when_it_matters(sim):
    limited = policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"StringEquals": {"s3:ResourceAccount": A}},
        }
    )
    good = make_role(sim, A, "good", inline=limited, boundary=FULL)
    bad = make_role(sim, A, "bad", managed=[FULL], boundary=FULL)
    iam = sim.session_for(A).client("iam")
    cache = reader_for(sim).policies
    _deny_during(sim, iam, "GetPolicy")
    role = gather_role(good, iam, cache)
    assert "iam:GetPolicy" in role.unknown["boundary"]
    assert verdicts(role)[0] is True  # a boundary only narrows what is already scoped
    role = gather_role(bad, sim.session_for(A).client("iam"), cache)
    assert not role.unknown and verdicts(role)[0] is False


def test_role_without_credentials_or_arn_is_unknown(sim):
    reader = RoleReader(lambda account: None)
    role = reader.read(f"arn:aws:iam::{B_ACCT}:role/exec")
    assert "no credentials for account 222222222222" in role.unknown["permissions"]
    assert "not an IAM role ARN" in gather_role("nope", None, reader.policies).unknown["trust"]
    assert sim.count(service="iam") == 0


def test_role_arn_with_path():
    assert parse_role_arn(f"arn:aws:iam::{A}:role/service-role/Exec-1") == (A, "Exec-1")
    assert parse_role_arn(f"arn:aws:iam::{A}:user/x") is None
