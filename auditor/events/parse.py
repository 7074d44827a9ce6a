"""Turn CloudTrail events into what to re-check: plain targets, never exceptions.

Accepted input (already JSON-decoded, or text via ``parse_text``):

- an EventBridge event whose ``detail-type`` is "AWS API Call via CloudTrail" (what a rule
  on a bus delivers to its target; EventBridge User Guide, "AWS service events delivered
  via AWS CloudTrail" and "AWS service event metadata");
- a raw CloudTrail record (``eventSource``, ``eventName``, ... at top level);
- a CloudTrail log file, ``{"Records": [...]}`` (AWS CloudTrail User Guide, "CloudTrail
  log file examples");
- a list of any of these.

Each record becomes a ``ResourceTarget`` (a tracking server or an MLflow App was created,
updated, started or deleted), a ``BucketTarget`` (a bucket was deleted or its ownership
or access changed: every resource that uses it must be re-checked), a ``RoleTarget``
(an IAM role's policies or trust changed, or a new default version of a customer managed
policy: every resource whose execution role it may be must be re-checked), or a ``Skipped``
with the reason (failed call, an event we do not act on, a duplicate delivery). Input
that is not an event at all is an ``errors`` line. Records are deduplicated by their
CloudTrail ``eventID``: EventBridge and CloudTrail deliver at least once.

CloudTrail writes request parameters and response elements with the API's member names
in lower camel case (``trackingServerName``, ``trackingServerArn``; see "Understand
SageMaker AI log file entries", whose CreateEndpoint example has ``endpointName`` and
``endpointArn``); keys are matched case-insensitively so that either spelling works.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from auditor.core.model import ACCOUNT_ID_RE, MLFLOW_APP, TRACKING_SERVER
from auditor.events.roles import IAM_SOURCE, POLICY_EVENTS, ROLE_EVENTS, RoleTarget, role_target

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
SAGEMAKER_SOURCE = "sagemaker.amazonaws.com"
S3_SOURCE = "s3.amazonaws.com"

# SageMaker MLflow operations (botocore's sagemaker model) -> (resource kind, effect).
# Stop* is absent on purpose: stopping changes no setting that a check reads.
MLFLOW_EVENTS: dict[str, tuple[str, str]] = {
    "CreateMlflowTrackingServer": (TRACKING_SERVER, "configured"),
    "UpdateMlflowTrackingServer": (TRACKING_SERVER, "configured"),
    "StartMlflowTrackingServer": (TRACKING_SERVER, "started"),
    "DeleteMlflowTrackingServer": (TRACKING_SERVER, "deleted"),
    "CreateMlflowApp": (MLFLOW_APP, "configured"),
    "UpdateMlflowApp": (MLFLOW_APP, "configured"),
    "DeleteMlflowApp": (MLFLOW_APP, "deleted"),
}

# S3 bucket-level management events that can change who owns, or may write to, a bucket.
# CloudTrail names the bucket public-access-block calls PutBucketPublicAccessBlock /
# DeleteBucketPublicAccessBlock (the API operations are PutPublicAccessBlock /
# DeletePublicAccessBlock); both spellings are accepted.
BUCKET_EVENTS: frozenset[str] = frozenset(
    {
        "CreateBucket",
        "DeleteBucket",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "PutBucketAcl",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
        "PutBucketPublicAccessBlock",
        "DeleteBucketPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
        "PutBucketVersioning",
    }
)

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_MLFLOW_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>mlflow-tracking-server|mlflow-app)/(?P<id>[^/\s]+)$"
)
_MAX_ERROR_TEXT = 80


@dataclass(frozen=True, slots=True)
class ResourceTarget:
    """One MLflow resource an event touched: re-describe it and evaluate it alone."""

    kind: str  # TRACKING_SERVER or MLFLOW_APP
    account_id: str
    region: str
    name: str | None  # tracking servers: TrackingServerName; apps: Name when given
    arn: str | None
    effect: str  # "configured", "started" or "deleted"
    event_name: str
    event_id: str


@dataclass(frozen=True, slots=True)
class BucketTarget:
    """A bucket an event touched: re-check every resource known to use it."""

    # recipientAccountId: the bucket owner for the owner's copy of the record, the caller
    # for a cross-account caller's copy (CloudTrail delivers to both).
    account_id: str
    region: str
    bucket: str
    event_name: str
    event_id: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A well-formed record that asks for nothing (one reason a person can read)."""

    event_id: str | None
    event_name: str | None
    reason: str


