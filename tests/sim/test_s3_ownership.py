"""S3 bucket ownership as AWS enforces it (moto alone does not)."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from .conftest import OTHER, PROD


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def _policy(bucket: str, principal: str, actions: list[str], effect: str = "Allow") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": effect,
                    "Principal": {"AWS": principal},
                    "Action": actions,
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


def test_expected_bucket_owner_mismatch_is_403(sim):
    """ExpectedBucketOwner naming another account -> 403 AccessDenied; the owner -> 200.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html
    """
    s3 = sim.session_for(PROD).client("s3")
    s3.create_bucket(Bucket="owned-by-prod")
    s3.head_bucket(Bucket="owned-by-prod", ExpectedBucketOwner=PROD)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="owned-by-prod", ExpectedBucketOwner=OTHER)
    assert _code(exc) == "403"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="owned-by-prod", ExpectedBucketOwner=OTHER)
    assert _code(exc) == "AccessDenied"


def test_cross_account_requests_denied_without_bucket_policy(sim):
    """Another account's bucket answers 403 to HeadBucket/ListObjects/GetObject/PutObject.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html
    """
    sim.session_for(OTHER).client("s3").create_bucket(Bucket="foreign-bucket")
    s3 = sim.session_for(PROD).client("s3")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="foreign-bucket")
    assert _code(exc) == "403"
    for call in (
        lambda: s3.list_objects_v2(Bucket="foreign-bucket"),
        lambda: s3.put_object(Bucket="foreign-bucket", Key="k", Body=b"x"),
        lambda: s3.get_bucket_policy(Bucket="foreign-bucket"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "AccessDenied"


@pytest.mark.parametrize("principal", ["*", PROD, f"arn:aws:iam::{PROD}:root"])
def test_bucket_policy_grants_cross_account_access(sim, principal):
    """A bucket policy naming the caller's account lets it HeadBucket (s3:ListBucket) and use
    the actions granted, nothing else; ExpectedBucketOwner still answers as AWS does.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html
    """
    owner = sim.session_for(OTHER).client("s3")
    owner.create_bucket(Bucket="shared-bucket")
    owner.delete_public_access_block(Bucket="shared-bucket")  # new buckets block "*" policies
    owner.put_bucket_policy(
        Bucket="shared-bucket",
        Policy=_policy("shared-bucket", principal, ["s3:ListBucket", "s3:Get*", "s3:PutObject"]),
    )
    s3 = sim.session_for(PROD).client("s3")
    s3.head_bucket(Bucket="shared-bucket")
    s3.head_bucket(Bucket="shared-bucket", ExpectedBucketOwner=OTHER)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="shared-bucket", ExpectedBucketOwner=PROD)
    assert _code(exc) == "403"
    s3.put_object(Bucket="shared-bucket", Key="model.pkl", Body=b"weights")
    assert s3.get_object(Bucket="shared-bucket", Key="model.pkl")["Body"].read() == b"weights"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket="shared-bucket", Key="model.pkl")
    assert _code(exc) == "AccessDenied"


def test_explicit_deny_wins(sim):
    owner = sim.session_for(OTHER).client("s3")
    owner.create_bucket(Bucket="deny-bucket")
    owner.delete_public_access_block(Bucket="deny-bucket")  # new buckets block "*" policies
    policy = json.loads(_policy("deny-bucket", "*", ["s3:*"]))
    policy["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": {"AWS": PROD},
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::deny-bucket",
        }
    )
    owner.put_bucket_policy(Bucket="deny-bucket", Policy=json.dumps(policy))
    s3 = sim.session_for(PROD).client("s3")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="deny-bucket")
    assert _code(exc) == "403"
    s3.put_object(Bucket="deny-bucket", Key="k", Body=b"x")  # still allowed


def test_missing_bucket_is_404(sim):
    """HeadBucket on a missing bucket -> 404 (also with ExpectedBucketOwner); others
    NoSuchBucket. https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html
    """
    s3 = sim.session_for(PROD).client("s3")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="never-created-bucket")
    assert _code(exc) == "404"
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="never-created-bucket", ExpectedBucketOwner=OTHER)
    assert _code(exc) == "404"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="never-created-bucket")
    assert _code(exc) == "NoSuchBucket"


def test_list_buckets_lists_only_callers_buckets_with_own_canonical_id(sim):
    """ListBuckets returns exactly the caller's buckets, Owner.ID is the account's canonical
    user id (64 hex, distinct per account); paginates with MaxBuckets/ContinuationToken.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/finding-canonical-user-id.html
    """
    prod, other = (sim.session_for(a).client("s3") for a in (PROD, OTHER))
    for i in range(3):
        prod.create_bucket(Bucket=f"prod-bucket-{i}")
    other.create_bucket(Bucket="other-bucket")
    listing = prod.list_buckets()
    assert [b["Name"] for b in listing["Buckets"]] == [f"prod-bucket-{i}" for i in range(3)]
    prod_id, other_id = listing["Owner"]["ID"], other.list_buckets()["Owner"]["ID"]
    assert re.fullmatch(r"[0-9a-f]{64}", prod_id) and prod_id != other_id
    acl_owner = prod.get_bucket_acl(Bucket="prod-bucket-0")["Owner"]["ID"]
    assert acl_owner == prod_id
    names = [
        b["Name"]
        for page in prod.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 2})
        for b in page["Buckets"]
    ]
    assert names == [f"prod-bucket-{i}" for i in range(3)]


def test_account_regional_namespace_only_owner_can_create(sim):
    """PREFIX-ACCOUNTID-REGION-an with BucketNamespace=account-regional: only ACCOUNTID, only
    in REGION; others get 403; a non-namespace name with the header -> InvalidBucketName.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/gpbucketnamespaces.html
    """
    name = f"mlflow-artifacts-{PROD}-us-east-1-an"
    intruder = sim.session_for(OTHER).client("s3")
    for kwargs in ({"BucketNamespace": "account-regional"}, {}):
        with pytest.raises(ClientError) as exc:
            intruder.create_bucket(Bucket=name, **kwargs)
        assert _code(exc) == "AccessDenied"
    owner = sim.session_for(PROD).client("s3")
    with pytest.raises(ClientError) as exc:
        owner.create_bucket(Bucket="plain-name", BucketNamespace="account-regional")
    assert _code(exc) == "InvalidBucketName"
    with pytest.raises(ClientError) as exc:
        owner.create_bucket(Bucket=f"x-{PROD}-eu-west-1-an", BucketNamespace="account-regional")
    assert _code(exc) == "InvalidBucketName"  # region in the name != bucket region
    owner.create_bucket(Bucket=name, BucketNamespace="account-regional")
    eu = sim.session_for(PROD, "eu-west-1").client("s3")
    eu.create_bucket(
        Bucket=f"x-{PROD}-eu-west-1-an",
        BucketNamespace="account-regional",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    assert name in [b["Name"] for b in owner.list_buckets()["Buckets"]]


def test_global_bucket_name_taken_by_another_account(sim):
    """Bucket names are global: a name another account holds -> BucketAlreadyExists."""
    sim.session_for(OTHER).client("s3").create_bucket(Bucket="taken-name")
    with pytest.raises(ClientError) as exc:
        sim.session_for(PROD).client("s3").create_bucket(Bucket="taken-name")
    assert _code(exc) == "BucketAlreadyExists"
