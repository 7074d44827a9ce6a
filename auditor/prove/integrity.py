"""Read an artifact bucket's access configuration with its owner account's credentials.

One call per setting, each answer kept as evidence. A call that is denied or fails
leaves its setting unknown (``None``) with the reason; the documented "not configured"
answers are definite:

- ``NoSuchBucketPolicy`` (GetBucketPolicy): no bucket policy, so it grants nothing and
  cannot make the bucket public (GetBucketPolicyStatus is then not called: it answers
  the same error).
- ``NoSuchPublicAccessBlockConfiguration`` (bucket or account): no Block Public Access
  setting is on at that level.
- ``OwnershipControlsNotFoundError``: no Object Ownership rule, i.e. ``ObjectWriter``
  (ACLs enabled, objects owned by whoever wrote them).
- ``ObjectLockConfigurationNotFoundError``: object lock is off.
- GetBucketVersioning without ``Status``: versioning was never enabled.

https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicyStatus.html
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetPublicAccessBlock.html
https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_GetPublicAccessBlock.html
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketOwnershipControls.html
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html
https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from auditor.aws.errors import error_code
from auditor.core.access import PAB_FLAGS, AccountBlockPublicAccess, BucketIntegrity
from auditor.core.model import Evidence

_NOT_CONFIGURED = frozenset(
    {
        "NoSuchBucketPolicy",
        "NoSuchPublicAccessBlockConfiguration",
        "OwnershipControlsNotFoundError",
        "ObjectLockConfigurationNotFoundError",
    }
)


def _call(
    fn: Callable[..., dict[str, Any]], **params: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """(response, None) or (None, error code)."""
    try:
        return fn(**params), None
    except ClientError as exc:
        return None, error_code(exc)
    except Exception as exc:  # BotoCoreError, parser errors: no usable answer
        return None, type(exc).__name__


def _failure(call: str, who: str, code: str) -> str:
    if code in ("AccessDenied", "403", "Forbidden"):
        return f"{call} from {who} was denied (AccessDenied)"
    if code in ("NoSuchBucket", "404"):
        return f"{call} from {who} answered NoSuchBucket: the bucket is gone"
    return f"{call} from {who} failed with {code}"


def _flags(config: dict[str, Any] | None) -> dict[str, bool]:
    config = config or {}
    return {f: bool(config.get(f, False)) for f in PAB_FLAGS}


def _flags_text(flags: dict[str, bool]) -> str:
    return ", ".join(f"{f}={'true' if flags[f] else 'false'}" for f in PAB_FLAGS)


def gather_account_public_access_block(
    account_id: str, s3control: Any | None
) -> AccountBlockPublicAccess:
    """The account-level Block Public Access of ``account_id`` (its own credentials)."""
    result = AccountBlockPublicAccess(account_id)
    call = "s3control:GetPublicAccessBlock"
    if s3control is None:
        result.unknown_reason = f"no S3 Control client for {account_id}"
        return result
    resp, code = _call(s3control.get_public_access_block, AccountId=account_id)
    params = {"AccountId": account_id}
    if code == "NoSuchPublicAccessBlockConfiguration":
        result.flags = _flags(None)
        answer, conclusion = code, "no account-level Block Public Access setting is on"
    elif code is not None:
        result.unknown_reason = _failure(call, account_id, code)
        answer, conclusion = code, "account-level Block Public Access unknown"
    else:
        assert resp is not None
        result.flags = _flags(resp.get("PublicAccessBlockConfiguration"))
        answer = _flags_text(result.flags)
        conclusion = (
            "all four account-level settings are on"
            if all(result.flags.values())
            else "some account-level settings are off"
        )
    result.evidence.append(Evidence(call, account_id, answer, params, conclusion))
    return result


def _record(out: BucketIntegrity, call: str, answer: str, conclusion: str) -> None:
    out.evidence.append(
        Evidence(call, out.owner_account_id, answer, {"Bucket": out.bucket}, conclusion)
    )


def _keep_policy(out: BucketIntegrity, call: str, text: str) -> None:
    """The bucket policy document, when GetBucketPolicy's answer parses as a JSON object."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        out.unknown["policy"] = f"{call} returned a policy that is not JSON ({exc})"
        _record(out, call, "unparsable policy", "the bucket policy could not be read")
        return
    out.policy_present = True
    out.policy = doc
    n = len(doc.get("Statement") or []) if isinstance(doc.get("Statement"), list) else 1
    _record(out, call, f"policy with {n} statement(s)", "the bucket has a policy")


