"""React to CloudTrail events: which resources an event touches (``parse``), the event
run on the scan's stages (``run``) and the Lambda entry point (``handler``).

``lambda_handler`` is imported on first use (PEP 562), so that ``parse`` alone stays light.
"""

from typing import Any

from auditor.events.parse import (
    BucketTarget,
    ParseResult,
    ResourceTarget,
    Skipped,
    parse_events,
    parse_text,
)

__all__ = [
    "BucketTarget",
    "ParseResult",
    "ResourceTarget",
    "Skipped",
    "lambda_handler",
    "parse_events",
    "parse_text",
]


def __getattr__(name: str) -> Any:
    if name == "lambda_handler":
        from auditor.events.handler import lambda_handler

        return lambda_handler
    raise AttributeError(name)
