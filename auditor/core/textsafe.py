"""Make control and bidirectional characters visible in human-facing output.

Strings from AWS (names, URIs, tags, error messages) are data. Raw, an ESC sequence clears
a terminal or fakes colours and OSC-8 links when a CSV is viewed with ``cat``; a NUL or
U+202E (RIGHT-TO-LEFT OVERRIDE) makes a path display as something else ("Trojan Source",
CVE-2021-42574). The terminal, CSV and HTML renderings show such characters as
``\\x1b`` / ``\\u202e`` escapes; findings.json keeps the exact value.
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls and DEL; the Unicode bidirectional formatting characters
# (https://www.unicode.org/reports/tr9/#Directional_Formatting_Characters) and other
# invisible format characters (zero-width space/joiners, BOM), and line/paragraph
# separators, which renderers treat as line breaks.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)
_INVISIBLE_KEEP_NL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: str, *, keep_newlines: bool = False) -> str:
    """``value`` with every control, bidi and invisible format character as an escape."""
    pattern = _INVISIBLE_KEEP_NL if keep_newlines else _INVISIBLE
    return pattern.sub(_escape, value)


def visible_any(value: Any) -> Any:
    """``visible`` for strings; anything else unchanged."""
    return visible(value) if isinstance(value, str) else value