@dataclass
class ParseResult:
    resources: list[ResourceTarget] = field(default_factory=list)
    buckets: list[BucketTarget] = field(default_factory=list)
    roles: list[RoleTarget] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def nothing_to_do(self) -> bool:
        return not self.resources and not self.buckets and not self.roles

    def summary(self) -> str:
        """One line for the terminal or the Lambda log."""
        if self.nothing_to_do:
            why = [s.reason for s in self.skipped] + self.errors
            if self.duplicates:
                why.append(f"{self.duplicates} duplicate deliveries")
            return "nothing to do: " + ("; ".join(why) if why else "no events in the input")
        parts = []
        if self.resources:
            parts.append(f"{len(self.resources)} resource(s)")
        if self.buckets:
            parts.append(f"{len(self.buckets)} bucket(s)")
        if self.roles:
            parts.append(f"{len(self.roles)} role(s)")
        extra = len(self.skipped) + len(self.errors) + self.duplicates
        tail = f" ({extra} record(s) ignored)" if extra else ""
        return "re-check " + " and ".join(parts) + tail


def parse_text(text: str | bytes) -> ParseResult:
    """Parse JSON text (a file's or stdin's content); bad JSON is one error line."""
    try:
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        result = ParseResult()
        result.errors.append(f"input is not JSON ({_short(exc)})")
        return result
    return parse_events(payload)


def parse_events(payload: Any, seen: set[str] | None = None) -> ParseResult:
    """Parse one event, record, log file or a list of them (see the module docstring).

    ``seen`` holds eventIDs already handled (updated in place), so that a caller can
    deduplicate across several inputs; by default deduplication is within this input.
    """
    result = ParseResult()
    seen = set() if seen is None else seen
    items: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    try:
        _collect(payload, items, result, depth=0)
    except RecursionError:  # pragma: no cover - json.loads nests deeper than we look
        result.errors.append("input is nested too deeply")
    for record, envelope in items:
        _parse_record(record, envelope, result, seen)
    return result


def _collect(
    payload: Any,
    out: list[tuple[dict[str, Any], dict[str, Any] | None]],
    result: ParseResult,
    depth: int,
) -> None:
    """Flatten the accepted shapes into (CloudTrail record, EventBridge envelope) pairs."""
    if isinstance(payload, list):
        if depth > 0:
            result.errors.append("a list inside a list is not an event")
            return
        if not payload:
            return
        for item in payload:
            _collect(item, out, result, depth + 1)
        return
    if not isinstance(payload, dict):
        result.errors.append(f"expected a JSON object, got {type(payload).__name__}")
        return
    if "Records" in payload:
        records = payload["Records"]
        if not isinstance(records, list):
            result.errors.append("'Records' is not a list")
            return
        for record in records:
            if isinstance(record, dict):
                out.append((record, None))
            else:
                result.errors.append("a CloudTrail record is not a JSON object")
        return
    if "detail-type" in payload or "detail" in payload:
        detail_type = payload.get("detail-type")
        detail = payload.get("detail")
        if detail_type != CLOUDTRAIL_DETAIL_TYPE:
            result.skipped.append(
                Skipped(
                    _text(payload.get("id")),
                    None,
                    f"EventBridge event of type {_quote(detail_type)}, "
                    f"not {CLOUDTRAIL_DETAIL_TYPE!r}",
                )
            )
            return
        if not isinstance(detail, dict):
            result.errors.append("EventBridge event has no 'detail' object")
            return
        out.append((detail, payload))
        return
    if "eventName" in payload or "eventSource" in payload:
        out.append((payload, None))
        return
    result.errors.append("JSON object is neither an EventBridge event nor a CloudTrail record")


def _parse_record(
    record: dict[str, Any],
    envelope: dict[str, Any] | None,
    result: ParseResult,
    seen: set[str],
) -> None:
    name = _text(record.get("eventName"))
    source = _text(record.get("eventSource"))
    event_id = _text(record.get("eventID")) or (envelope and _text(envelope.get("id"))) or None
    if not name or not source:
        result.errors.append("CloudTrail record without eventName/eventSource")
        return
    if event_id is None:
        result.errors.append(f"{name} record without eventID")
        return
    if event_id in seen:
        result.duplicates += 1
        return
    seen.add(event_id)
    error = record.get("errorCode")
    if error not in (None, ""):
        reason = f"{name} failed ({_quote(error)}): nothing changed"
        result.skipped.append(Skipped(event_id, name, reason))
        return
    if source == SAGEMAKER_SOURCE and name in MLFLOW_EVENTS:
        _mlflow_target(record, envelope, name, event_id, result)
    elif source == S3_SOURCE and name in BUCKET_EVENTS:
        _bucket_target(record, envelope, name, event_id, result)
    elif source == IAM_SOURCE and name in ROLE_EVENTS | POLICY_EVENTS:
        _role_target(record, envelope, name, event_id, result)
    else:
        reason = f"{_quote(name)} from {_quote(source)} is not an event mlflow-audit acts on"
        result.skipped.append(Skipped(event_id, name, reason))


