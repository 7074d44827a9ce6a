"""S3 bucket access configuration as AWS answers it (auditor/sim/s3_config.py), each
behaviour against botocore: the defaults of a new bucket, the documented "not configured"
errors, GetBucketPolicyStatus's meaning of public, Block Public Access refusing a public
policy, S3 Control's account level, and cross-account denial."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from .conftest import OTHER, PROD

ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _stmt(principal, condition=None, action="s3:GetObject", bucket="cfg-bucket"):
    s = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    if condition:
        s["Condition"] = condition
    return s


@pytest.fixture
def s3(sim):
    client = sim.session_for(PROD).client("s3")
    client.create_bucket(Bucket="cfg-bucket")
    return client


def test_new_bucket_blocks_public_access_and_disables_acls(s3):
    """Since April 2023 a new bucket has all four bucket-level Block Public Access settings
    on and Object Ownership BucketOwnerEnforced (AWS News Blog, "Heads-Up: Amazon S3
    Security Changes Are Coming in April of 2023")."""
    got = s3.get_public_access_block(Bucket="cfg-bucket")["PublicAccessBlockConfiguration"]
    assert got == ON
    rules = s3.get_bucket_ownership_controls(Bucket="cfg-bucket")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_create_bucket_object_ownership_header_is_kept(sim):
    s3 = sim.session_for(PROD).client("s3")
    s3.create_bucket(Bucket="acl-bucket", ObjectOwnership="ObjectWriter")
    rules = s3.get_bucket_ownership_controls(Bucket="acl-bucket")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]


def test_not_configured_answers_are_documented_404s(s3):
    """GetBucketPolicy/GetBucketPolicyStatus -> NoSuchBucketPolicy; GetPublicAccessBlock
    -> NoSuchPublicAccessBlockConfiguration; GetBucketOwnershipControls ->
    OwnershipControlsNotFoundError; GetObjectLockConfiguration ->
    ObjectLockConfigurationNotFoundError (S3 API Reference, each operation's Errors)."""
    s3.delete_public_access_block(Bucket="cfg-bucket")
    s3.delete_bucket_ownership_controls(Bucket="cfg-bucket")
    for call, code in (
        (s3.get_bucket_policy, "NoSuchBucketPolicy"),
        (s3.get_bucket_policy_status, "NoSuchBucketPolicy"),
        (s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
        (s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError"),
        (s3.get_object_lock_configuration, "ObjectLockConfigurationNotFoundError"),
    ):
        with pytest.raises(ClientError) as exc:
            call(Bucket="cfg-bucket")
        assert _code(exc) == (code, 404)
    # never-enabled versioning has no Status (GetBucketVersioning)
    assert "Status" not in s3.get_bucket_versioning(Bucket="cfg-bucket")


@pytest.mark.parametrize(
    ("principal", "condition", "public"),
    [
        ("*", None, True),
        ({"AWS": "*"}, {"Bool": {"aws:SecureTransport": "true"}}, True),  # not a fixing key
        ({"AWS": "arn:aws:iam::*:root"}, None, True),  # wildcard account
        ("*", {"StringLike": {"aws:PrincipalOrgID": "o-*"}}, True),  # not a fixed value
        ("*", {"StringEquals": {"aws:PrincipalOrgID": "o-abc123def4"}}, False),
        ("*", {"StringEquals": {"aws:SourceAccount": PROD}}, False),
        ("*", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, False),
        ("*", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, True),
        ({"AWS": f"arn:aws:iam::{OTHER}:root"}, None, False),  # a fixed principal
    ],
)
def test_policy_status_follows_the_meaning_of_public(s3, principal, condition, public):
    """S3 User Guide, "The meaning of public": fixed principals or fixed values of the
    listed condition keys make a policy non-public; moto ignores which keys they are."""
    s3.delete_public_access_block(Bucket="cfg-bucket")
    s3.put_bucket_policy(Bucket="cfg-bucket", Policy=_policy(_stmt(principal, condition)))
    assert s3.get_bucket_policy_status(Bucket="cfg-bucket")["PolicyStatus"]["IsPublic"] is public


def test_block_public_policy_refuses_a_public_policy(s3):
    """BlockPublicPolicy: PUT Bucket policy fails with 403 if the policy is public
    (PublicAccessBlockConfiguration, S3 API Reference); a non-public one is accepted."""
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket="cfg-bucket", Policy=_policy(_stmt("*")))
    assert _code(exc) == ("AccessDenied", 403)
    s3.put_bucket_policy(Bucket="cfg-bucket", Policy=_policy(_stmt({"AWS": OTHER})))


def test_account_level_block_public_policy_also_refuses(sim, s3):
    s3.delete_public_access_block(Bucket="cfg-bucket")
    sim.session_for(PROD).client("s3control").put_public_access_block(
        AccountId=PROD, PublicAccessBlockConfiguration=ON
    )
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket="cfg-bucket", Policy=_policy(_stmt("*")))
    assert _code(exc) == ("AccessDenied", 403)


