"""Turn botocore exceptions into ScanError records and user-facing failures."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from auditor.core.errors import ConfigError
from auditor.core.model import ScanError

__all__ = ["ConfigError", "error_code", "error_message", "scan_error"]


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return str(err.get("Message") or err.get("Code") or exc)
    return str(exc)


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
