"""The artifact-bucket integrity gatherer (through botocore, against moto + auditor.sim),
the foreign-writer policy evaluation, and the facts the four rules read."""

from __future__ import annotations

import json

import pytest

from auditor.evaluate.engine import evaluate
from auditor.evaluate.integrity import integrity_section
from auditor.evaluate.rules import load_rules
from auditor.evaluate.writers import foreign_writers
from auditor.prove.integrity import gather_account_public_access_block, gather_bucket_integrity
from auditor.sim import simulated_aws

OWNER = "111111111111"
PARTNER = "222222222222"
STRANGER = "999999999999"
ORG = "o-abc123def4"
B = "ml-artifacts"
OBJECTS = f"arn:aws:s3:::{B}/*"
ON = dict.fromkeys(
    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
)
OFF = dict.fromkeys(ON, False)
# Staged outside the loaded rules/ until the ownership stage gathers the facts (else every
# resource would get four UNKNOWN findings); load_rules validates and rehearses them.
RULES = {r.id: r for r in load_rules()}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path_factory):
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))


@pytest.fixture
def sim(aws_env):
    with simulated_aws() as s:
        yield s


def stmt(principal, actions, effect="Allow", condition=None, sid=None, resource=OBJECTS):
    s = {"Effect": effect, "Principal": principal, "Action": actions, "Resource": resource}
    if condition:
        s["Condition"] = condition
    if sid:
        s["Sid"] = sid
    return s


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def grants(doc, accounts=(OWNER,), orgs=()):
    return foreign_writers(doc, frozenset(accounts), orgs).grants


# --------------------------------------------------------------------- policy evaluation


def test_foreign_account_write_is_a_grant_and_keeps_the_statement():
    doc = policy(stmt({"AWS": f"arn:aws:iam::{STRANGER}:root"}, "s3:PutObject", sid="Vendor"))
    (g,) = grants(doc)
    assert g.principals == (STRANGER,) and g.actions == ("s3:putobject",) and not g.anyone
    assert json.loads(g.statement)["Sid"] == "Vendor"
    # the same account, once trusted, is no foreign writer
    assert grants(doc, accounts=(OWNER, STRANGER)) == []


def test_read_only_grants_to_anyone_are_not_writes():
    doc = policy(stmt("*", ["s3:GetObject", "s3:ListBucket", "s3:GetObjectVersion"]))
    assert grants(doc) == []


@pytest.mark.parametrize(
    "actions",
    ["s3:*", "s3:Put*", "*", ["s3:DeleteObject"], "s3:PutBucketPolicy", "s3:Delete*"],
)
def test_wildcard_and_write_actions_are_expanded(actions):
    (g,) = grants(policy(stmt("*", actions)))
    assert g.anyone and g.actions


def test_not_action_covering_writes_is_a_grant():
    doc = policy(
        {"Effect": "Allow", "Principal": "*", "NotAction": "s3:GetObject", "Resource": "*"}
    )
    (g,) = grants(doc)
    assert "s3:putobject" in g.actions and "s3:getobject" not in g.actions