def _where(
    record: dict[str, Any], envelope: dict[str, Any] | None
) -> tuple[str | None, str | None]:
    """(account, region) of the call: the recipient account, else the envelope's/caller's."""
    identity = record.get("userIdentity")
    candidates = [
        record.get("recipientAccountId"),
        envelope.get("account") if envelope else None,
        identity.get("accountId") if isinstance(identity, dict) else None,
    ]
    account = next((a for a in map(_text, candidates) if a), None)
    region = _text(record.get("awsRegion")) or (envelope and _text(envelope.get("region")))
    return account, region or None


def _mlflow_target(
    record: dict[str, Any],
    envelope: dict[str, Any] | None,
    name: str,
    event_id: str,
    result: ParseResult,
) -> None:
    kind, effect = MLFLOW_EVENTS[name]
    request = _lower_keys(record.get("requestParameters"))
    response = _lower_keys(record.get("responseElements"))
    if kind == TRACKING_SERVER:
        res_name = _text(request.get("trackingservername"))
        arn = _text(response.get("trackingserverarn")) or None
    else:
        res_name = _text(request.get("name")) or None
        arn = _text(request.get("arn")) or _text(response.get("arn")) or None
    account, region = _where(record, envelope)
    if arn is not None:
        match = _MLFLOW_ARN_RE.match(arn)
        expected = "mlflow-tracking-server" if kind == TRACKING_SERVER else "mlflow-app"
        if match is None or match["kind"] != expected:
            result.errors.append(f"{name} {event_id}: {_quote(arn)} is not an {expected} ARN")
            return
        account, region = match["account"], match["region"]  # the ARN is authoritative
    if not res_name and arn is None:
        result.errors.append(f"{name} {event_id}: no resource name or ARN in the record")
        return
    where = _valid_where(account, region, name, event_id, result)
    if where is None:
        return
    result.resources.append(
        ResourceTarget(kind, *where, res_name or None, arn, effect, name, event_id)
    )


def _bucket_target(
    record: dict[str, Any],
    envelope: dict[str, Any] | None,
    name: str,
    event_id: str,
    result: ParseResult,
) -> None:
    bucket = _text(_lower_keys(record.get("requestParameters")).get("bucketname"))
    if not bucket:
        result.errors.append(f"{name} {event_id}: no bucketName in requestParameters")
        return
    account, region = _where(record, envelope)
    where = _valid_where(account, region, name, event_id, result)
    if where is None:
        return
    result.buckets.append(BucketTarget(*where, bucket, name, event_id))


def _role_target(
    record: dict[str, Any],
    envelope: dict[str, Any] | None,
    name: str,
    event_id: str,
    result: ParseResult,
) -> None:
    account, _ = _where(record, envelope)
    target = role_target(_lower_keys(record.get("requestParameters")), account, name, event_id)
    if isinstance(target, str):
        result.errors.append(f"{name} {event_id}: {target}")
    else:
        result.roles.append(target)


def _valid_where(
    account: str | None, region: str | None, name: str, event_id: str, result: ParseResult
) -> tuple[str, str] | None:
    if not account or not ACCOUNT_ID_RE.match(account):
        result.errors.append(f"{name} {event_id}: no valid account id ({_quote(account)})")
        return None
    if not region or not _REGION_RE.match(region):
        result.errors.append(f"{name} {event_id}: no valid region ({_quote(region)})")
        return None
    return account, region


def _lower_keys(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): v for k, v in value.items()}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _quote(value: Any) -> str:
    """A value from the event, shortened and made printable for a one-line message."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = "".join(c if c.isprintable() else "?" for c in text)
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 1] + "~"
    return repr(text)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:_MAX_ERROR_TEXT] if str(exc) else type(exc).__name__


def targets_of(results: Iterable[ParseResult]) -> ParseResult:
    """Merge several results (e.g. a Lambda batch) into one."""
    merged = ParseResult()
    for r in results:
        merged.resources += r.resources
        merged.buckets += r.buckets
        merged.roles += r.roles
        merged.skipped += r.skipped
        merged.errors += r.errors
        merged.duplicates += r.duplicates
    return merged
