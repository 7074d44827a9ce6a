"""S3 bucket access configuration as AWS answers it, where moto differs.

- New general purpose buckets get all four bucket-level Block Public Access settings on
  and Object Ownership ``BucketOwnerEnforced`` (ACLs disabled) unless CreateBucket asks
  for another ``x-amz-object-ownership`` (AWS default since April 2023; "Heads-Up: Amazon
  S3 Security Changes Are Coming in April of 2023", AWS News Blog; moto creates buckets
  with neither, so it answers NoSuchPublicAccessBlockConfiguration /
  OwnershipControlsNotFoundError for a new bucket).
- GetBucketPolicyStatus: ``IsPublic`` as "The meaning of public" defines it (S3 User
  Guide, Blocking public access): a statement is not public when its principal is fixed
  or a condition fixes one of aws:SourceArn, aws:SourceVpc, aws:SourceVpce,
  aws:SourceOwner, aws:SourceAccount, aws:PrincipalOrgID, aws:PrincipalAccount,
  aws:PrincipalArn, aws:userid (outside ``AROLEID:*``), or limits aws:SourceIp to a
  CIDR. moto treats any Condition as not public and a wildcard-account ARN as fixed.
- PutBucketPolicy of a public policy while BlockPublicPolicy is on (bucket or account)
  -> 403 AccessDenied (PublicAccessBlockConfiguration, S3 API Reference).
- S3 Control's account-level PublicAccessBlock is signed as ``s3`` but is its own
  service: recorded as ``s3control`` Get/Put/DeletePublicAccessBlock (moto answers it,
  and refuses another account's id with AccessDenied as AWS does).
- The IAM actions of the configuration operations (``s3:GetBucketPublicAccessBlock``,
  ``s3:GetBucketObjectLockConfiguration``...), so cross-account requests are checked
  against the bucket policy with the names AWS uses (Actions defined by Amazon S3).
"""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import exceptions
from .exceptions import Response
from .s3 import ACTIONS, bucket_and_key, bucket_owner

if TYPE_CHECKING:
    from .request import SimRequest
    from .state import SimState

ACTIONS.update(
    {
        "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
        "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    }
)

_FIXED_KEYS = frozenset(
    {
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "aws:principalorgid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:userid",
        "s3:dataaccesspointarn",
        "s3:dataaccesspointaccount",
    }
)
_FIXING_OPS = frozenset(
    {"stringequals", "stringequalsignorecase", "arnequals", "stringlike", "arnlike"}
)
_WILDCARD_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::[^:]*[*?]")
_lock = threading.Lock()
# Buckets whose CreateBucket passed, and the Object Ownership they were created with;
# the defaults are applied on the next request for the bucket, once moto holds it.
_PENDING: dict[str, str] = {}


def _fake_bucket(bucket: str) -> Any:
    from moto.s3.models import s3_backends

    entry = s3_backends.bucket_accounts.get(bucket)
    if entry is None:
        return None
    partition, account = entry
    return s3_backends[account][partition].buckets.get(bucket)


def _apply_defaults(bucket: str) -> None:
    with _lock:
        ownership = _PENDING.get(bucket)
        fake = _fake_bucket(bucket) if ownership is not None else None
        if fake is None:
            return
        del _PENDING[bucket]
    from moto.s3.models import PublicAccessBlock

    if fake.public_access_block is None:
        fake.public_access_block = PublicAccessBlock(True, True, True, True)
    if fake.ownership_rule is None:
        fake.ownership_rule = ownership


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _fixed(values: list[Any]) -> bool:
    return bool(values) and all(
        isinstance(v, str) and "*" not in v and "?" not in v for v in values
    )


def _statement_public(stmt: dict[str, Any]) -> bool:
    if str(stmt.get("Effect")) != "Allow":
        return False
    if "NotPrincipal" in stmt:
        return True
    principal = stmt.get("Principal")
    if isinstance(principal, dict):
        aws = [str(p) for p in _as_list(principal.get("AWS", []))]
    else:
        aws = [str(p) for p in _as_list(principal)]
    if not any(p == "*" or _WILDCARD_ACCOUNT.match(p) for p in aws):
        return False  # a fixed AWS principal, user, role or service principal
    condition = stmt.get("Condition") or {}
    for operator, block in condition.items() if isinstance(condition, dict) else ():
        op = str(operator).lower()
        if not isinstance(block, dict):
            continue
        for key, values in block.items():
            key, vals = str(key).lower(), _as_list(values)
            if op in _FIXING_OPS and key in _FIXED_KEYS and _fixed(vals):
                if key == "aws:userid" and any(v.endswith(":*") for v in vals):
                    continue
                return False
            limited = all(isinstance(v, str) and not v.endswith("/0") for v in vals)
            if op == "ipaddress" and key == "aws:sourceip" and vals and limited:
                return False
    return True


def policy_is_public(policy: Any) -> bool:
    """Whether S3 deems a bucket policy document public (see the module docstring)."""
    if not isinstance(policy, dict):
        return False
    return any(
        _statement_public(s) for s in _as_list(policy.get("Statement") or []) if isinstance(s, dict)
    )


def _account_blocks_public_policy(account_id: str) -> bool:
    from moto.s3control.models import s3control_backends

    block = s3control_backends[account_id]["aws"].public_access_block
    return bool(block is not None and block.block_public_policy)


def _control(req: SimRequest) -> Response | None:
    req.service = "s3control"
    path = urlsplit(req.url).path
    if path.endswith("/configuration/publicAccessBlock"):
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(req.method, req.method)
        req.operation = f"{verb}PublicAccessBlock"
    return None


def pre_control(state: SimState, req: SimRequest) -> Response | None:
    """Runs before the ownership handler: S3 Control requests are not bucket requests."""
    parts = urlsplit(req.url)
    # by host (AWS's form), or by path when a client reaches the served simulation on
    # loopback without the account-id host prefix (see auditor.aws.clients.client_config)
    if ".s3-control." in parts.netloc or parts.path.startswith("/v20180820/"):
        return _control(req)
    return None


def pre(state: SimState, req: SimRequest) -> Response | None:
    """Runs after the ownership handler has refused what the caller may not do."""
    if req.service != "s3":
        return None
    bucket, key = bucket_and_key(req)
    if bucket is None or key is not None:
        return None
    if req.operation == "CreateBucket":
        if bucket_owner(bucket) is None:
            with _lock:
                _PENDING[bucket] = req.headers.get("x-amz-object-ownership") or (
                    "BucketOwnerEnforced"
                )
        return None
    _apply_defaults(bucket)
    fake = _fake_bucket(bucket)
    if fake is None:
        return None  # moto answers NoSuchBucket
    if req.operation == "GetBucketPolicyStatus" and fake.policy:
        try:
            public = policy_is_public(json.loads(fake.policy))
        except ValueError:
            public = False
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<PolicyStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<IsPublic>{'true' if public else 'false'}</IsPublic></PolicyStatus>"
        ).encode()
        return 200, {"Content-Type": "application/xml"}, body
    if req.operation == "PutBucketPolicy":
        try:
            document = json.loads(req.body or b"{}")
        except ValueError:
            return None  # moto answers MalformedPolicy
        block = fake.public_access_block
        blocked = bool(block is not None and block.block_public_policy)
        if policy_is_public(document) and (
            blocked or _account_blocks_public_policy(bucket_owner(bucket) or req.account_id)
        ):
            return exceptions.error_response("s3", "AccessDenied", "Access Denied", 403, req.method)
    return None
