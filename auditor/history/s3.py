"""``--history s3://bucket/key``: the SQLite run history kept in S3, safe for concurrent runs.

auditor.history.database works on a local file. A Lambda (or any fleet of runners) has no shared
disk, so the database lives in S3 and each run does read-modify-write:

1. GetObject, remembering the ETag (NoSuchKey: there is no history yet);
2. let the caller's callback update a temporary copy (e.g. ``history.record_run``);
3. PutObject with a conditional write: ``If-Match: <ETag read>`` when the object
   existed, ``If-None-Match: *`` when it did not. S3 then refuses to overwrite an object
   that another run replaced meanwhile, so no run ever loses another's update.

S3 answers a failed condition with 412 PreconditionFailed, and a conditional write that
races another one with 409 ConditionalRequestConflict ("On a 409 failure you should fetch
the object's ETag and retry the upload"; PutObject API reference, If-Match/If-None-Match;
Amazon S3 User Guide, "How to prevent object overwrites with conditional writes"). Both
start the cycle again from a fresh download, after the pacing engine's backoff, a bounded
number of times. Lost conditional writes are not throttling: throttling and transient
errors of each request are retried inside the client by the engine and botocore.
A 404 NoSuchKey to an ``If-Match`` write (the object was deleted meanwhile) is treated
the same way.

The callback therefore runs once per attempt, each time on a fresh copy: it must derive
everything it writes from the file it is given (``record_run`` does).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from auditor.aws import classify
from auditor.aws.pacing import backoff
from auditor.history.database import DEFAULT_KEEP, HISTORY_FILENAME, HistoryError, record_run

T = TypeVar("T")

S3_SCHEME = "s3://"
DEFAULT_ATTEMPTS = 6
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0
CONTENT_TYPE = "application/vnd.sqlite3"


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


def parse_location(value: str) -> S3Location | None:
    """``s3://bucket/key`` -> S3Location; anything else is a local path (None).

    ``s3://bucket`` or ``s3://bucket/`` names no object: the history file name is
    appended (``s3://bucket/history.sqlite``). An empty bucket is a HistoryError.
    """
    if not value.startswith(S3_SCHEME):
        return None
    bucket, _, key = value[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise HistoryError(f"--history {value!r} names no bucket (expected s3://BUCKET/KEY)")
    if not key or key.endswith("/"):
        key += HISTORY_FILENAME
    return S3Location(bucket, key)


def update_history(
    location: str | Path,
    update: Callable[[Path], T],
    *,
    s3_client: Any = None,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``update(path)`` on the history at ``location`` (local path or s3:// URL).

    A local path is passed through unchanged. For S3, ``s3_client`` (a botocore S3
    client acting as the account that may read and write the object) is required.
    Raises HistoryError with one line: missing bucket, access denied, conflicts that
    did not settle within ``attempts``.
    """
    s3 = parse_location(str(location))
    if s3 is None:
        return update(Path(location))
    if s3_client is None:
        raise HistoryError(f"history {s3}: no S3 client given")
    return update_s3_history(s3_client, s3, update, attempts=attempts, sleep=sleep)


def record_run_at(
    location: str | Path,
    doc: dict[str, Any],
    key: str,
    *,
    s3_client: Any = None,
    keep: int = DEFAULT_KEEP,
    attempts: int = DEFAULT_ATTEMPTS,
) -> None:
    """``history.record_run`` on a local or ``s3://`` history; ``doc['history']['database']``
    names ``location`` (not the temporary copy the run was recorded in)."""

    def update(path: Path) -> None:
        record_run(path, doc, key, keep=keep)

    update_history(location, update, s3_client=s3_client, attempts=attempts)
    s3 = parse_location(str(location))
    if s3 is not None and isinstance(doc.get("history"), dict):
        doc["history"]["database"] = str(s3)


def update_s3_history(
    client: Any,
    location: S3Location,
    update: Callable[[Path], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Download, ``update``, conditionally upload; retry from the download on conflict."""
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        with tempfile.TemporaryDirectory(prefix="mlflow-audit-history-") as tmp:
            path = Path(tmp) / HISTORY_FILENAME
            etag, before = _download(client, location, path)
            result = update(path)
            after = path.read_bytes() if path.is_file() else None
            if after is None or after == before:
                return result  # nothing to store (a read, or an update that changed nothing)
            if _upload(client, location, after, etag):
                return result
        if attempt < attempts:
            sleep(backoff(attempt, BACKOFF_BASE_S, BACKOFF_CAP_S))
    raise HistoryError(
        f"history {location}: another run kept updating it ({attempts} attempts "
        "ended in a conflicting write); nothing was stored"
    )


def _download(client: Any, location: S3Location, path: Path) -> tuple[str | None, bytes | None]:
    """Write the object to ``path``; (ETag, content), or (None, None) when it does not exist."""
    try:
        response = client.get_object(Bucket=location.bucket, Key=location.key)
        data = response["Body"].read()
    except ClientError as exc:
        if classify.error_code(exc) in classify.MISSING_KEY:
            return None, None
        raise HistoryError(_describe(exc, location, "reading")) from None
    except BotoCoreError as exc:
        raise HistoryError(f"history {location}: cannot be read ({exc})") from None
    path.write_bytes(data)
    return str(response["ETag"]), data


def _upload(client: Any, location: S3Location, data: bytes, etag: str | None) -> bool:
    """Conditional PutObject; False when another run wrote first (retry), else True."""
    condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
    try:
        client.put_object(
            Bucket=location.bucket,
            Key=location.key,
            Body=data,
            ContentType=CONTENT_TYPE,
            **condition,
        )
    except ClientError as exc:
        # "someone else wrote first" (or deleted it meanwhile): download again and re-apply
        code = classify.error_code(exc)
        if code in classify.CONFLICT or (etag is not None and code in classify.MISSING_KEY):
            return False
        raise HistoryError(_describe(exc, location, "writing")) from None
    except BotoCoreError as exc:
        raise HistoryError(f"history {location}: cannot be written ({exc})") from None
    return True


def _describe(exc: ClientError, location: S3Location, doing: str) -> str:
    code = classify.error_code(exc)
    if code == "NoSuchBucket":
        return f"history bucket {location.bucket!r} does not exist ({location})"
    if code in classify.DENIED:
        return (
            f"access denied {doing} history {location} (needs s3:GetObject and s3:PutObject on it)"
        )
    message = str(exc.response.get("Error", {}).get("Message") or "").splitlines()
    detail = f": {message[0][:120]}" if message and message[0] else ""
    return f"history {location}: {doing} failed with {code}{detail}"
