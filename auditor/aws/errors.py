"""Turn botocore exceptions into ScanError records and user-facing failures.

Reading an exception (code, message, class) is ``auditor.aws.classify``'s job; the two
readers are re-exported here for the modules that build ScanErrors.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from auditor.aws.classify import error_code, error_message
from auditor.core.errors import ConfigError
from auditor.core.model import ScanError

__all__ = ["ConfigError", "error_code", "error_message", "scan_error"]


def scan_error(
    account_id: str | None,
    region: str | None,
    operation: str,
    exc: ClientError | BotoCoreError | Exception,
) -> ScanError:
    return ScanError(
        account_id=account_id,
        region=region,
        operation=operation,
        error_code=error_code(exc),
        message=error_message(exc),
    )
