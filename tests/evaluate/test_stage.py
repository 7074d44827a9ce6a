"""The evaluate stage alone (``evaluate_resources``) over plain records: one finding per
applicable rule per resource, evidence that names the calls a verdict rests on, and a
resource that could not be described judged UNKNOWN on every check, with the reason."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Evidence, Resource
from auditor.evaluate.facts import TrustContext
from auditor.evaluate.policy import Policy
from auditor.evaluate.role_policy import ABSENT
from auditor.evaluate.rules import load_rules
from auditor.evaluate.stage import bucket_owners, evaluate_resources

OWN, STRANGER = "111111111111", "999988887777"
TODAY = dt.date(2026, 11, 27)
RULES = load_rules()
TRUST = TrustContext(frozenset({OWN}), frozenset({OWN}))
ARN = f"arn:aws:sagemaker:us-east-1:{OWN}:mlflow-tracking-server/"


def server(name: str, uri: str, verification: bool | None = True) -> Resource:
    return Resource(
        resource_type=TRACKING_SERVER,
        account_id=OWN,
        region="us-east-1",
        name=name,
        arn=ARN + name,
        artifact_store_uri=uri,
        status="Created",
        s3_bucket_owner_verification=verification,
    )


def app(name: str, uri: str) -> Resource:
    return Resource(
        resource_type=MLFLOW_APP,
        account_id=OWN,
        region="us-east-1",
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:{OWN}:mlflow-app/app-{name}",
        artifact_store_uri=uri,
        status="Created",
    )


def owned(bucket: str, owner: str) -> BucketProof:
    return BucketProof(
        bucket,
        exists=True,
        owner_account_id=owner,
        evidence=[Evidence("s3:HeadBucket", OWN, "200", {"Bucket": bucket}, "it exists")],
    )


def evaluate(resources, proofs, undescribed=None):
    uris = {r.arn: parse_artifact_store_uri(r.artifact_store_uri) for r in resources}
    return evaluate_resources(
        resources, uris, proofs, TRUST, undescribed or {}, RULES, Policy(), TODAY
    )


def by_check(findings, arn):
    return {f["check_id"]: f for f in findings if f["resource_arn"] == arn}


def test_one_finding_per_applicable_rule_per_resource():
    resources = [
        server("good", "s3://own-bucket/a"),
        server("bad", "s3://foreign-bucket/b", verification=False),
        app("x", "s3://own-bucket/c"),
    ]
    proofs = {"own-bucket": owned("own-bucket", OWN)}
    proofs["foreign-bucket"] = owned("foreign-bucket", STRANGER)

    facts, findings, expired = evaluate(resources, proofs)

    assert [f["resource"]["arn"] for f in facts] == [r.arn for r in resources]
    pairs = Counter((f["check_id"], f["resource_arn"]) for f in findings)
    expected = {
        (rule.id, r.arn)
        for r in resources
        for rule in RULES
        if r.resource_type in rule.resource_types
    }
    assert set(pairs) == expected and set(pairs.values()) == {1}
    # The app kind has no owner verification: its two checks do not apply to it.
    assert len(by_check(findings, resources[2].arn)) == len(RULES) - 2
    assert expired == []


def test_verdicts_follow_the_proofs_given():
    resources = [
        server("good", "s3://own-bucket/a"),
        server("bad", "s3://foreign-bucket/b", verification=False),
    ]
    proofs = {"own-bucket": owned("own-bucket", OWN)}
    proofs["foreign-bucket"] = owned("foreign-bucket", STRANGER)

    _, findings, _ = evaluate(resources, proofs)

    good, bad = by_check(findings, ARN + "good"), by_check(findings, ARN + "bad")
    assert good["mlflow_artifact_bucket_owner_trusted"]["status"] == "PASS"
    assert bad["mlflow_artifact_bucket_owner_trusted"]["status"] == "FAIL"
    assert bad["mlflow_artifact_bucket_owner_trusted"]["actual_owner"] == STRANGER
    assert bad["mlflow_s3_owner_verification_enabled"]["status"] == "FAIL"
    assert good["mlflow_s3_owner_verification_enabled"]["status"] == "PASS"


def test_evidence_items_name_the_calls_the_verdict_rests_on():
    resources = [server("good", "s3://own-bucket/a")]

    _, findings, _ = evaluate(resources, {"own-bucket": owned("own-bucket", OWN)})

    checks = by_check(findings, ARN + "good")
    (describe,) = checks["mlflow_s3_owner_verification_enabled"]["evidence"]
    assert describe["call"] == "sagemaker:DescribeMlflowTrackingServer"
    assert describe["params"] == {"TrackingServerName": "good"}
    assert describe["as_account"] == OWN
    owner_calls = [e["call"] for e in checks["mlflow_artifact_bucket_owner_trusted"]["evidence"]]
    assert owner_calls == ["s3:HeadBucket"]  # the proof's own evidence, as given
    uri_items = checks["mlflow_artifact_store_uri_valid"]["evidence"]
    assert [e["call"] for e in uri_items] == ["parse:ArtifactStoreUri"]


def test_a_bucket_with_no_proof_leaves_its_checks_unknown():
    _, findings, _ = evaluate([server("lone", "s3://unproven-bucket/a")], {})

    checks = by_check(findings, ARN + "lone")
    assert checks["mlflow_artifact_bucket_exists"]["status"] == "UNKNOWN"
    assert checks["mlflow_artifact_bucket_owner_trusted"]["status"] == "UNKNOWN"
    assert checks["mlflow_s3_owner_verification_enabled"]["status"] == "PASS"


def test_an_undescribed_resource_is_unknown_on_every_check_with_the_reason():
    reason = "DescribeMlflowTrackingServer failed (AccessDeniedException), so nothing is known"
    ghost = Resource(TRACKING_SERVER, OWN, "us-east-1", "ghost", ARN + "ghost", None)
    described = server("good", "s3://own-bucket/a")

    facts, findings, _ = evaluate(
        [ghost, described], {"own-bucket": owned("own-bucket", OWN)}, {ghost.arn: reason}
    )

    ghost_checks = by_check(findings, ghost.arn)
    assert len(ghost_checks) == len(RULES)
    assert {f["status"] for f in ghost_checks.values()} == {"UNKNOWN"}
    assert all(reason in f["message"] for f in ghost_checks.values())
    assert facts[0]["resource"]["name"] == "ghost"
    assert facts[0]["bucket"]["exists"] is None
    # The described resource beside it is judged as usual.
    assert by_check(findings, described.arn)["mlflow_artifact_bucket_exists"]["status"] == "PASS"


def test_bucket_owners_map_missing_buckets_to_absent_and_unproven_to_none():
    proofs = {
        "own-bucket": owned("own-bucket", OWN),
        "gone": BucketProof("gone", exists=False),
        "unsure": BucketProof("unsure", unknown_reason="403"),
    }

    assert bucket_owners(proofs) == {"own-bucket": OWN, "gone": ABSENT, "unsure": None}
