"""The remediation plan (``auditor.remediate.plan``) over the facts of several resources:
which servers get a pin, which are skipped and why, and that no account outside the
trusted set is ever pinned."""

from __future__ import annotations

from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Resource
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.remediate.plan import plan

OWN, CENTRAL, STRANGER = "111111111111", "222222222222", "999988887777"
TRUSTED = frozenset({OWN, CENTRAL})


def facts(name, proof, verification=False, pinned=None, kind=TRACKING_SERVER, uri=None):
    uri = uri or f"s3://{proof.name if proof else 'ml-bucket'}/{name}"
    resource = Resource(
        kind,
        OWN,
        "eu-west-1",
        name,
        f"arn:aws:sagemaker:eu-west-1:{OWN}:mlflow-tracking-server/{name}",
        uri,
        "Created",
        verification if kind == TRACKING_SERVER else None,
        pinned,
    )
    trust = TrustContext(TRUSTED, TRUSTED)
    return build_facts(resource, parse_artifact_store_uri(uri), proof, trust)


def owned(bucket, owner):
    return BucketProof(bucket, exists=True, owner_account_id=owner)


def org_facts():
    return [
        facts("central", owned("central-bucket", CENTRAL)),
        facts("sniped", owned("sniped-bucket", STRANGER)),
        facts("foreign-pin", owned("their-bucket", STRANGER), pinned=STRANGER),
        facts("gone", BucketProof("gone-bucket", exists=False), pinned=CENTRAL),
        facts("unsure", BucketProof("unsure-bucket", exists=True, unknown_reason="403")),
        facts("fine", owned("own-bucket", OWN), verification=True),
        facts("app", BucketProof("gone-bucket", exists=False), kind=MLFLOW_APP),
        facts("bad-uri", None, uri="https://example.com/x"),
    ]


def test_only_remediable_servers_that_need_a_change_are_in_the_plan():
    actions = {a.resource_name: a for a in plan(org_facts())}

    assert sorted(actions) == ["bad-uri", "central", "foreign-pin", "gone", "sniped", "unsure"]
    assert {n for n, a in actions.items() if a.status == "planned"} == {
        "central",
        "gone",
        "sniped",
    }


def test_planned_pins_choose_the_fail_closed_owner():
    actions = {a.resource_name: a for a in plan(org_facts())}

    central, gone, sniped = actions["central"], actions["gone"], actions["sniped"]
    assert central.after == {"S3BucketOwnerVerification": True, "S3BucketOwnerAccountId": CENTRAL}
    assert central.before == {"S3BucketOwnerVerification": False, "S3BucketOwnerAccountId": None}
    assert "proven owner" in central.reason
    assert gone.after["S3BucketOwnerAccountId"] == CENTRAL  # the trusted expected owner
    assert "does not exist" in gone.reason
    assert sniped.after["S3BucketOwnerAccountId"] == OWN  # refuses the foreign bucket
    assert "untrusted" in sniped.reason
    assert "aws sagemaker update-mlflow-tracking-server" in central.command
    assert "--region eu-west-1" in central.command
    assert central.command.endswith(f"--s3-bucket-owner-account-id {CENTRAL}")
    assert central.resource_type == TRACKING_SERVER
    assert central.artifact_store_uri == "s3://central-bucket/central"


def test_skipped_servers_say_why_and_change_nothing():
    actions = {a.resource_name: a for a in plan(org_facts())}

    for name, why in (
        ("unsure", "not proven"),
        ("bad-uri", "names no S3 bucket"),
        # S3 proves the pinned account owns the bucket; whether it is a member is unknown.
        ("foreign-pin", f"--trusted-account {STRANGER}"),
    ):
        action = actions[name]
        assert action.status == "skipped"
        assert why in action.reason
        assert action.after == action.before and action.command == ""


def test_no_action_ever_pins_an_account_outside_the_trusted_set():
    actions = plan(org_facts())

    pinned = {a.after["S3BucketOwnerAccountId"] for a in actions if a.status == "planned"}
    assert pinned and pinned <= TRUSTED
    assert all(STRANGER not in a.command for a in actions)


def test_the_record_leaves_out_what_findings_json_does_not_hold():
    (action,) = [a for a in plan(org_facts()) if a.resource_name == "central"]

    record = action.to_dict()

    assert "artifact_store_uri" not in record and "resource_type" not in record
    assert record["status"] == "planned" and record["attempts"] == 0 and record["error"] is None
    assert record["account_id"] == OWN and record["region"] == "eu-west-1"


def test_an_empty_list_plans_nothing():
    assert plan([]) == []
