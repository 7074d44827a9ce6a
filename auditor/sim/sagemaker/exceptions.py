"""The errors SageMaker's MLflow operations answer, raised by the operations and rendered
in the JSON protocol by ``responses.handle``.

Codes follow the botocore service model (``ResourceNotFound``, ``ResourceInUse``,
``ConflictException``, ``ValidationException``); the messages are the simulation's own.
"""

from __future__ import annotations


class ApiError(Exception):
    """One error answer: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def not_found(message: str) -> ApiError:
    return ApiError("ResourceNotFound", message)


def in_use(message: str) -> ApiError:
    return ApiError("ResourceInUse", message)


def conflict(message: str) -> ApiError:
    return ApiError("ConflictException", message)


def invalid(message: str) -> ApiError:
    return ApiError("ValidationException", message)
