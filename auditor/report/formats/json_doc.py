"""findings.json: the canonical document, one finding per line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def render_json(doc: dict[str, Any]) -> Iterator[str]:
    """findings.json in chunks: an organisation's findings never sit in memory as text.

    The document is indented for reading, except that each finding is one line (and so
    one line of a diff); that also lets the C JSON encoder do the bulk of the work.
    """
    yield "{"
    for n, (key, value) in enumerate(doc.items()):
        yield ("," if n else "") + f"\n  {json.dumps(key)}: "
        if key == "findings" and isinstance(value, list) and value:
            yield "["
            for i, finding in enumerate(value):
                yield ("," if i else "") + "\n    " + json.dumps(finding, default=str)
            yield "\n  ]"
        else:
            yield json.dumps(value, indent=2, default=str).replace("\n", "\n  ")
    yield "\n}\n"
