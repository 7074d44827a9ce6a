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
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from auditor.aws import classify
from auditor.core.artifacts import account_namespace
from auditor.core.model import BucketProof, Evidence

S3ClientFor = Callable[[str, str], Any]  # (account_id, region) -> s3 client


@dataclass(frozen=True, slots=True)
class _Note:
    """How one answer is written down as evidence; ``{...}`` fields are filled per bucket."""

    call: str
    answer: str
    conclusion: str


LIST = "s3:ListBuckets"
HEAD = "s3:HeadBucket"
NAME = "name:account-regional-namespace"

# Every answer a proof can rest on, in the order prove_bucket may meet them.
NOTES: dict[str, _Note] = {
    "listed": _Note(LIST, "listed", "{account} owns the bucket"),
    "not listed": _Note(
        LIST, "not listed", "none of the {accounts} audited accounts owns the bucket"
    ),
    # HeadBucket from an account that uses the bucket, by its short answer
    "404": _Note(HEAD, "404 Not Found", "the bucket does not exist"),
    "200": _Note(HEAD, "200 OK", "the bucket exists and is readable"),
    "403": _Note(HEAD, "403 Forbidden", "the bucket exists but this account may not read it"),
    "other": _Note(HEAD, "{answer}", "S3 gave no usable answer"),
    "stale namespace": _Note(
        NAME,
        "{bucket}",
        "the name points at {account}'s namespace, but its ListBuckets does not list the "
        "bucket: not taken as proof",
    ),
    "namespace": _Note(
        NAME,
        "{bucket}",
        "only {account} can create buckets in its account regional namespace, so it owns "
        "this existing bucket",
    ),
    # HeadBucket with ExpectedBucketOwner=candidate, by its short answer
    "owner 200": _Note(HEAD, "200 OK", "{account} owns the bucket"),
    "owner 403": _Note(
        HEAD,
        "403 AccessDenied",
        "{account} does not own the bucket (the same request without ExpectedBucketOwner "
        "succeeded)",
    ),
    "owner other": _Note(HEAD, "{answer}", "S3 gave no usable answer"),
}


def _note(
    proof: BucketProof,
    note: str,
    as_account: str | None,
    params: dict[str, str] | None = None,
    **fields: str,
) -> None:
    n = NOTES[note]
    proof.evidence.append(
        Evidence(
            call=n.call,
            as_account=as_account,
            answer=n.answer.format(**fields),
            params={} if params is None else params,
            conclusion=n.conclusion.format(**fields),
        )
    )


def _head(s3: Any, bucket: str, expected_owner: str | None = None) -> str:
    """HeadBucket's answer as a short code: "200", "403", "404", or the error code."""
    params = {"Bucket": bucket}
    if expected_owner:
        params["ExpectedBucketOwner"] = expected_owner
    try:
        s3.head_bucket(**params)
    except ClientError as exc:
        code, status = classify.error_code(exc), classify.http_status(exc)
        if classify.is_missing_bucket(code, status):
            return "404"
        if classify.is_denied(code, status):
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
    if _listed(proof, inventories, inventoried):
        return proof
    if probe_from is None:
        proof.unknown_reason = "no audited account could probe the bucket"
        return proof
    account_id, region = probe_from
    try:
        s3 = s3_for(account_id, region)
    except Exception as exc:  # one failure is recorded, never fatal
        proof.unknown_reason = f"no S3 client for {account_id}: {classify.error_code(exc)}"
        return proof
    answer = _head(s3, bucket)
    if not _exists(proof, answer, account_id):
        return proof
    if ns is not None and ns.account_id in proof.not_owned_by:
        # The name says account regional namespace, but that account's own list does not
        # have it: a global bucket named so before namespaces existed. Not proof.
        _note(proof, "stale namespace", None, bucket=bucket, account=ns.account_id)
    elif ns is not None:
        proof.owner_account_id = ns.account_id
        _note(proof, "namespace", None, bucket=bucket, account=ns.account_id)
        return proof
    if answer != "200":
        proof.unknown_reason = (
            "the bucket exists but is owned by an account outside the "
            "audited set that does not let us read it"
        )
        return proof
    _confirm_owner(proof, s3, account_id, candidates)
    return proof


def _listed(
    proof: BucketProof, inventories: dict[str, set[str]], inventoried: frozenset[str] | None
) -> bool:
    """ListBuckets' answers: True when one of them lists the bucket (its owner proven)."""
    for account_id, owned in inventories.items():
        if proof.name in owned:
            # A proven owner implies every other account is not: nothing more to keep.
            proof.exists = True
            proof.owner_account_id = account_id
            _note(proof, "listed", account_id, account=account_id)
            return True
    # One shared frozenset for every bucket in no list (copied only if a probe refutes
    # another candidate): an organisation has thousands of accounts.
    proof.not_owned_by = inventoried if inventoried is not None else frozenset(inventories)
    if inventories:
        n = str(len(inventories))
        _note(proof, "not listed", None, {"accounts": n}, accounts=n)
    return False


def _exists(proof: BucketProof, answer: str, account_id: str) -> bool:
    """HeadBucket's answer: True when the bucket exists (readable or not)."""
    params = {"Bucket": proof.name}
    if answer == "404":
        proof.exists = False
        _note(proof, "404", account_id, params)
        proof.unknown_reason = "the bucket does not exist"
        return False
    if answer not in ("200", "403"):
        _note(proof, "other", account_id, params, answer=answer)
        proof.unknown_reason = f"HeadBucket from {account_id} failed with {answer}"
        return False
    proof.exists = True
    _note(proof, answer, account_id, params)
    return True


def _confirm_owner(proof: BucketProof, s3: Any, account_id: str, candidates: Iterable[str]) -> None:
    """HeadBucket with ExpectedBucketOwner per candidate not already refuted (meaningful
    only because the plain request succeeded)."""
    for candidate in sorted(set(candidates) - proof.not_owned_by):
        probe = _head(s3, proof.name, expected_owner=candidate)
        params = {"Bucket": proof.name, "ExpectedBucketOwner": candidate}
        if probe == "200":
            proof.owner_account_id = candidate
            _note(proof, "owner 200", account_id, params, account=candidate)
            return
        if probe == "403":
            proof.not_owned_by = proof.not_owned_by | {candidate}
            _note(proof, "owner 403", account_id, params, account=candidate)
        else:
            _note(proof, "owner other", account_id, params, answer=probe)
    proof.unknown_reason = (
        "the bucket is owned by an account outside the audited set "
        "and no candidate owner was confirmed"
    )
