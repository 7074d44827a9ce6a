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
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auditor.aws import classify
from auditor.core.access import PAB_FLAGS, AccountBlockPublicAccess, BucketIntegrity
from auditor.core.model import Evidence


@dataclass(frozen=True, slots=True)
class Reading:
    """One S3 read: its call, what its "not configured" answer means, and how its answer
    is parsed. ``absent`` and ``found`` set the record's fields and return (answer,
    conclusion) for the evidence; ``then`` is read next when the call answered."""

    call: str
    method: str
    unknown_fields: tuple[str, ...]  # the fields a failed call leaves unknown
    unknown_conclusion: str
    found: Callable[[Any, dict[str, Any]], tuple[str, str]]
    not_configured: str | None = None  # its code in classify.NOT_CONFIGURED
    absent: Callable[[Any], str] | None = None
    then: Reading | None = None


def _ask(client: Any, reading: Reading, params: dict[str, str]) -> tuple[Any, str | None]:
    """(response, None) or (None, error code)."""
    try:
        return getattr(client, reading.method)(**params), None
    except Exception as exc:  # ClientError, BotoCoreError, parser errors: the code says
        return None, classify.error_code(exc)


def _failure(call: str, who: str, code: str) -> str:
    if classify.is_denied(code):
        return f"{call} from {who} was denied (AccessDenied)"
    if code in ("NoSuchBucket", "404"):
        return f"{call} from {who} answered NoSuchBucket: the bucket is gone"
    return f"{call} from {who} failed with {code}"


def _flags(config: dict[str, Any] | None) -> dict[str, bool]:
    config = config or {}
    return {f: bool(config.get(f, False)) for f in PAB_FLAGS}


def _flags_text(flags: dict[str, bool]) -> str:
    return ", ".join(f"{f}={'true' if flags[f] else 'false'}" for f in PAB_FLAGS)


def _pab_found(level: str, set_flags: Callable[[Any, dict[str, bool]], None]) -> Any:
    def found(out: Any, resp: dict[str, Any]) -> tuple[str, str]:
        flags = _flags(resp.get("PublicAccessBlockConfiguration"))
        set_flags(out, flags)
        if all(flags.values()):
            return _flags_text(flags), f"all four {level}-level settings are on"
        return _flags_text(flags), f"some {level}-level settings are off"

    return found


def _pab_absent(level: str, set_flags: Callable[[Any, dict[str, bool]], None]) -> Any:
    def absent(out: Any) -> str:
        set_flags(out, _flags(None))
        return f"no {level}-level Block Public Access setting is on"

    return absent


def _set_account_flags(out: Any, flags: dict[str, bool]) -> None:
    out.flags = flags


def _set_bucket_flags(out: Any, flags: dict[str, bool]) -> None:
    out.bucket_pab = flags


ACCOUNT_PAB = Reading(
    call="s3control:GetPublicAccessBlock",
    method="get_public_access_block",
    unknown_fields=(),
    unknown_conclusion="account-level Block Public Access unknown",
    found=_pab_found("account", _set_account_flags),
    not_configured="NoSuchPublicAccessBlockConfiguration",
    absent=_pab_absent("account", _set_account_flags),
)


def gather_account_public_access_block(
    account_id: str, s3control: Any | None
) -> AccountBlockPublicAccess:
    """The account-level Block Public Access of ``account_id`` (its own credentials)."""
    result = AccountBlockPublicAccess(account_id)
    if s3control is None:
        result.unknown_reason = f"no S3 Control client for {account_id}"
        return result
    params = {"AccountId": account_id}
    resp, code = _ask(s3control, ACCOUNT_PAB, params)
    answer, conclusion = _outcome(ACCOUNT_PAB, result, resp, code)
    if answer is None:
        result.unknown_reason = _failure(ACCOUNT_PAB.call, account_id, str(code))
        answer, conclusion = str(code), ACCOUNT_PAB.unknown_conclusion
    result.evidence.append(Evidence(ACCOUNT_PAB.call, account_id, answer, params, conclusion))
    return result


def _outcome(reading: Reading, out: Any, resp: Any, code: str | None) -> tuple[str | None, str]:
    """(answer, conclusion) of a definite answer, set on ``out``; (None, "") for a failure."""
    if code is not None and code == reading.not_configured and reading.absent is not None:
        return code, reading.absent(out)
    if code is not None:
        return None, ""
    return reading.found(out, resp)


