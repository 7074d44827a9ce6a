"""What each kind's evidence says (``auditor.evaluate.evidence``), over facts records built
from plain resources: the Describe item of a tracking server and of an MLflow App, the
URI item, the execution role's item, and items shared between a resource's findings."""

from __future__ import annotations

from auditor.core.access import ROLE_ANSWER_PREFIX
from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Resource
from auditor.evaluate.evidence import evidence_for
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.rules import load_rules

OWN, CENTRAL = "111111111111", "222222222222"
RULES = {r.id: r for r in load_rules()}
VERIFICATION = RULES["mlflow_s3_owner_verification_enabled"]
URI_VALID = RULES["mlflow_artifact_store_uri_valid"]
EXISTS = RULES["mlflow_artifact_bucket_exists"]
OWNER_TRUSTED = RULES["mlflow_artifact_bucket_owner_trusted"]
ROLE_WRITES = RULES["mlflow_execution_role_s3_write_scoped"]
SERVER_ARN = f"arn:aws:sagemaker:us-east-1:{OWN}:mlflow-tracking-server/srv"
APP_ARN = f"arn:aws:sagemaker:us-east-1:{OWN}:mlflow-app/app-0123456789ab"
ROLE = f"arn:aws:iam::{OWN}:role/MlflowTrackingServerRole"


def facts_of(resource: Resource, proof: BucketProof | None = None) -> dict:
    trust = TrustContext(frozenset({OWN, CENTRAL}), frozenset({OWN, CENTRAL}))
    uri = parse_artifact_store_uri(resource.artifact_store_uri)
    return build_facts(resource, uri, proof, trust)


def server(uri="s3://ml-bucket/x", verification=True, pinned=None, role=None, registers=None):
    return Resource(
        TRACKING_SERVER,
        OWN,
        "us-east-1",
        "srv",
        SERVER_ARN,
        uri,
        "Created",
        verification,
        pinned,
        role,
        registers,
    )


def app(uri="s3://ml-bucket/x"):
    return Resource(MLFLOW_APP, OWN, "us-east-1", "app-0123456789ab", APP_ARN, uri, "Created")


def test_a_servers_describe_evidence_says_its_verification_and_pin():
    (item,) = evidence_for(facts_of(server(pinned=CENTRAL)), VERIFICATION)

    assert item == {
        "call": "sagemaker:DescribeMlflowTrackingServer",
        "as_account": OWN,
        "params": {"TrackingServerName": "srv"},
        "answer": f"S3BucketOwnerVerification=True, S3BucketOwnerAccountId={CENTRAL}",
        "conclusion": "verification is on",
    }


def test_a_server_that_predates_the_setting_reads_absent_and_off():
    (item,) = evidence_for(facts_of(server(verification=None)), VERIFICATION)

    assert item["answer"] == "S3BucketOwnerVerification=absent, S3BucketOwnerAccountId=absent"
    assert item["conclusion"] == "verification is off"


def test_verification_explicitly_off_is_reported_as_false():
    (item,) = evidence_for(facts_of(server(verification=False)), VERIFICATION)

    assert item["answer"].startswith("S3BucketOwnerVerification=False,")
    assert item["conclusion"] == "verification is off"


def test_an_apps_describe_evidence_names_it_by_arn_and_says_it_has_no_setting():
    items = evidence_for(facts_of(app()), VERIFICATION)

    (item,) = items
    assert item["call"] == "sagemaker:DescribeMlflowApp"
    assert item["params"] == {"Arn": APP_ARN}
    assert item["answer"] == "ArtifactStoreUri=s3://ml-bucket/x"
    assert item["conclusion"] == "an MLflow App has no bucket owner verification setting"


def test_the_uri_item_says_which_bucket_was_parsed():
    (item,) = evidence_for(facts_of(server()), URI_VALID)

    assert item["call"] == "parse:ArtifactStoreUri"
    assert item["as_account"] is None  # parsed locally: no call to AWS
    assert item["params"] == {"ArtifactStoreUri": "s3://ml-bucket/x"}
    assert item["answer"] == "bucket=ml-bucket"


def test_an_invalid_uri_is_explained_on_every_check_even_one_not_reading_it():
    facts = facts_of(server(uri="https://example.com/x"))

    items = evidence_for(facts, EXISTS)

    assert [i["call"] for i in items] == ["parse:ArtifactStoreUri"]
    assert items[0]["answer"] == "no bucket"
    assert items[0]["conclusion"] == facts["uri"]["error"]


def test_bucket_checks_carry_the_proofs_own_evidence():
    proof = BucketProof("ml-bucket", exists=False, unknown_reason="the bucket does not exist")
    facts = facts_of(server(), proof)
    facts["bucket"]["evidence"] = [{"call": "s3:HeadBucket", "answer": "404 Not Found"}]

    items = evidence_for(facts, EXISTS)

    assert [i["call"] for i in items] == ["s3:HeadBucket"]


def test_the_role_item_opens_with_the_role_arn_and_says_registration():
    facts = facts_of(server(role=ROLE, registers=True))

    items = evidence_for(facts, ROLE_WRITES)

    assert items[0]["call"] == "sagemaker:DescribeMlflowTrackingServer"
    assert items[0]["answer"] == f"{ROLE_ANSWER_PREFIX}{ROLE}, automatic model registration on"


def test_a_resource_without_a_role_says_absent():
    items = evidence_for(facts_of(server(role=None)), ROLE_WRITES)

    assert items[0]["answer"] == f"{ROLE_ANSWER_PREFIX}absent, automatic model registration off"


def test_checks_reading_the_same_section_share_one_list():
    facts = facts_of(server(), BucketProof("ml-bucket", exists=True, owner_account_id=OWN))

    exists, trusted = evidence_for(facts, EXISTS), evidence_for(facts, OWNER_TRUSTED)
    describe = evidence_for(facts, VERIFICATION)

    assert exists is trusted  # both read bucket.*: built once, shared
    assert describe is not exists