def _read_policy_status(out: BucketIntegrity, s3: Any) -> None:
    call = "s3:GetBucketPolicyStatus"
    resp, code = _call(s3.get_bucket_policy_status, Bucket=out.bucket)
    if code is not None:
        out.unknown["policy_is_public"] = _failure(call, out.owner_account_id, code)
        _record(out, call, code, "whether S3 deems the policy public is unknown")
        return
    assert resp is not None
    out.policy_is_public = bool(resp.get("PolicyStatus", {}).get("IsPublic"))
    _record(
        out,
        call,
        f"IsPublic={'true' if out.policy_is_public else 'false'}",
        "S3 deems the bucket policy public"
        if out.policy_is_public
        else "S3 deems the bucket policy not public",
    )


def _read_policy(out: BucketIntegrity, s3: Any) -> None:
    """The bucket policy, then its status; without a policy, its status needs no call."""
    call = "s3:GetBucketPolicy"
    resp, code = _call(s3.get_bucket_policy, Bucket=out.bucket)
    if code == "NoSuchBucketPolicy":
        out.policy_present = False
        out.policy_is_public = False
        _record(out, call, code, "the bucket has no policy: it grants nobody access")
    elif code is not None:
        reason = _failure(call, out.owner_account_id, code)
        out.unknown["policy"] = out.unknown["policy_is_public"] = reason
        _record(out, call, code, "the bucket policy is unknown")
    else:
        assert resp is not None
        _keep_policy(out, call, resp.get("Policy") or "")
        _read_policy_status(out, s3)


def _read_bucket_pab(out: BucketIntegrity, s3: Any) -> None:
    call = "s3:GetPublicAccessBlock"
    resp, code = _call(s3.get_public_access_block, Bucket=out.bucket)
    if code == "NoSuchPublicAccessBlockConfiguration":
        out.bucket_pab = _flags(None)
        _record(out, call, code, "no bucket-level Block Public Access setting is on")
    elif code is not None:
        out.unknown["bucket_pab"] = _failure(call, out.owner_account_id, code)
        _record(out, call, code, "bucket-level Block Public Access unknown")
    else:
        assert resp is not None
        out.bucket_pab = _flags(resp.get("PublicAccessBlockConfiguration"))
        _record(
            out,
            call,
            _flags_text(out.bucket_pab),
            "all four bucket-level settings are on"
            if all(out.bucket_pab.values())
            else "some bucket-level settings are off",
        )


def _take_account_pab(out: BucketIntegrity, account_pab: AccountBlockPublicAccess | None) -> None:
    """The owner account's setting, read once per account, with its evidence."""
    if account_pab is None:
        out.unknown["account_pab"] = "the account's Block Public Access was not read"
        return
    out.evidence.extend(account_pab.evidence)
    if account_pab.flags is None:
        out.unknown["account_pab"] = account_pab.unknown_reason or "not known"
    else:
        out.account_pab = dict(account_pab.flags)


