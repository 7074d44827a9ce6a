"""The execution-role policy engine: S3 writes outside the trusted accounts, and the
trust policy's source conditions; one test per condition form and per UNKNOWN path,
and the two shipped rules over the role section of the facts."""

from __future__ import annotations

import json

import pytest

from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.model import BucketProof, Resource
from auditor.evaluate.engine import evaluate
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.role_facts import role_section, sample_roles
from auditor.evaluate.role_policy import ABSENT, named_buckets, s3_write_decision
from auditor.evaluate.role_trust import trust_decision
from auditor.evaluate.rules import load_rules
from auditor.prove.roles import RolePolicies

ME = "111111111111"
PARTNER = "222222222222"
STRANGER = "999999999999"
ORG = "o-abc123def4"
B = "ml-artifacts"
RULES = {r.id: r for r in load_rules()}


def allow(action="s3:*", resource="*", condition=None, **extra):
    s = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition:
        s["Condition"] = condition
    if resource is None:
        s.pop("Resource")
    if action is None:
        s.pop("Action")
    return s


def deny(condition=None, action="s3:*", resource="*"):
    s = {"Effect": "Deny", "Action": action, "Resource": resource}
    if condition:
        s["Condition"] = condition
    return s


def doc(*stmts):
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def decide(*stmts, boundary=None, orgs=(), owners=None, trusted=(ME,)):
    return s3_write_decision([("policy", doc(*stmts))], boundary, trusted, orgs, owners)


FULL = allow(["s3:*", "s3-object-lambda:*"])


# ------------------------------------------------------------------ S3 write: verdicts


def test_s3_full_access_fails_with_the_statement_and_a_deny_fix_that_passes():
    d = decide(FULL)
    assert d.status == "FAIL" and "any account" in d.reasons[0]
    assert "s3:PutObject" in d.actions and "s3:GetObject" not in d.actions
    (grant,) = d.statements
    assert json.loads(grant["statement"]) == FULL and grant["role"] == "grants"
    fix = json.loads(d.fix)
    assert fix["Effect"] == "Deny" and "s3:Put*" in fix["Action"]
    assert fix["Condition"] == {"StringNotEquals": {"s3:ResourceAccount": [ME]}}
    # the fix, added to the role, makes it pass
    assert decide(FULL, fix).status == "PASS"


def test_read_only_access_passes():
    assert decide(allow(["s3:GetObject", "s3:ListBucket"])).status == "PASS"


def test_not_action_expands_to_writes():
    assert decide(allow(None, NotAction="iam:*")).status == "FAIL"
    assert decide(allow(None, NotAction="s3:*")).status == "PASS"


@pytest.mark.parametrize(
    "operator,key,value",
    [
        ("StringEquals", "s3:ResourceAccount", ME),
        ("StringEquals", "aws:ResourceAccount", [ME]),
        ("StringLike", "s3:ResourceAccount", ME),
        ("ForAnyValue:StringEquals", "aws:ResourceAccount", ME),
        ("ForAnyValue:StringLike", "s3:ResourceAccount", [ME]),
        # s3:ResourceAccount is in every S3 request: ForAllValues cannot pass on absence
        ("ForAllValues:StringEquals", "s3:ResourceAccount", ME),
        ("ForAllValues:StringLike", "aws:ResourceAccount", ME),
        ("StringEquals", "aws:ResourceOrgID", ORG),
        ("StringLike", "aws:ResourceOrgID", ORG),
        ("ForAnyValue:StringEquals", "aws:ResourceOrgID", ORG),
        ("ForAnyValue:StringLike", "aws:ResourceOrgPaths", f"{ORG}/r-ab12/*"),
        ("StringLike", "aws:ResourceOrgPaths", f"{ORG}/*"),
    ],
)
def test_allow_limited_to_trusted_owners_passes(operator, key, value):
    d = decide(allow(condition={operator: {key: value}}), orgs=(ORG,))
    assert d.status == "PASS", d.reasons
    assert d.statements[0]["role"] == "scoped"


