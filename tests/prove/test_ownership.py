"""prove_bucket over real botocore clients whose answers are set with botocore's Stubber.

The simulation (tests/e2e) covers the common paths; these pin the corner cases AWS can
produce but the simulation cannot create through its API (e.g. a global bucket whose
name predates account regional namespaces).
"""

import boto3
from botocore.stub import Stubber

from auditor.prove.ownership import prove_bucket

A, B = "111111111111", "222222222222"


def s3_client(bucket, answers):
    """A real S3 client answering HeadBucket calls in order, checking their parameters."""
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    for expected_owner, code in answers:
        params = {"Bucket": bucket}
        if expected_owner is not None:
            params["ExpectedBucketOwner"] = expected_owner
        if code == 200:
            stub.add_response("head_bucket", {}, params)
        else:
            stub.add_client_error(
                "head_bucket",
                service_error_code=str(code),
                http_status_code=code,
                expected_params=params,
            )
    stub.activate()
    return client, stub


def test_namespace_name_is_not_proof_when_its_account_does_not_list_the_bucket():
    bucket = f"b-{B}-us-east-1-an"
    client, stub = s3_client(bucket, [(None, 403)])
    proof = prove_bucket(
        bucket, (A, "us-east-1"), {A}, {A: set(), B: set()}, lambda acct, region: client
    )
    assert proof.exists is True
    assert proof.owner_account_id is None
    assert B in proof.not_owned_by
    assert "not taken as proof" in proof.evidence[-1].conclusion
    stub.assert_no_pending_responses()


def test_namespace_name_proves_the_owner_when_that_account_was_not_inventoried():
    bucket = f"b-{B}-us-east-1-an"
    client, _ = s3_client(bucket, [(None, 403)])
    proof = prove_bucket(bucket, (A, "us-east-1"), {A}, {A: set()}, lambda acct, region: client)
    assert proof.owner_account_id == B
    assert proof.evidence[-1].call == "name:account-regional-namespace"


def test_a_403_probe_refutes_only_when_the_plain_request_succeeded():
    client, stub = s3_client("shared-bucket", [(None, 200), (B, 403), ("333333333333", 200)])
    proof = prove_bucket(
        "shared-bucket",
        (A, "us-east-1"),
        {B, "333333333333"},
        {A: set()},
        lambda acct, region: client,
    )
    assert proof.owner_account_id == "333333333333"
    assert B in proof.not_owned_by
    stub.assert_no_pending_responses()


def test_unreadable_bucket_gets_no_probe_and_no_owner():
    client, stub = s3_client("foreign-bucket", [(None, 403)])
    proof = prove_bucket(
        "foreign-bucket", (A, "us-east-1"), {B}, {A: set()}, lambda acct, region: client
    )
    assert proof.exists is True and proof.owner_account_id is None
    assert B not in proof.not_owned_by  # a 403 alone refutes nothing
    stub.assert_no_pending_responses()  # exactly one call was made


def test_unusable_answer_leaves_existence_unknown():
    client, _ = s3_client("flaky-bucket", [(None, 500)])
    proof = prove_bucket(
        "flaky-bucket", (A, "us-east-1"), {A}, {A: set()}, lambda acct, region: client
    )
    assert proof.exists is None
    assert "failed" in proof.unknown_reason