def _read_ownership(out: BucketIntegrity, s3: Any) -> None:
    call = "s3:GetBucketOwnershipControls"
    resp, code = _call(s3.get_bucket_ownership_controls, Bucket=out.bucket)
    if code == "OwnershipControlsNotFoundError":
        out.object_ownership = "ObjectWriter"
        _record(out, call, code, "no Object Ownership rule: ObjectWriter, ACLs are enabled")
    elif code is not None:
        out.unknown["object_ownership"] = _failure(call, out.owner_account_id, code)
        _record(out, call, code, "Object Ownership unknown")
    else:
        assert resp is not None
        rules = resp.get("OwnershipControls", {}).get("Rules") or [{}]
        out.object_ownership = str(rules[0].get("ObjectOwnership") or "ObjectWriter")
        _record(
            out,
            call,
            f"ObjectOwnership={out.object_ownership}",
            "ACLs are disabled"
            if out.object_ownership == "BucketOwnerEnforced"
            else "ACLs are enabled",
        )


_VERSIONING_CONCLUSIONS = {"Enabled": "versioning is on", "Suspended": "versioning is suspended"}


def _read_versioning(out: BucketIntegrity, s3: Any) -> None:
    call = "s3:GetBucketVersioning"
    resp, code = _call(s3.get_bucket_versioning, Bucket=out.bucket)
    if code is not None:
        out.unknown["versioning"] = _failure(call, out.owner_account_id, code)
        _record(out, call, code, "versioning unknown")
        return
    assert resp is not None
    out.versioning = str(resp.get("Status") or "Disabled")
    out.mfa_delete = str(resp["MFADelete"]) if resp.get("MFADelete") else None
    answer = f"Status={resp.get('Status') or '(none)'}"
    if out.mfa_delete:
        answer += f", MFADelete={out.mfa_delete}"
    conclusion = _VERSIONING_CONCLUSIONS.get(out.versioning, "versioning was never enabled")
    _record(out, call, answer, conclusion)


def _retention_text(retention: dict[str, Any]) -> str:
    """A default retention rule as e.g. ``GOVERNANCE 30 days``."""
    period = retention.get("Days") or retention.get("Years")
    unit = "days" if retention.get("Days") else "years"
    return f"{retention.get('Mode')} {period} {unit}"


def _read_object_lock(out: BucketIntegrity, s3: Any) -> None:
    call = "s3:GetObjectLockConfiguration"
    resp, code = _call(s3.get_object_lock_configuration, Bucket=out.bucket)
    if code == "ObjectLockConfigurationNotFoundError":
        out.object_lock = "Disabled"
        _record(out, call, code, "object lock is off")
    elif code is not None:
        out.unknown["object_lock"] = _failure(call, out.owner_account_id, code)
        _record(out, call, code, "object lock unknown")
    else:
        assert resp is not None
        config = resp.get("ObjectLockConfiguration") or {}
        out.object_lock = str(config.get("ObjectLockEnabled") or "Disabled")
        retention = (config.get("Rule") or {}).get("DefaultRetention") or {}
        if retention:
            out.object_lock_rule = _retention_text(retention)
        _record(
            out,
            call,
            f"ObjectLockEnabled={out.object_lock}"
            + (f", DefaultRetention={out.object_lock_rule}" if out.object_lock_rule else ""),
            "object lock is on" if out.object_lock == "Enabled" else "object lock is off",
        )


def gather_bucket_integrity(
    bucket: str,
    owner_account_id: str,
    s3: Any,
    account_pab: AccountBlockPublicAccess | None = None,
) -> BucketIntegrity:
    """Read ``bucket``'s policy, policy status, Block Public Access, Object Ownership,
    versioning and object lock with ``s3``, a client bound to ``owner_account_id``'s
    credentials. ``account_pab`` is that account's setting, read once per account by
    :func:`gather_account_public_access_block` (None: not read, unknown).

    5 S3 calls for a bucket without a policy, 6 with one; never raises.
    """
    out = BucketIntegrity(bucket, owner_account_id)
    # One reader per setting; the evidence list keeps this order.
    _read_policy(out, s3)
    _read_bucket_pab(out, s3)
    _take_account_pab(out, account_pab)
    _read_ownership(out, s3)
    _read_versioning(out, s3)
    _read_object_lock(out, s3)
    return out