@pytest.mark.parametrize(
    "operator,key,value",
    [
        # an account in no organisation has no aws:ResourceOrgID: these then hold
        ("ForAllValues:StringEquals", "aws:ResourceOrgID", ORG),
        ("ForAllValues:StringLike", "aws:ResourceOrgPaths", f"{ORG}/*"),
        ("StringEqualsIfExists", "aws:ResourceOrgID", ORG),
        # a wildcard value admits owners nobody listed
        ("StringLike", "s3:ResourceAccount", "1111*"),
        ("StringLike", "aws:ResourceOrgID", "o-abc*"),
        ("StringLike", "aws:ResourceOrgPaths", "o-*/*"),
        # negated: every other owner
        ("StringNotEquals", "s3:ResourceAccount", STRANGER),
        # an organisation outside the trusted set
        ("StringEquals", "aws:ResourceOrgID", "o-zzzzzzzzzz"),
    ],
)
def test_allow_conditions_that_admit_untrusted_owners_fail(operator, key, value):
    assert decide(allow(condition={operator: {key: value}}), orgs=(ORG,)).status == "FAIL"


def test_allow_naming_an_untrusted_account_fails_naming_it():
    d = decide(allow(condition={"StringEquals": {"s3:ResourceAccount": [ME, STRANGER]}}))
    assert d.status == "FAIL" and STRANGER in d.reasons[0] and "any account" not in d.reasons[0]


def test_neutral_conditions_limit_nothing():
    cond = {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"s3:x-amz-acl": "private"}}
    assert decide(allow(condition=cond)).status == "FAIL"


@pytest.mark.parametrize(
    "owners,status",
    [({B: ME}, "PASS"), ({B: PARTNER}, "PASS"), ({B: STRANGER}, "FAIL"), ({B: ABSENT}, "FAIL")],
)
def test_named_bucket_follows_its_proven_owner(owners, status):
    d = decide(allow("s3:PutObject", f"arn:aws:s3:::{B}/*"), owners=owners, trusted=(ME, PARTNER))
    assert d.status == status


def test_wildcard_in_bucket_name_reaches_unnamed_buckets():
    assert decide(allow("s3:PutObject", "arn:aws:s3:::ml-*/*"), owners={B: ME}).status == "FAIL"
    assert decide(allow("s3:PutObject", "arn:aws:s3:::*/models/*")).status == "FAIL"


def test_not_resource_reaches_every_bucket_unless_it_excludes_them():
    assert decide(allow(resource=None, NotResource=f"arn:aws:s3:::{B}/*")).status == "FAIL"
    excluded = ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]
    assert decide(allow(resource=None, NotResource=excluded)).status == "PASS"


def test_access_point_of_an_account_is_that_accounts():
    ap = f"arn:aws:s3:us-east-1:{STRANGER}:accesspoint/x/object/*"
    assert decide(allow("s3:PutObject", ap)).status == "FAIL"
    mine = f"arn:aws:s3:us-east-1:{ME}:accesspoint/x/object/*"
    assert decide(allow("s3:PutObject", mine)).status == "PASS"


def test_non_s3_resources_are_ignored():
    assert decide(allow("*", "arn:aws:logs:*:*:*")).status == "PASS"


# ------------------------------------------------------------------ denies and boundary


@pytest.mark.parametrize(
    "condition",
    [
        None,
        {"StringNotEquals": {"s3:ResourceAccount": ME}},
        {"StringNotEqualsIfExists": {"aws:ResourceAccount": [ME]}},
        {"ForAllValues:StringNotEquals": {"aws:ResourceOrgID": ORG}},
        # absent for an account in no organisation: a negated operator is then true
        {"StringNotEquals": {"aws:ResourceOrgID": ORG}},
        {"StringNotLike": {"aws:ResourceOrgPaths": f"{ORG}/*"}},
        {
            "StringNotEquals": {"aws:ResourceOrgID": ORG},
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
        },
    ],
)
def test_deny_outside_trusted_owners_wins(condition):
    d = decide(FULL, deny(condition), orgs=(ORG,))
    assert d.status == "PASS", d.reasons
    assert {s["role"] for s in d.statements} == {"denies", "denied"}


