"""Failures that end a run with one line for the user and an exit code.

They are plain exceptions, so the stages and the Lambda raise them without a command
line; the CLI turns each into its one line on stderr and its exit code.
"""

from __future__ import annotations


class RunFailure(Exception):
    """A failure the user can act on: ``message`` is one line, ``exit_code`` the code."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(RunFailure):
    """A usage or configuration error: one line on stderr, exit code 2, nothing scanned."""

    exit_code = 2


class UsageError(ConfigError):
    """Options that cannot go together (a usage error: one line, exit code 2)."""