def _policy_status_found(out: BucketIntegrity, resp: dict[str, Any]) -> tuple[str, str]:
    out.policy_is_public = bool(resp.get("PolicyStatus", {}).get("IsPublic"))
    public = out.policy_is_public
    return (
        f"IsPublic={'true' if public else 'false'}",
        f"S3 deems the bucket policy {'public' if public else 'not public'}",
    )


def _policy_found(out: BucketIntegrity, resp: dict[str, Any]) -> tuple[str, str]:
    """The bucket policy document, when GetBucketPolicy's answer parses as a JSON object."""
    try:
        doc = json.loads(resp.get("Policy") or "")
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        out.unknown["policy"] = f"{POLICY.call} returned a policy that is not JSON ({exc})"
        return "unparsable policy", "the bucket policy could not be read"
    out.policy_present = True
    out.policy = doc
    n = len(doc.get("Statement") or []) if isinstance(doc.get("Statement"), list) else 1
    return f"policy with {n} statement(s)", "the bucket has a policy"


def _policy_absent(out: BucketIntegrity) -> str:
    out.policy_present = False
    out.policy_is_public = False
    return "the bucket has no policy: it grants nobody access"


def _ownership_found(out: BucketIntegrity, resp: dict[str, Any]) -> tuple[str, str]:
    rules = resp.get("OwnershipControls", {}).get("Rules") or [{}]
    out.object_ownership = str(rules[0].get("ObjectOwnership") or "ObjectWriter")
    enforced = out.object_ownership == "BucketOwnerEnforced"
    return (
        f"ObjectOwnership={out.object_ownership}",
        "ACLs are disabled" if enforced else "ACLs are enabled",
    )


def _ownership_absent(out: BucketIntegrity) -> str:
    out.object_ownership = "ObjectWriter"
    return "no Object Ownership rule: ObjectWriter, ACLs are enabled"


_VERSIONING_CONCLUSIONS = {"Enabled": "versioning is on", "Suspended": "versioning is suspended"}


def _versioning_found(out: BucketIntegrity, resp: dict[str, Any]) -> tuple[str, str]:
    out.versioning = str(resp.get("Status") or "Disabled")
    out.mfa_delete = str(resp["MFADelete"]) if resp.get("MFADelete") else None
    answer = f"Status={resp.get('Status') or '(none)'}"
    if out.mfa_delete:
        answer += f", MFADelete={out.mfa_delete}"
    return answer, _VERSIONING_CONCLUSIONS.get(out.versioning, "versioning was never enabled")


def _retention_text(retention: dict[str, Any]) -> str:
    """A default retention rule as e.g. ``GOVERNANCE 30 days``."""
    period = retention.get("Days") or retention.get("Years")
    unit = "days" if retention.get("Days") else "years"
    return f"{retention.get('Mode')} {period} {unit}"


def _object_lock_found(out: BucketIntegrity, resp: dict[str, Any]) -> tuple[str, str]:
    config = resp.get("ObjectLockConfiguration") or {}
    out.object_lock = str(config.get("ObjectLockEnabled") or "Disabled")
    retention = (config.get("Rule") or {}).get("DefaultRetention") or {}
    if retention:
        out.object_lock_rule = _retention_text(retention)
    rule = f", DefaultRetention={out.object_lock_rule}" if out.object_lock_rule else ""
    on = out.object_lock == "Enabled"
    return f"ObjectLockEnabled={out.object_lock}{rule}", f"object lock is {'on' if on else 'off'}"


def _object_lock_absent(out: BucketIntegrity) -> str:
    out.object_lock = "Disabled"
    return "object lock is off"


