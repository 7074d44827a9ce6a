"""The fail-closed owner choice (the remediation rules: never trust a foreign account), over facts built by the facts stage."""

import pytest

from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Resource
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.fixes import choose_owner
from auditor.remediate.plan import plan

OWN, CENTRAL, STRANGER = "111111111111", "222222222222", "999988887777"


def facts_for(
    proof,
    pinned=None,
    verification=False,
    trusted=(OWN, CENTRAL),
    inventoried=(OWN, CENTRAL),
    kind=TRACKING_SERVER,
    uri="s3://ml-bucket/x",
    org=None,
):
    resource = Resource(
        kind,
        OWN,
        "us-east-1",
        "srv",
        f"arn:aws:sagemaker:us-east-1:{OWN}:mlflow-tracking-server/srv",
        uri,
        "Created",
        verification if kind == TRACKING_SERVER else None,
        pinned,
    )
    return build_facts(
        resource,
        parse_artifact_store_uri(uri),
        proof,
        TrustContext(frozenset(trusted), frozenset(inventoried), org_accounts=org),
    )


def missing():
    return BucketProof("ml-bucket", exists=False, unknown_reason="the bucket does not exist")


def test_proven_trusted_owner_is_pinned():
    owner, _ = choose_owner(
        facts_for(
            BucketProof("ml-bucket", True, CENTRAL),
            pinned=STRANGER,
            trusted=(OWN, CENTRAL, STRANGER),
        )
    )
    assert owner == CENTRAL


def test_missing_bucket_pins_the_trusted_configured_owner():
    owner, reason = choose_owner(facts_for(missing(), pinned=CENTRAL))
    assert owner == CENTRAL and "does not exist" in reason


def test_missing_bucket_with_an_untrusted_configured_owner_pins_the_servers_account():
    owner, _ = choose_owner(facts_for(missing(), pinned=STRANGER))
    assert owner == OWN


def test_untrusted_proven_owner_known_outside_the_organization_is_replaced():
    facts = facts_for(BucketProof("ml-bucket", True, STRANGER), pinned=STRANGER)
    facts["trust"]["org_accounts"] = frozenset({OWN, CENTRAL})
    owner, reason = choose_owner(facts)
    assert owner == OWN and "untrusted" in reason


def test_a_pin_s3_proves_correct_is_kept_when_membership_is_unknown_or_a_member():
    facts = facts_for(BucketProof("ml-bucket", True, STRANGER), pinned=STRANGER)
    owner, reason = choose_owner(facts)  # no Organizations answer: membership unknown
    assert owner is None
    assert f"--trusted-account {STRANGER}" in reason and "--org" in reason
    facts["trust"]["org_accounts"] = frozenset({OWN, STRANGER})
    owner, reason = choose_owner(facts)
    assert owner is None and "member of your Organization" in reason


def test_untrusted_proven_owner_that_is_not_the_pin_is_never_pinned():
    owner, reason = choose_owner(facts_for(BucketProof("ml-bucket", True, STRANGER), pinned=None))
    assert owner == OWN and "untrusted" in reason


def test_owner_outside_the_trusted_set_by_exclusion_fails_closed():
    proof = BucketProof(
        "ml-bucket", True, not_owned_by=frozenset({OWN, CENTRAL}), unknown_reason="outside"
    )
    owner, _ = choose_owner(facts_for(proof, pinned=CENTRAL))
    assert owner == CENTRAL


def test_unknown_owner_gets_no_choice_and_is_skipped_by_the_plan():
    proof = BucketProof("ml-bucket", True, not_owned_by=frozenset({OWN}), unknown_reason="403")
    facts = facts_for(proof, trusted=(OWN, CENTRAL), inventoried=(OWN,))
    owner, reason = choose_owner(facts)
    assert owner is None and "not proven" in reason
    (action,) = plan([facts])
    assert action.status == "skipped" and action.after == action.before


def test_apps_and_unparseable_uris_get_no_owner():
    assert choose_owner(facts_for(missing(), kind=MLFLOW_APP))[0] is None
    assert choose_owner(facts_for(None, uri="https://example.com/x"))[0] is None
    assert plan([facts_for(missing(), kind=MLFLOW_APP)]) == []


def test_plan_makes_no_action_for_a_server_that_already_complies():
    facts = facts_for(BucketProof("ml-bucket", True, OWN), verification=True)
    assert plan([facts]) == []
    facts = facts_for(BucketProof("ml-bucket", True, CENTRAL), verification=True, pinned=CENTRAL)
    assert plan([facts]) == []
    (action,) = plan([facts_for(BucketProof("ml-bucket", True, CENTRAL), verification=True)])
    assert action.after == {"S3BucketOwnerVerification": True, "S3BucketOwnerAccountId": CENTRAL}


def _cases():
    """Every branch of the owner decision, as (name, facts)."""
    foreign = BucketProof("ml-bucket", True, STRANGER)
    unproven = BucketProof("ml-bucket", True, not_owned_by=frozenset({OWN}), unknown_reason="403")
    outside = BucketProof(
        "ml-bucket", True, not_owned_by=frozenset({OWN, CENTRAL}), unknown_reason="outside"
    )
    member = facts_for(foreign, pinned=STRANGER, org=frozenset({OWN, STRANGER}))
    not_member = facts_for(foreign, pinned=STRANGER, org=frozenset({OWN, CENTRAL}))
    return [
        ("trusted owner", facts_for(BucketProof("ml-bucket", True, CENTRAL), pinned=STRANGER)),
        ("missing, trusted pin", facts_for(missing(), pinned=CENTRAL)),
        ("missing, foreign pin", facts_for(missing(), pinned=STRANGER)),
        ("foreign pin proven, membership unknown", facts_for(foreign, pinned=STRANGER)),
        ("foreign pin proven, a member", member),
        ("foreign pin proven, not a member", not_member),
        ("foreign owner, no pin", facts_for(foreign)),
        ("outside by exclusion", facts_for(outside, pinned=CENTRAL)),
        ("owner unknown", facts_for(unproven, inventoried=(OWN,))),
        ("already fails closed", facts_for(foreign, verification=True)),
        ("complies", facts_for(BucketProof("ml-bucket", True, OWN), verification=True)),
        ("unparseable uri", facts_for(None, uri="https://example.com/x")),
        ("app", facts_for(missing(), kind=MLFLOW_APP)),
    ]


@pytest.mark.parametrize(("name", "facts"), _cases(), ids=[n for n, _ in _cases()])
def test_the_fix_of_a_finding_is_exactly_what_the_plan_does(name, facts):
    fix = facts["fix"]
    actions = plan([facts])
    assert "<ACCOUNT" not in fix["command"]
    if fix["owner"] is not None:  # the finding pins an account: the plan pins that one
        (action,) = actions
        assert action.status == "planned"
        assert action.after["S3BucketOwnerAccountId"] == fix["owner"]
        assert action.command == fix["command"]
        assert f"--s3-bucket-owner-account-id {fix['owner']}" in fix["command"]
        assert fix["owner"] in facts["trust"]["trusted_accounts"]
        return
    assert "--s3-bucket-owner-account-id" not in fix["command"]
    if actions:  # nothing pinned, and the plan says why in the same words
        (action,) = actions
        assert action.status == "skipped" and action.command == ""
        assert action.reason == fix["reason"] and fix["reason"]
    else:  # already applied, or a kind with nothing to pin
        assert fix["applied"] or facts["resource"]["type"] == MLFLOW_APP
