"""The one error classifier: codes read out of any botocore exception, and its classes
checked against botocore's own throttling rules."""

from __future__ import annotations

import botocore
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from auditor.aws import classify


def client_error(code: str | None, status: int, message: str = "") -> ClientError:
    error = {"Message": message}
    if code is not None:
        error["Code"] = code
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_code_message_and_status_of_any_exception():
    exc = client_error("NoSuchKey", 404, "The specified key does not exist.")
    assert classify.error_code(exc) == "NoSuchKey"
    assert classify.error_message(exc) == "The specified key does not exist."
    assert classify.http_status(exc) == 404
    assert classify.error_code(client_error(None, 503)) == "503"  # no body: the status
    down = EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")
    assert classify.error_code(down) == "EndpointConnectionError"
    assert classify.http_status(down) is None and "s3.amazonaws.com" in classify.error_message(down)


def test_throttling_codes_are_botocores():
    checker = ThrottledRetryableChecker()
    for code in classify.THROTTLED:
        context = RetryContext(attempt_number=1, parsed_response={"Error": {"Code": code}})
        assert checker.is_retryable(context), code
    # botocore keeps its list on the checker; a new code there must be added here.
    theirs = set(getattr(ThrottledRetryableChecker, "_THROTTLED_ERROR_CODES", ()))
    assert theirs, f"botocore {botocore.__version__} moved its throttling codes: compare by hand"
    assert theirs <= classify.THROTTLED, (
        f"botocore {botocore.__version__} throttles on {sorted(theirs - classify.THROTTLED)}"
    )
    assert classify.throttled(client_error("SlowDown", 503))
    assert classify.throttled(client_error("Anything", 429))
    assert not classify.throttled(client_error("AccessDenied", 403))


@pytest.mark.parametrize(
    ("exc", "gone"),
    [
        (client_error("ResourceNotFound", 400), True),
        (client_error("ValidationException", 400, "Tracking server x does not exist"), True),
        (client_error("ValidationException", 400, "Name must match a pattern"), False),
        (client_error("ConflictException", 409), False),
        (EndpointConnectionError(endpoint_url="https://x"), False),
    ],
)
def test_gone(exc, gone):
    assert classify.gone(exc) is gone


def test_missing_denied_and_not_offered():
    assert classify.is_missing_bucket("404") and classify.is_missing_bucket("Other", 404)
    assert "NoSuchKey" in classify.MISSING_KEY and "NoSuchKey" not in classify.MISSING_BUCKET
    assert classify.is_denied("AccessDenied") and classify.is_denied("Other", 403)
    assert not classify.is_denied("SignatureDoesNotMatch")
    assert classify.not_offered(client_error("UnknownOperationException", 400))
    assert classify.region_not_enabled(client_error("UnrecognizedClientException", 400))
    assert not classify.CONFLICT & classify.MISSING_KEY  # a lost write is not a missing key
