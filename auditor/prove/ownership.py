"""Prove who owns each artifact bucket, from what S3 itself answers.

Cheapest proof first, every answer kept as evidence:

1. ``ListBuckets`` in every audited account lists exactly the buckets that account owns,
   so the union is an authoritative bucket -> owner map for the organisation, and a
   bucket absent from an account's list is proven not to be that account's.
2. A bucket in no list is probed once with ``HeadBucket`` from an account that uses it:
   404 = it does not exist; 403 = it exists but we may not read it; 200 = readable.
3. When readable, ``HeadBucket`` with ``ExpectedBucketOwner=<candidate>`` confirms (200)
   or refutes (403) each candidate owner not already refuted. A 403 alone is ambiguous,
   so probes are only made when the plain request succeeded.
4. A name in an account regional namespace (``PREFIX-ACCOUNTID-REGION-an``) can only be
   created by that account, so it proves its owner once S3 says the bucket exists.

https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html
https://docs.aws.amazon.com/AmazonS3/latest/userguide/gpbucketnamespaces.html
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from auditor.aws.errors import error_code
from auditor.core.artifacts import account_namespace
from auditor.core.model import BucketProof, Evidence

S3ClientFor = Callable[[str, str], Any]  # (account_id, region) -> s3 client

_MISSING = frozenset({"404", "NoSuchBucket", "NotFound"})
_FORBIDDEN = frozenset({"403", "AccessDenied", "Forbidden"})


def _head(s3: Any, bucket: str, expected_owner: str | None = None) -> str:
    """HeadBucket's answer as a short code: "200", "403", "404", or the error code."""
    params = {"Bucket": bucket}
    if expected_owner:
        params["ExpectedBucketOwner"] = expected_owner
    try:
        s3.head_bucket(**params)
    except ClientError as exc:
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _MISSING or status == 404:
            return "404"
        if code in _FORBIDDEN or status == 403:
            return "403"
        return code
    except Exception as exc:  # BotoCoreError, ResponseParserError, ...: no usable answer
        return type(exc).__name__
    return "200"


def prove_bucket(
    bucket: str,
    probe_from: tuple[str, str] | None,
    candidates: Iterable[str],
    inventories: dict[str, set[str]],
    s3_for: S3ClientFor,
    inventoried: frozenset[str] | None = None,
) -> BucketProof:
    """Resolve one bucket.

    ``probe_from`` is the (account, region) whose credentials probe the bucket (an
    account that uses it); ``candidates`` are owners to confirm by ExpectedBucketOwner
    (the expected owners configured on the resources using it); ``inventories`` maps each
    account whose ListBuckets succeeded to the buckets it owns, and ``inventoried`` is
    ``frozenset(inventories)`` made once by the caller for all buckets.
    """
    proof = BucketProof(name=bucket)
    ns = account_namespace(bucket)
    proof.namespace_account_id = ns.account_id if ns else None

    for account_id, owned in inventories.items():
        if bucket in owned:
            # A proven owner implies every other account is not: nothing more to keep.
            proof.exists = True
            proof.owner_account_id = account_id
            proof.evidence.append(
                Evidence(
                    call="s3:ListBuckets",
                    as_account=account_id,
                    answer="listed",
                    params={},
                    conclusion=f"{account_id} owns the bucket",
                )
            )
            return proof

    # One shared frozenset for every bucket in no list (copied only if a probe refutes
    # another candidate): an organisation has thousands of accounts.
    proof.not_owned_by = inventoried if inventoried is not None else frozenset(inventories)
    if inventories:
        proof.evidence.append(
            Evidence(
                call="s3:ListBuckets",
                as_account=None,
                answer="not listed",
                params={"accounts": str(len(inventories))},
                conclusion=f"none of the {len(inventories)} audited accounts owns the bucket",
            )
        )

    if probe_from is None:
        proof.unknown_reason = "no audited account could probe the bucket"
        return proof
    account_id, region = probe_from
    try:
        s3 = s3_for(account_id, region)
    except Exception as exc:  # one failure is recorded, never fatal
        proof.unknown_reason = f"no S3 client for {account_id}: {error_code(exc)}"
        return proof

    answer = _head(s3, bucket)
    if answer == "404":
        proof.exists = False
        proof.evidence.append(
            Evidence(
                call="s3:HeadBucket",
                as_account=account_id,
                answer="404 Not Found",
                params={"Bucket": bucket},
                conclusion="the bucket does not exist",
            )
        )
        proof.unknown_reason = "the bucket does not exist"
        return proof
    if answer not in ("200", "403"):
        proof.evidence.append(
            Evidence(
                call="s3:HeadBucket",
                as_account=account_id,
                answer=answer,
                params={"Bucket": bucket},
                conclusion="S3 gave no usable answer",
            )
        )
        proof.unknown_reason = f"HeadBucket from {account_id} failed with {answer}"
        return proof

    proof.exists = True
    readable = answer == "200"
    proof.evidence.append(
        Evidence(
            call="s3:HeadBucket",
            as_account=account_id,
            answer="200 OK" if readable else "403 Forbidden",
            params={"Bucket": bucket},
            conclusion="the bucket exists and is readable"
            if readable
            else "the bucket exists but this account may not read it",
        )
    )

    if ns is not None and ns.account_id in proof.not_owned_by:
        # The name says account regional namespace, but that account's own list does not
        # have it: a global bucket named so before namespaces existed. Not proof.
        proof.evidence.append(
            Evidence(
                call="name:account-regional-namespace",
                as_account=None,
                answer=bucket,
                conclusion=f"the name points at {ns.account_id}'s namespace, but its ListBuckets "
                "does not list the bucket: not taken as proof",
            )
        )
    elif ns is not None:
        proof.owner_account_id = ns.account_id
        proof.evidence.append(
            Evidence(
                call="name:account-regional-namespace",
                as_account=None,
                answer=bucket,
                conclusion=f"only {ns.account_id} can create buckets in its account regional "
                "namespace, so it owns this existing bucket",
            )
        )
        return proof

    if readable:
        for candidate in sorted(set(candidates) - proof.not_owned_by):
            probe = _head(s3, bucket, expected_owner=candidate)
            params = {"Bucket": bucket, "ExpectedBucketOwner": candidate}
            if probe == "200":
                proof.owner_account_id = candidate
                proof.evidence.append(
                    Evidence(
                        call="s3:HeadBucket",
                        as_account=account_id,
                        answer="200 OK",
                        params=params,
                        conclusion=f"{candidate} owns the bucket",
                    )
                )
                return proof
            if probe == "403":
                proof.not_owned_by = proof.not_owned_by | {candidate}
                proof.evidence.append(
                    Evidence(
                        call="s3:HeadBucket",
                        as_account=account_id,
                        answer="403 AccessDenied",
                        params=params,
                        conclusion=f"{candidate} does not own the bucket (the same request "
                        "without ExpectedBucketOwner succeeded)",
                    )
                )
            else:
                proof.evidence.append(
                    Evidence(
                        call="s3:HeadBucket",
                        as_account=account_id,
                        answer=probe,
                        params=params,
                        conclusion="S3 gave no usable answer",
                    )
                )
        proof.unknown_reason = (
            "the bucket is owned by an account outside the audited set "
            "and no candidate owner was confirmed"
        )
    else:
        proof.unknown_reason = (
            "the bucket exists but is owned by an account outside the "
            "audited set that does not let us read it"
        )
    return proof