def test_account_public_access_block_via_s3_control(sim):
    """GetPublicAccessBlock (S3 Control): NoSuchPublicAccessBlockConfiguration until set;
    another account's id is refused; calls are recorded as s3control."""
    ctl = sim.session_for(PROD).client("s3control")
    with pytest.raises(ClientError) as exc:
        ctl.get_public_access_block(AccountId=PROD)
    assert _code(exc) == ("NoSuchPublicAccessBlockConfiguration", 404)
    ctl.put_public_access_block(AccountId=PROD, PublicAccessBlockConfiguration=ON)
    assert ctl.get_public_access_block(AccountId=PROD)["PublicAccessBlockConfiguration"] == ON
    other = sim.session_for(OTHER).client("s3control")
    with pytest.raises(ClientError) as exc:
        other.get_public_access_block(AccountId=PROD)
    assert _code(exc)[0] == "AccessDenied"
    assert sim.count(service="s3control", operation="GetPublicAccessBlock") == 3
    assert sim.count(service="s3control", operation="PutPublicAccessBlock") == 1


def test_cross_account_reads_of_configuration_are_denied(sim, s3):
    """Another account gets 403 AccessDenied for every configuration read unless the
    bucket policy grants it the action (s3:GetBucketPublicAccessBlock, ...)."""
    other = sim.session_for(OTHER).client("s3")
    calls = (
        other.get_bucket_policy,
        other.get_bucket_policy_status,
        other.get_public_access_block,
        other.get_bucket_ownership_controls,
        other.get_bucket_versioning,
        other.get_object_lock_configuration,
    )
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call(Bucket="cfg-bucket")
        assert _code(exc) == ("AccessDenied", 403)
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": ["s3:GetBucketPublicAccessBlock"],
        "Resource": "arn:aws:s3:::cfg-bucket",
    }
    s3.put_bucket_policy(Bucket="cfg-bucket", Policy=_policy(grant))
    assert (
        other.get_public_access_block(Bucket="cfg-bucket")["PublicAccessBlockConfiguration"] == ON
    )


def test_demo_integrity_cases_fail_exactly_their_check(sim):
    """Each planted case fails its own check and passes the other three; the compliant
    one and the demo's existing compliant cases pass all four (gathered as the owner)."""

    from auditor.evaluate.engine import evaluate
    from auditor.evaluate.integrity import integrity_section
    from auditor.evaluate.rules import load_rules
    from auditor.prove.integrity import gather_account_public_access_block, gather_bucket_integrity
    from auditor.sim import build_demo_org
    from auditor.sim.demo_integrity import COMPLIANT_CASES, INTEGRITY_CASES
    from auditor.sim.s3 import bucket_owner

    checks = {c for c in INTEGRITY_CASES.values() if c}
    rules = {r.id: r for r in load_rules() if r.id in checks}
    assert len(rules) == 4
    org = build_demo_org(sim, regions=("us-east-1",))  # plants the integrity cases too
    trusted = {org.management_account_id, *org.accounts.values()}
    expected = dict(INTEGRITY_CASES) | dict.fromkeys(COMPLIANT_CASES)
    for case_name, failing in expected.items():
        case = org.case(case_name)
        owner = bucket_owner(case.bucket)
        session = sim.session_for(owner)
        acct = gather_account_public_access_block(owner, session.client("s3control"))
        got = gather_bucket_integrity(case.bucket, owner, session.client("s3"), acct)
        section, unknown = integrity_section(got, "", trusted)
        facts = {
            "resource": {"type": case.resource_type, "name": case.resource_name},
            "bucket": {"name": case.bucket, "owner_account_id": owner},
            "expected_owner": owner,
            "integrity": section,
            "unknown": unknown,
        }
        for rule_id, rule in rules.items():
            status = evaluate(rule, facts)[0]
            assert status == ("FAIL" if rule_id == failing else "PASS"), (case_name, rule_id)


def test_re_creating_an_existing_bucket_keeps_its_configuration(s3):
    """The new-bucket defaults apply to new buckets only: a repeated CreateBucket (which
    us-east-1 answers with success or BucketAlreadyOwnedByYou) resets nothing."""
    s3.delete_public_access_block(Bucket="cfg-bucket")
    try:
        s3.create_bucket(Bucket="cfg-bucket")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket="cfg-bucket")
    assert _code(exc) == ("NoSuchPublicAccessBlockConfiguration", 404)
