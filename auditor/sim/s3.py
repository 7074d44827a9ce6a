"""S3 bucket ownership as AWS enforces it, on top of moto (which shares buckets freely).

- ``x-amz-expected-bucket-owner`` naming another account -> 403 AccessDenied
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html).
- Requests from an account that does not own the bucket -> 403 unless the bucket policy
  allows that principal the action (explicit Deny wins, also for the owner's account).
  Identity (IAM) policies are not evaluated: same-account requests are allowed.
- Account regional namespace (``PREFIX-ACCOUNTID-REGION-an``): only ACCOUNTID can create it
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/gpbucketnamespaces.html).
- Each account has its own canonical user id in Owner/Grantee elements.
Missing buckets are left to moto: HeadBucket 404, other operations NoSuchBucket.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

from . import exceptions
from .exceptions import Response
from .iam import evaluate, load_policy
from .identity import canonical_user_id, principal_for_key

if TYPE_CHECKING:
    from .request import SimRequest
    from .state import SimState

NAMESPACE_RE = re.compile(
    r"^(?P<prefix>[a-z0-9][a-z0-9.-]*)-(?P<account>\d{12})-(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)-an$"
)
_VHOST_RE = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?$")
# Owner ids moto hard-codes for every account (ListBuckets uses the short one).
_MOTO_OWNER_IDS = (b"bcaf1ffd86f41161ca5fb16fd081034f",)
_LOCATION_RE = re.compile(rb"<LocationConstraint>\s*([^<\s]+)\s*</LocationConstraint>")

# Operation -> IAM action checked against the bucket policy (default: "s3:" + operation).
ACTIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObjects": "s3:DeleteObject",
    "GetBucketTagging": "s3:GetBucketTagging",
    "PutBucketTagging": "s3:PutBucketTagging",
    "GetBucketPolicy": "s3:GetBucketPolicy",
    "PutBucketPolicy": "s3:PutBucketPolicy",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketAcl": "s3:GetBucketAcl",
    "GetObjectAcl": "s3:GetObjectAcl",
    "GetBucketVersioning": "s3:GetBucketVersioning",
}

_BUCKET_SUBRESOURCES = {
    "policy": "BucketPolicy",
    "acl": "BucketAcl",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "location": "BucketLocation",
    "cors": "BucketCors",
    "lifecycle": "BucketLifecycleConfiguration",
    "encryption": "BucketEncryption",
    "logging": "BucketLogging",
    "notification": "BucketNotificationConfiguration",
    "website": "BucketWebsite",
    "ownershipControls": "BucketOwnershipControls",
    "publicAccessBlock": "PublicAccessBlock",
    "policyStatus": "BucketPolicyStatus",
    "replication": "BucketReplication",
    "object-lock": "ObjectLockConfiguration",
    "accelerate": "BucketAccelerateConfiguration",
    "requestPayment": "BucketRequestPayment",
}
_OBJECT_SUBRESOURCES = {
    "acl": "ObjectAcl",
    "tagging": "ObjectTagging",
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
    "attributes": "ObjectAttributes",
}

# Method-level operations, first match wins: (method, condition, operation). A condition is
# None (always), a query key that must be present, "key=value" (the query key equals value)
# or "header:name" (the request carries that header). Unmatched: f"{method}Bucket|Object".
_BUCKET_OPERATIONS: tuple[tuple[str, str | None, str], ...] = (
    ("HEAD", None, "HeadBucket"),
    ("PUT", None, "CreateBucket"),
    ("DELETE", None, "DeleteBucket"),
    ("POST", "delete", "DeleteObjects"),
    ("GET", "versions", "ListObjectVersions"),
    ("GET", "uploads", "ListMultipartUploads"),
    ("GET", "list-type=2", "ListObjectsV2"),
    ("GET", None, "ListObjects"),
)
_OBJECT_OPERATIONS: tuple[tuple[str, str | None, str], ...] = (
    ("HEAD", None, "HeadObject"),
    ("GET", "uploadId", "ListParts"),
    ("GET", None, "GetObject"),
    ("PUT", "partNumber", "UploadPart"),
    ("PUT", "header:x-amz-copy-source", "CopyObject"),
    ("PUT", None, "PutObject"),
    ("DELETE", "uploadId", "AbortMultipartUpload"),
    ("DELETE", None, "DeleteObject"),
    ("POST", "uploads", "CreateMultipartUpload"),
    ("POST", "uploadId", "CompleteMultipartUpload"),
)
_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}


def bucket_and_key(req: SimRequest) -> tuple[str | None, str | None]:
    """Bucket and key of a virtual-hosted or path-style S3 URL."""
    parts = urlsplit(req.url)
    host = parts.netloc.split(":")[0]
    match = _VHOST_RE.match(host)
    path = parts.path
    if match and not host.startswith(("s3.", "s3-")):
        bucket = match.group("bucket")
        key = unquote(path[1:]) if len(path) > 1 else None
        return bucket, key
    segments = path.lstrip("/").split("/", 1)
    if not segments[0]:
        return None, None
    key = unquote(segments[1]) if len(segments) > 1 and segments[1] else None
    return unquote(segments[0]), key


def classify(req: SimRequest) -> str:
    """The S3 operation name of a REST request (for call records and policy actions)."""
    bucket, key = bucket_and_key(req)
    query = dict(parse_qsl(urlsplit(req.url).query, keep_blank_values=True))
    method = req.method
    if bucket is None:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if key is None:
        subresources, operations, fallback = _BUCKET_SUBRESOURCES, _BUCKET_OPERATIONS, "Bucket"
    else:
        subresources, operations, fallback = _OBJECT_SUBRESOURCES, _OBJECT_OPERATIONS, "Object"
    # A subresource in the query (?acl, ?tagging, ...) names the operation whatever the rest.
    for sub, name in subresources.items():
        if sub in query:
            if sub == "location":
                return "GetBucketLocation"
            return _VERBS.get(method, method.title()) + name
    for rule_method, condition, operation in operations:
        if method == rule_method and _holds(condition, query, req.headers):
            return operation
    return f"{method}{fallback}"


def _holds(condition: str | None, query: dict[str, str], headers: dict[str, str]) -> bool:
    """Whether a request meets one condition of the operation tables above."""
    if condition is None:
        return True
    if condition.startswith("header:"):
        return condition.removeprefix("header:") in headers
    name, sep, value = condition.partition("=")
    return query.get(name) == value if sep else name in query


def bucket_owner(bucket: str) -> str | None:
    """The account that owns ``bucket`` in moto, or None when it does not exist."""
    from moto.s3.models import s3_backends

    entry = s3_backends.bucket_accounts.get(bucket)
    if entry is None:
        return None
    return entry[1] if isinstance(entry, tuple) else str(entry)


def _bucket_policy(bucket: str) -> dict[str, Any] | None:
    from moto.s3.models import s3_backends

    partition, account = s3_backends.bucket_accounts[bucket]
    fake = s3_backends[account][partition].buckets.get(bucket)
    return load_policy(getattr(fake, "policy", None)) if fake is not None else None


def _denied(req: SimRequest) -> Response:
    return exceptions.error_response("s3", "AccessDenied", "Access Denied", 403, req.method)


def _create_bucket(req: SimRequest, bucket: str) -> Response | None:
    namespace = req.headers.get("x-amz-bucket-namespace")
    match = NAMESPACE_RE.match(bucket)
    location_match = _LOCATION_RE.search(req.body or b"")
    location = location_match.group(1).decode() if location_match else "us-east-1"
    if namespace is not None and namespace != "account-regional" and namespace != "global":
        return exceptions.error_response(
            "s3", "InvalidArgument", f"Invalid x-amz-bucket-namespace: {namespace}", 400
        )
    if match is None:
        if namespace == "account-regional":
            return exceptions.error_response(
                "s3",
                "InvalidBucketName",
                "The specified bucket is not valid: a bucket in an account regional namespace "
                "must be named bucket-name-prefix-accountId-region-an.",
                400,
            )
        return None
    if match.group("account") != req.account_id:
        return _denied(req)
    if namespace != "account-regional":
        return exceptions.error_response(
            "s3",
            "InvalidBucketName",
            "The specified bucket is not valid: names ending in -accountId-region-an are "
            "reserved for account regional namespaces (x-amz-bucket-namespace: "
            "account-regional).",
            400,
        )
    if match.group("region") != location:
        return exceptions.error_response(
            "s3",
            "InvalidBucketName",
            f"The specified bucket is not valid: the Region in the name "
            f"({match.group('region')}) must match the bucket's Region ({location}).",
            400,
        )
    return None


def list_buckets(req: SimRequest) -> Response:
    """ListBuckets with MaxBuckets/ContinuationToken/Prefix/BucketRegion (moto truncates at
    MaxBuckets without a token). Buckets come sorted by name, as AWS lists them."""
    from moto.s3.models import s3_backends

    query = req.query
    buckets = sorted(s3_backends[req.account_id]["aws"].buckets.values(), key=lambda b: b.name)
    if query.get("prefix"):
        buckets = [b for b in buckets if b.name.startswith(query["prefix"])]
    if query.get("bucket-region"):
        buckets = [b for b in buckets if b.region_name == query["bucket-region"]]
    token = query.get("continuation-token")
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return exceptions.error_response(
                "s3", "InvalidArgument", "Invalid continuation token", 400
            )
        buckets = [b for b in buckets if b.name > after]
    limit = int(query.get("max-buckets") or 10000)
    page, more = buckets[:limit], len(buckets) > limit
    owner = canonical_user_id(req.account_id)
    items = "".join(
        f"<Bucket><Name>{escape(b.name)}</Name><CreationDate>{b.creation_date_ISO8601}"
        f"</CreationDate><BucketRegion>{escape(b.region_name)}</BucketRegion></Bucket>"
        for b in page
    )
    extra = ""
    if more:
        next_token = base64.urlsafe_b64encode(page[-1].name.encode()).decode()
        extra += f"<ContinuationToken>{next_token}</ContinuationToken>"
    if query.get("prefix"):
        extra += f"<Prefix>{escape(query['prefix'])}</Prefix>"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Owner><ID>{owner}</ID><DisplayName>account-{req.account_id}</DisplayName></Owner>"
        f"<Buckets>{items}</Buckets>{extra}</ListAllMyBucketsResult>"
    ).encode()
    return 200, {"Content-Type": "application/xml"}, body


def pre(state: SimState, req: SimRequest) -> Response | None:
    """Refuse what AWS would refuse before moto sees the request."""
    bucket, key = bucket_and_key(req)
    if bucket is None:
        return list_buckets(req) if req.operation == "ListBuckets" else None
    if req.operation == "CreateBucket":
        return _create_bucket(req, bucket)
    owner = bucket_owner(bucket)
    if owner is None:
        return None  # moto answers 404 / NoSuchBucket, as AWS does
    expected = req.headers.get("x-amz-expected-bucket-owner")
    if expected is not None and expected != owner:
        return _denied(req)
    action = ACTIONS.get(req.operation, f"s3:{req.operation}")
    resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")
    verdict = evaluate(_bucket_policy(bucket), principal_for_key(req.access_key), action, resource)
    if verdict == "deny" or (owner != req.account_id and verdict != "allow"):
        return _denied(req)
    return None


def post(state: SimState, req: SimRequest, resp: Response) -> Response:
    """Give each account its own canonical user id (moto uses one constant for all)."""
    from moto.s3.models import OWNER

    status, headers, body = resp
    if not body or req.operation in ("GetObject", "GetObjectAttributes"):
        return resp
    raw = body.encode("utf-8") if isinstance(body, str) else body
    constants = (*_MOTO_OWNER_IDS, OWNER.encode())
    if not isinstance(raw, bytes) or not any(c in raw for c in constants):
        return resp
    bucket, _ = bucket_and_key(req)
    account = (bucket_owner(bucket) if bucket else None) or req.account_id
    canonical = canonical_user_id(account).encode()
    for constant in constants:
        raw = raw.replace(constant, canonical)
    raw = raw.replace(
        b"<DisplayName>webfile</DisplayName>",
        f"<DisplayName>account-{account}</DisplayName>".encode(),
    )
    return status, headers, raw