# Without a policy its status needs no call (GetBucketPolicyStatus answers the same error).
POLICY_STATUS = Reading(
    call="s3:GetBucketPolicyStatus",
    method="get_bucket_policy_status",
    unknown_fields=("policy_is_public",),
    unknown_conclusion="whether S3 deems the policy public is unknown",
    found=_policy_status_found,
)
POLICY = Reading(
    call="s3:GetBucketPolicy",
    method="get_bucket_policy",
    unknown_fields=("policy", "policy_is_public"),
    unknown_conclusion="the bucket policy is unknown",
    found=_policy_found,
    not_configured="NoSuchBucketPolicy",
    absent=_policy_absent,
    then=POLICY_STATUS,
)
BUCKET_PAB = Reading(
    call="s3:GetPublicAccessBlock",
    method="get_public_access_block",
    unknown_fields=("bucket_pab",),
    unknown_conclusion="bucket-level Block Public Access unknown",
    found=_pab_found("bucket", _set_bucket_flags),
    not_configured="NoSuchPublicAccessBlockConfiguration",
    absent=_pab_absent("bucket", _set_bucket_flags),
)
OWNERSHIP = Reading(
    call="s3:GetBucketOwnershipControls",
    method="get_bucket_ownership_controls",
    unknown_fields=("object_ownership",),
    unknown_conclusion="Object Ownership unknown",
    found=_ownership_found,
    not_configured="OwnershipControlsNotFoundError",
    absent=_ownership_absent,
)
VERSIONING = Reading(
    call="s3:GetBucketVersioning",
    method="get_bucket_versioning",
    unknown_fields=("versioning",),
    unknown_conclusion="versioning unknown",
    found=_versioning_found,
)
OBJECT_LOCK = Reading(
    call="s3:GetObjectLockConfiguration",
    method="get_object_lock_configuration",
    unknown_fields=("object_lock",),
    unknown_conclusion="object lock unknown",
    found=_object_lock_found,
    not_configured="ObjectLockConfigurationNotFoundError",
    absent=_object_lock_absent,
)
#: The reads of one bucket, in evidence order; None is the owner account's setting, read
#: once per account (gather_account_public_access_block) and taken at that point.
BUCKET_READINGS: tuple[Reading | None, ...] = (
    POLICY,
    BUCKET_PAB,
    None,
    OWNERSHIP,
    VERSIONING,
    OBJECT_LOCK,
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


@dataclass(slots=True)
class BucketReads:
    """One bucket's reads still to make, as independent tracks (one per entry of
    ``BUCKET_READINGS``; a track's later read needs its earlier answer: the policy's
    status, only when there is a policy). A track can stop at a throttled read and go on
    later on another thread while the other tracks go on: the prove stage queues it
    behind the read's pacing slot instead of holding a worker, and one throttled setting
    does not delay the bucket's others. The evidence is assembled in ``BUCKET_READINGS``
    order whatever order the tracks finished in."""

    out: BucketIntegrity
    account_pab: AccountBlockPublicAccess | None = None
    todo: list[list[Reading]] = field(
        default_factory=lambda: [[r] if r is not None else [] for r in BUCKET_READINGS]
    )
    evidence: list[list[Evidence]] = field(default_factory=lambda: [[] for _ in BUCKET_READINGS])
    running: int = len(BUCKET_READINGS)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tracks(self) -> range:
        return range(len(self.todo))

    def next_call(self, track: int) -> str | None:
        """The track's next read's call (``s3:GetBucketPolicy``), None when it is done."""
        todo = self.todo[track]
        return todo[0].call if todo else None

    def read_next(self, track: int, s3: Any, retry_throttled: bool = False) -> str | None:
        """Make the track's next read with ``s3``. Throttled with ``retry_throttled``:
        nothing is recorded, the read stays next, and its error code is returned."""
        reading = self.todo[track][0]
        out = self.out
        params = {"Bucket": out.bucket}
        resp, code = _ask(s3, reading, params)
        if code is not None and retry_throttled and classify.is_throttled(code):
            return code
        self.todo[track].pop(0)
        answer, conclusion = _outcome(reading, out, resp, code)
        if answer is None:
            reason = _failure(reading.call, out.owner_account_id, str(code))
            for name in reading.unknown_fields:
                out.unknown[name] = reason
            answer, conclusion = str(code), reading.unknown_conclusion
        ev = Evidence(reading.call, out.owner_account_id, answer, params, conclusion)
        self.evidence[track].append(ev)
        if code is None and reading.then is not None:
            self.todo[track].insert(0, reading.then)
        return None

    def track_done(self) -> bool:
        """Count a finished track; True for the bucket's last one."""
        with self.lock:
            self.running -= 1
            return self.running == 0

    def finish(self) -> BucketIntegrity:
        """The record, its evidence in reading order (the account's setting in its place)."""
        for reading, evidence in zip(BUCKET_READINGS, self.evidence, strict=True):
            if reading is None:
                _take_account_pab(self.out, self.account_pab)
            self.out.evidence.extend(evidence)
        return self.out


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
    reads = BucketReads(BucketIntegrity(bucket, owner_account_id), account_pab)
    for track in reads.tracks():
        while reads.next_call(track) is not None:
            reads.read_next(track, s3)
    return reads.finish()
