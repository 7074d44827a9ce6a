"""React to CloudTrail events: which resources an event touches (``parse``).

The ``event`` command and ``lambda_handler`` are built on the scan's stages elsewhere;
this package only holds the pieces that need no AWS call.
"""

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
    "parse_events",
    "parse_text",
]
