"""What an AWS error means: the one place that reads an exception and names its class.

Every botocore failure is either a ``ClientError`` (AWS answered: an error code, a
message and an HTTP status) or another ``BotoCoreError``/exception (no usable answer:
connection, timeout, parse). :func:`error_code`, :func:`error_message` and
:func:`http_status` read the three out of either. The classes the product acts on are
named sets of codes, kept here and nowhere else:

- ``THROTTLED``: AWS refused the rate; paced and retried (``auditor.aws.pacing``).
  botocore's own list (``botocore.retries.standard.ThrottledRetryableChecker``); a unit
  test compares the two on every botocore upgrade. HTTP 429 is throttling too.
- ``TRANSIENT``: a server-side failure worth another try.
- ``DENIED``: the caller may not make the call.
- ``MISSING_BUCKET`` / ``MISSING_KEY``: the S3 bucket, or the object, does not exist.
  A HEAD request has no body, so S3's answer is only its status ("404", "403").
- ``GONE``: the resource was deleted (SageMaker also answers ``ValidationException``
  with "... not found" / "does not exist" for some missing names).
- ``NOT_OFFERED``: the regional endpoint does not offer the operation at all.
- ``REGION_NOT_ENABLED``: an opt-in region the account has not enabled rejects its
  credentials.
- ``SERVICE_NOT_ENABLED``: Security Hub is not enabled in the account-region
  (BatchImportFindings answers ``InvalidAccessException``, 401).
- ``CONFLICT``: a conditional write lost to another writer (S3 412/409).
- ``NOT_CONFIGURED``: S3's documented "this setting was never configured" answers,
  which are definite answers, not failures.
- ``NO_ORGANIZATION``: the caller's account is in no AWS Organization.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT = frozenset(
    {
        "InternalException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)
DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "Forbidden", "AllAccessDisabled", "403"}
)
MISSING_BUCKET = frozenset({"NoSuchBucket", "NotFound", "404"})
MISSING_KEY = frozenset({"NoSuchKey", "NotFound", "404"})
GONE = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
NOT_OFFERED = frozenset({"UnknownOperationException"})
REGION_NOT_ENABLED = frozenset({"UnrecognizedClientException", "InvalidClientTokenId"})
SERVICE_NOT_ENABLED = frozenset({"InvalidAccessException"})
CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
NOT_CONFIGURED = frozenset(
    {
        "NoSuchBucketPolicy",
        "NoSuchPublicAccessBlockConfiguration",
        "OwnershipControlsNotFoundError",
        "ObjectLockConfigurationNotFoundError",
    }
)
NO_ORGANIZATION = frozenset({"AWSOrganizationsNotInUseException"})

_GONE_WORDING = ("not found", "does not exist")


def error_code(exc: BaseException) -> str:
    """AWS's error code, else the HTTP status (an S3 HEAD answer has no body), else the
    exception's class name (no answer at all)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = http_status(exc)
        return str(err.get("Code") or (status if status else "") or "ClientError")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return str(err.get("Message") or err.get("Code") or exc)
    return str(exc)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of AWS's answer; None when there was no answer."""
    if not isinstance(exc, ClientError):
        return None
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def is_throttled(code: str | None, status: int | None = None) -> bool:
    return code in THROTTLED or status == 429


def throttled(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and is_throttled(error_code(exc), http_status(exc))


def is_denied(code: str | None, status: int | None = None) -> bool:
    return code in DENIED or status == 403


def is_missing_bucket(code: str | None, status: int | None = None) -> bool:
    return code in MISSING_BUCKET or status == 404


def gone(exc: BaseException) -> bool:
    """The resource a call named was deleted (or never existed)."""
    if not isinstance(exc, ClientError):
        return False
    code = error_code(exc)
    if code == "ValidationException":
        text = str(exc).lower()
        return any(words in text for words in _GONE_WORDING)
    return code in GONE


def not_offered(exc: BaseException) -> bool:
    """The region's endpoint does not offer the operation at all."""
    return isinstance(exc, ClientError) and error_code(exc) in NOT_OFFERED


def region_not_enabled(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in REGION_NOT_ENABLED