def test_org_conditioned_star_is_trusted_only_for_a_trusted_org():
    doc = policy(stmt("*", "s3:PutObject", condition={"StringEquals": {"aws:PrincipalOrgID": ORG}}))
    assert grants(doc, orgs=(ORG,)) == []
    assert len(grants(doc, orgs=())) == 1  # an org we do not trust limits nothing


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:PrincipalAccount": [OWNER, PARTNER]}},
        {"StringEquals": {"aws:SourceAccount": OWNER}},
        {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{OWNER}:role/*"}},
        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{ORG}/r-ab12/*"}},
    ],
)
def test_conditions_limiting_to_trusted_requesters(condition):
    doc = policy(stmt("*", "s3:PutObject", condition=condition))
    assert grants(doc, accounts=(OWNER, PARTNER), orgs=(ORG,)) == []


@pytest.mark.parametrize(
    "condition",
    [
        # IfExists and ForAllValues pass when the key is absent (anonymous requests)
        {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}},
        {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ORG}},
        {"StringLike": {"aws:PrincipalOrgID": "o-*"}},
        {"StringEquals": {"aws:PrincipalAccount": [OWNER, STRANGER]}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"StringNotEquals": {"aws:PrincipalOrgID": ORG}},
    ],
)
def test_conditions_that_do_not_limit_star(condition):
    doc = policy(stmt("*", "s3:PutObject", condition=condition))
    assert len(grants(doc, orgs=(ORG,))) == 1


def test_not_principal_allow_is_anyone():
    doc = policy(
        {
            "Effect": "Allow",
            "NotPrincipal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
            "Action": "s3:PutObject",
            "Resource": OBJECTS,
        }
    )
    (g,) = grants(doc)
    assert g.anyone and g.principals == ("NotPrincipal",)


def test_deny_outside_org_overrides_a_foreign_allow():
    allow = stmt({"AWS": STRANGER}, ["s3:PutObject", "s3:DeleteObject"])
    deny = stmt(
        "*",
        ["s3:PutObject", "s3:DeleteObject"],
        effect="Deny",
        condition={
            "StringNotEquals": {"aws:PrincipalOrgID": ORG},
            "Bool": {"aws:PrincipalIsAWSService": "false"},
        },
    )
    assert grants(policy(allow, deny), orgs=(ORG,)) == []
    # a Deny that covers only part of the writes leaves the rest
    partial = dict(deny, Action="s3:DeleteObject")
    (g,) = grants(policy(allow, partial), orgs=(ORG,))
    assert g.actions == ("s3:putobject",)


def test_conditional_deny_that_may_not_apply_does_not_override():
    allow = stmt("*", "s3:PutObject")
    deny = stmt("*", "s3:*", effect="Deny", condition={"Bool": {"aws:SecureTransport": "false"}})
    assert len(grants(policy(allow, deny))) == 1
    unconditional = stmt("*", "s3:*", effect="Deny", resource="arn:aws:s3:::ml-artifacts*")
    assert grants(policy(allow, unconditional)) == []


def test_service_principal_without_source_condition_is_foreign():
    svc = {"Service": "logging.s3.amazonaws.com"}
    assert grants(policy(stmt(svc, "s3:PutObject")))[0].principals == (
        "service:logging.s3.amazonaws.com",
    )
    limited = stmt(svc, "s3:PutObject", condition={"StringEquals": {"aws:SourceAccount": OWNER}})
    assert grants(policy(limited)) == []


def test_canonical_user_is_unresolved_not_guessed():
    doc = policy(stmt({"CanonicalUser": "79a59df900b949e55d96a1e698fbace"}, "s3:PutObject"))
    verdict = foreign_writers(doc, frozenset({OWNER}))
    assert verdict.grants == [] and "canonical user" in verdict.unresolved[0]


# ------------------------------------------------------------------- gatherer via botocore


def _gather(sim, bucket=B, account=OWNER):
    session = sim.session_for(account)
    acct = gather_account_public_access_block(account, session.client("s3control"))
    return gather_bucket_integrity(bucket, account, session.client("s3"), acct)


def _calls(result):
    return [e.call for e in result.evidence]


def test_new_bucket_defaults_are_definite_answers(sim):
    sim.session_for(OWNER).client("s3").create_bucket(Bucket=B)
    sim.reset_calls()
    got = _gather(sim)
    assert got.policy_present is False and got.policy_is_public is False
    assert got.bucket_pab == ON and got.account_pab == OFF  # account: not configured
    assert got.object_ownership == "BucketOwnerEnforced"
    assert got.versioning == "Disabled" and got.object_lock == "Disabled"
    assert got.unknown == {}
    assert _calls(got) == [
        "s3:GetBucketPolicy",
        "s3:GetPublicAccessBlock",
        "s3control:GetPublicAccessBlock",
        "s3:GetBucketOwnershipControls",
        "s3:GetBucketVersioning",
        "s3:GetObjectLockConfiguration",
    ]
    # no policy: GetBucketPolicyStatus is not called (it would answer NoSuchBucketPolicy)
    assert sim.count(service="s3") == 5 and sim.count(service="s3control") == 1
    section, _unknown = integrity_section(got, "", {OWNER})
    assert section["not_public"] is True and section["no_foreign_writers"] is True
    assert section["acls_disabled"] is True and section["versioning_enabled"] is False


def test_configured_bucket_answers(sim):
    s3 = sim.session_for(OWNER).client("s3")
    s3.create_bucket(Bucket=B, ObjectOwnership="ObjectWriter", ObjectLockEnabledForBucket=True)
    s3.delete_public_access_block(Bucket=B)
    s3.put_bucket_policy(Bucket=B, Policy=json.dumps(policy(stmt("*", "s3:PutObject", sid="Open"))))
    s3.put_object_lock_configuration(
        Bucket=B,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
        },
    )
    got = _gather(sim)
    assert got.policy_present is True and got.policy_is_public is True
    assert got.bucket_pab == OFF and got.object_ownership == "ObjectWriter"
    assert got.versioning == "Enabled"  # object lock turns versioning on
    assert got.object_lock == "Enabled" and got.object_lock_rule == "GOVERNANCE 30 days"
    assert "s3:GetBucketPolicyStatus" in _calls(got)
    section, _unknown = integrity_section(got, "", {OWNER})
    assert section["not_public"] is False and section["policy_is_public"] is True
    assert section["no_foreign_writers"] is False and section["foreign_writers_anyone"] is True
    writer_ev = section["evidence_for"]["no_foreign_writers"]
    assert any('"Sid":"Open"' in e["answer"] for e in writer_ev)


def test_ownership_not_found_means_object_writer(sim):
    s3 = sim.session_for(OWNER).client("s3")
    s3.create_bucket(Bucket=B)
    s3.delete_bucket_ownership_controls(Bucket=B)
    got = _gather(sim)
    assert got.object_ownership == "ObjectWriter"
    assert any(e.answer == "OwnershipControlsNotFoundError" for e in got.evidence)


def test_account_block_public_access_read_and_applied(sim):
    session = sim.session_for(OWNER)
    session.client("s3").create_bucket(Bucket=B)
    session.client("s3").delete_public_access_block(Bucket=B)
    session.client("s3control").put_public_access_block(
        AccountId=OWNER, PublicAccessBlockConfiguration=ON
    )
    got = _gather(sim)
    assert got.bucket_pab == OFF and got.account_pab == ON
    section, _ = integrity_section(got, "", {OWNER})
    assert section["public_access_blocked"] is True and section["not_public"] is True


def test_denied_calls_leave_facts_unknown_with_the_reason(sim):
    """Read as another account (403 on every call): nothing is guessed."""
    sim.session_for(OWNER).client("s3").create_bucket(Bucket=B)
    other = sim.session_for(PARTNER)
    acct = gather_account_public_access_block(OWNER, other.client("s3control"))
    assert acct.flags is None and "AccessDenied" in acct.unknown_reason
    got = gather_bucket_integrity(B, OWNER, other.client("s3"), acct)
    assert got.policy_present is None and got.bucket_pab is None
    assert got.object_ownership is None and got.versioning is None
    section, unknown = integrity_section(got, "", {OWNER})
    for key in ("not_public", "no_foreign_writers", "acls_disabled", "versioning_enabled"):
        assert section[key] is None
        assert "denied (AccessDenied)" in unknown[f"integrity.{key}"]


def test_account_pab_denied_but_bucket_all_on_still_passes(sim):
    sim.session_for(OWNER).client("s3").create_bucket(Bucket=B)
    session = sim.session_for(OWNER)
    acct = gather_account_public_access_block(OWNER, None)  # the role may not use S3 Control
    got = gather_bucket_integrity(B, OWNER, session.client("s3"), acct)
    assert got.account_pab is None and "no S3 Control client" in got.unknown["account_pab"]
    section, unknown = integrity_section(got, "", {OWNER})
    assert section["not_public"] is True  # every bucket-level setting is on
    got.bucket_pab = dict(ON, RestrictPublicBuckets=False)
    section, unknown = integrity_section(got, "", {OWNER})
    assert section["not_public"] is None and "integrity.not_public" in unknown


def test_gone_bucket_is_unknown(sim):
    got = _gather(sim, bucket="no-such-bucket-xyz")
    assert got.policy_present is None and "NoSuchBucket" in got.unknown["policy"]


# ------------------------------------------------------------------------------- rules


def _facts(section, unknown, name="srv"):
    return {
        "resource": {"type": "mlflow-tracking-server", "name": name},
        "bucket": {"name": B, "owner_account_id": OWNER},
        "expected_owner": OWNER,
        "integrity": section,
        "unknown": unknown,
    }


def test_rules_fail_pass_and_unknown(sim):
    s3 = sim.session_for(OWNER).client("s3")
    s3.create_bucket(Bucket=B, ObjectOwnership="BucketOwnerPreferred")
    s3.delete_public_access_block(Bucket=B)
    s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_policy(
        Bucket=B,
        Policy=json.dumps(policy(stmt({"AWS": STRANGER}, "s3:PutObject", sid="Vendor"))),
    )
    section, unknown = integrity_section(_gather(sim), "", {OWNER})
    facts = _facts(section, unknown)
    status, severity, msg = evaluate(RULES["mlflow_artifact_bucket_no_foreign_writers"], facts)
    assert (status, severity) == ("FAIL", "high") and "Vendor" in msg and STRANGER in msg
    status, severity, msg = evaluate(RULES["mlflow_artifact_bucket_not_public"], facts)
    assert (status, severity) == ("FAIL", "high") and "BlockPublicPolicy" in msg
    status, _, msg = evaluate(RULES["mlflow_artifact_bucket_acls_disabled"], facts)
    assert status == "FAIL" and "BucketOwnerPreferred" in msg
    status, severity, msg = evaluate(RULES["mlflow_artifact_bucket_versioning_enabled"], facts)
    assert (status, severity) == ("FAIL", "low") and "suspended" in msg

    none, why = integrity_section(None, "the bucket does not exist", {OWNER})
    status, _, msg = evaluate(RULES["mlflow_artifact_bucket_not_public"], _facts(none, why))
    assert status == "UNKNOWN" and "the bucket does not exist" in msg


def test_gatherer_runs_on_the_scans_lean_clients_within_declared_operations(sim):
    """The ownership stage's shared clients (trimmed models, credentials bound per thread)
    serve every call, and each call is one the IAM policy test covers."""
    import boto3
    from botocore.credentials import Credentials

    from auditor.aws.clients import ClientCache
    from auditor.aws.models import OPERATIONS

    sim.session_for(OWNER).client("s3").create_bucket(Bucket=B)
    clients = ClientCache(boto3.Session(region_name="us-east-1"))
    with clients.acting_as(Credentials(*sim.credentials_for(OWNER))):
        acct = gather_account_public_access_block(OWNER, clients.client("us-east-1", "s3control"))
        got = gather_bucket_integrity(B, OWNER, clients.client("us-east-1", "s3"), acct)
    assert got.unknown == {} and got.account_pab == OFF
    for call in _calls(got):
        service, op = call.split(":")
        assert op in OPERATIONS[service], call


def test_findings_carry_the_calls_and_the_offending_statement(sim):
    """build_facts + the engine: one finding per check, evidence per fact, the foreign
    statement quoted, and the trusted set of the resource applied."""
    import datetime as dt

    from auditor.core.artifacts import parse_artifact_store_uri
    from auditor.core.model import BucketProof, Resource
    from auditor.evaluate.engine import make_finding
    from auditor.evaluate.facts import TrustContext, build_facts
    from auditor.evaluate.policy import Policy

    s3 = sim.session_for(OWNER).client("s3")
    s3.create_bucket(Bucket=B)
    vendor = stmt({"AWS": f"arn:aws:iam::{STRANGER}:role/etl"}, ["s3:PutObject"], sid="Vendor")
    partner = stmt({"AWS": PARTNER}, ["s3:PutObject"], sid="Partner")
    s3.put_bucket_policy(Bucket=B, Policy=json.dumps(policy(vendor, partner)))
    integrity = _gather(sim)
    uri = f"s3://{B}/mlflow"
    resource = Resource(
        "mlflow-app", OWNER, "us-east-1", "app1", f"arn:aws:sagemaker:us-east-1:{OWNER}:x", uri
    )
    proof = BucketProof(B, True, OWNER)
    trust = TrustContext(frozenset({OWNER, PARTNER}), frozenset({OWNER}), frozenset({ORG}))
    facts = build_facts(resource, parse_artifact_store_uri(uri), proof, trust, integrity)
    today = dt.date(2026, 12, 1)
    finding, _ = make_finding(
        RULES["mlflow_artifact_bucket_no_foreign_writers"], facts, Policy(), today
    )
    assert finding["status"] == "FAIL" and "Vendor" in finding["message"]
    assert "Partner" not in finding["message"]  # PARTNER is trusted
    quoted = [e for e in finding["evidence"] if e["params"].get("Sid") == "Vendor"]
    assert quoted and json.loads(quoted[0]["answer"])["Principal"]["AWS"].endswith(":role/etl")
    assert "put-bucket-policy" in finding["remediation"]["command"]
    assert finding["remediation"]["auto"] is False
    versioning, _ = make_finding(
        RULES["mlflow_artifact_bucket_versioning_enabled"], facts, Policy(), today
    )
    calls = {e["call"] for e in versioning["evidence"]}
    assert calls == {"s3:GetBucketVersioning", "s3:GetObjectLockConfiguration"}
    # without gathered facts: UNKNOWN, and the reason names what is missing
    bare = build_facts(resource, parse_artifact_store_uri(uri), proof, trust)
    unknown, _ = make_finding(RULES["mlflow_artifact_bucket_acls_disabled"], bare, Policy(), today)
    assert unknown["status"] == "UNKNOWN" and "not read" in unknown["message"]


def test_public_policy_is_critical_unless_restrict_public_buckets_holds_it_back():
    from auditor.prove.integrity import BucketIntegrity

    got = BucketIntegrity(
        B,
        OWNER,
        policy_present=True,
        policy=policy(stmt("*", "s3:GetObject")),
        policy_is_public=True,
        bucket_pab=OFF,
        account_pab=OFF,
        object_ownership="BucketOwnerEnforced",
        versioning="Enabled",
        object_lock="Disabled",
    )
    rule = RULES["mlflow_artifact_bucket_not_public"]
    status, severity, msg = evaluate(rule, _facts(*integrity_section(got, "", {OWNER})))
    assert (status, severity) == ("FAIL", "critical") and "anyone can reach" in msg
    got.bucket_pab = dict(OFF, RestrictPublicBuckets=True)
    status, severity, msg = evaluate(rule, _facts(*integrity_section(got, "", {OWNER})))
    assert (status, severity) == ("FAIL", "high") and "RestrictPublicBuckets" in msg


def test_deny_of_one_role_does_not_cover_the_whole_foreign_account():
    allow = stmt({"AWS": f"arn:aws:iam::{STRANGER}:root"}, "s3:PutObject")
    deny_role = stmt({"AWS": f"arn:aws:iam::{STRANGER}:role/etl"}, "s3:PutObject", effect="Deny")
    assert len(grants(policy(allow, deny_role))) == 1
    deny_account = stmt({"AWS": STRANGER}, "s3:PutObject", effect="Deny")
    assert grants(policy(allow, deny_account)) == []
    role_allow = stmt({"AWS": f"arn:aws:iam::{STRANGER}:role/etl"}, "s3:PutObject")
    assert grants(policy(role_allow, deny_role)) == []


def test_every_not_configured_answer_is_a_classified_one():
    from auditor.aws import classify
    from auditor.prove.integrity import ACCOUNT_PAB, BUCKET_READINGS, POLICY_STATUS

    readings = [r for r in (*BUCKET_READINGS, ACCOUNT_PAB, POLICY_STATUS) if r is not None]
    codes = {r.not_configured for r in readings if r.not_configured}
    assert codes == classify.NOT_CONFIGURED
    assert all((r.not_configured is None) == (r.absent is None) for r in readings)