def test_deny_for_anyvalue_on_org_key_is_not_certain():
    d = decide(FULL, deny({"ForAnyValue:StringNotEquals": {"aws:ResourceOrgID": ORG}}), orgs=(ORG,))
    assert d.status == "UNKNOWN" and "absent" in d.reasons[0]


def test_deny_on_a_writer_controlled_key_does_not_help():
    assert decide(FULL, deny({"Bool": {"aws:SecureTransport": "false"}})).status == "FAIL"


def test_deny_covering_objects_only_leaves_bucket_writes():
    d = decide(FULL, deny(None, resource="arn:aws:s3:::*/*"))
    assert d.status == "FAIL" and "s3:PutObject" not in d.actions
    assert "s3:PutBucketVersioning" in d.actions


def test_boundary_intersects_identity():
    scoped = doc(allow(condition={"StringEquals": {"s3:ResourceAccount": ME}}))
    assert decide(FULL, boundary=scoped).status == "PASS"
    assert decide(FULL, boundary=doc(allow(["s3:GetObject"]))).status == "PASS"
    assert decide(FULL, boundary=doc(allow("*"))).status == "FAIL"
    assert decide(FULL, boundary=doc(FULL, deny())).status == "PASS"


# ------------------------------------------------------------------ UNKNOWN paths


def test_unknown_condition_key_on_an_allow_is_unknown_with_the_statement():
    d = decide(allow(condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}))
    assert d.status == "UNKNOWN" and "aws:sourcevpce" in d.reasons[0]
    assert "vpce-1" in d.statements[0]["statement"]


def test_unsupported_operator_on_owner_key_is_unknown():
    d = decide(allow(condition={"StringEqualsIgnoreCase": {"s3:ResourceAccount": ME}}))
    assert d.status == "UNKNOWN" and "not evaluated" in d.reasons[0]


def test_policy_variable_in_bucket_is_unknown():
    d = decide(allow("s3:PutObject", "arn:aws:s3:::${aws:PrincipalTag/bucket}/*"))
    assert d.status == "UNKNOWN" and "policy variable" in d.reasons[0]


def test_policy_variable_in_key_only_is_decidable():
    d = decide(allow("s3:PutObject", f"arn:aws:s3:::{B}/${{aws:username}}/*"), owners={B: ME})
    assert d.status == "PASS"


def test_named_bucket_with_unproven_owner_is_unknown():
    d = decide(allow("s3:PutObject", f"arn:aws:s3:::{B}/*"))
    assert d.status == "UNKNOWN" and f"bucket {B} was not proven" in d.reasons[0]


def test_deny_with_unknown_condition_turns_fail_into_unknown():
    d = decide(FULL, deny({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}))
    assert d.status == "UNKNOWN"


def test_condition_that_is_not_a_mapping_is_unknown():
    assert decide(allow(condition=["x"])).status == "UNKNOWN"


def test_named_buckets_lists_exact_names_only():
    names = named_buckets([("p", doc(allow(resource=[f"arn:aws:s3:::{B}/*", "arn:aws:s3:::x-*"])))])
    assert names == {B}


# ------------------------------------------------------------------ trust


SM = {"Service": "sagemaker.amazonaws.com"}


def trust(condition=None, principal=SM, action="sts:AssumeRole"):
    s = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        s["Condition"] = condition
    return doc(s)


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:SourceAccount": ME}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:*:{ME}:*"}},
        {
            "ArnEquals": {
                "aws:SourceArn": f"arn:aws:sagemaker:us-east-1:{ME}:mlflow-tracking-server/x"
            }
        },
        {"ForAnyValue:StringEquals": {"aws:SourceOrgID": ORG}},
    ],
)
def test_trust_scoped_by_source_passes(condition):
    assert trust_decision(trust(condition), ME, (ME,), (ORG,)).status == "PASS"


