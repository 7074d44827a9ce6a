"""Which resources an AWS event touches: CloudTrail records and EventBridge events
parsed into targets (``parse``). The run over those targets is ``auditor.app.event``, the
Lambda entry point ``auditor.app.aws_lambda``.
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