@pytest.mark.parametrize(
    "condition,why",
    [
        (None, "no aws:SourceAccount"),
        ({"StringEquals": {"aws:SourceAccount": STRANGER}}, STRANGER),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:*:*:*"}}, "outside"),
        ({"StringEqualsIfExists": {"aws:SourceAccount": ME}}, "absent"),
    ],
)
def test_trust_without_trusted_source_fails_with_the_fix(condition, why):
    d = trust_decision(trust(condition), ME, (ME,))
    assert d.status == "FAIL" and why in d.reasons[0]
    fix = json.loads(d.fix)
    assert fix["Condition"]["StringEquals"] == {"aws:SourceAccount": ME}
    assert trust_decision(doc(fix), ME, (ME,)).status == "PASS"


def test_trust_any_principal_and_wildcard_action_count():
    assert trust_decision(trust(principal="*", action="sts:*"), ME, (ME,)).status == "FAIL"


def test_trust_other_condition_is_unknown_and_no_sagemaker_passes():
    d = trust_decision(trust({"StringEquals": {"sts:ExternalId": "x"}}), ME, (ME,))
    assert d.status == "UNKNOWN" and "sts:externalid" in d.reasons[0]
    other = trust(principal={"Service": "lambda.amazonaws.com"})
    assert trust_decision(other, ME, (ME,)).status == "PASS"


# ------------------------------------------------------------------ the shipped rules


def _facts(role_arn, role):
    resource = Resource(
        "mlflow-tracking-server",
        ME,
        "us-east-1",
        "srv",
        f"arn:aws:sagemaker:us-east-1:{ME}:x",
        f"s3://{B}/p",
        role_arn=role_arn,
    )
    return build_facts(
        resource,
        parse_artifact_store_uri(f"s3://{B}/p"),
        BucketProof(B, True, ME),
        TrustContext(frozenset({ME}), frozenset({ME})),
        role=role,
        bucket_owners={B: ME},
    )


def test_rules_fail_pass_and_unknown_over_sample_roles():
    write, trust_rule = (
        RULES["mlflow_execution_role_s3_write_scoped"],
        RULES["mlflow_execution_role_trust_scoped"],
    )
    (arn, bad), (_, good), (_, unread) = sample_roles(ME)
    status, _, msg = evaluate(write, _facts(arn, bad))
    assert status == "FAIL" and "AmazonS3FullAccess" in msg
    assert evaluate(trust_rule, _facts(arn, bad))[0] == "FAIL"
    assert evaluate(write, _facts(arn, good))[0] == "PASS"
    assert evaluate(trust_rule, _facts(arn, good))[0] == "PASS"
    status, _, msg = evaluate(write, _facts(arn, unread))
    assert status == "UNKNOWN" and "denied" in msg
    status, _, msg = evaluate(trust_rule, _facts(None, None))
    assert status == "UNKNOWN" and "no execution role" in msg
    fix = _facts(arn, bad)["role"]["s3_write_fix"]
    cmd = write.fix_command.render(**_facts(arn, bad))
    assert "put-role-policy --role-name sample" in cmd and fix in cmd


def test_role_evidence_names_the_deciding_statement():
    arn, bad = sample_roles(ME)[0]
    section, _ = role_section(arn, bad, {ME})
    items = section["evidence_for"]["s3_write_scoped"]
    assert any(
        i["params"].get("Policy") == "AmazonS3FullAccess" and "s3:PutObject" in i["answer"]
        for i in items
    )


def test_unread_boundary_keeps_a_pass_but_not_a_fail():
    arn, good = sample_roles(ME)[1]
    good.unknown["boundary"] = "iam:GetPolicy denied"
    section, unknown = role_section(arn, good, {ME})
    assert section["s3_write_scoped"] is True
    arn, bad = sample_roles(ME)[0]
    bad.unknown["boundary"] = "iam:GetPolicy denied"
    section, unknown = role_section(arn, bad, {ME})
    assert section["s3_write_scoped"] is None and "denied" in unknown["role.s3_write_scoped"]


def test_role_in_account_without_credentials_is_unknown():
    role = RolePolicies("arn:aws:iam::333333333333:role/r", "333333333333", "r")
    role.unknown = dict.fromkeys(
        ("trust", "permissions"), "the run holds no credentials for account 333333333333"
    )
    _, unknown = role_section(role.arn, role, {ME})
    assert "no credentials" in unknown["role.s3_write_scoped"]
