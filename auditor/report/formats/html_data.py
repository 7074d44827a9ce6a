"""The embedded findings data of ``report.html``: every finding once, PASS included, as
compact JSON that is safe inside ``<script type="application/json">`` (docs/report.md
describes the format the inline script reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from auditor.core.textsafe import visible, visible_any

# Order of the columns of one finding in the embedded data (see docs/report.md).
_INTERNED_FIELDS: tuple[str, ...] = (
    "check_id",
    "title",
    "status",
    "severity",
    "account_id",
    "region",
    "resource_type",
    "resource_name",
    "resource_arn",
    "artifact_store_uri",
    "bucket",
    "expected_owner",
    "actual_owner",
    "message",
    "risk",
    "muted_reason",
    "caused_by",
    "change",
    "remediation_command",
    "remediation_text",
)
_DATA_FIELDS: tuple[str, ...] = (*_INTERNED_FIELDS, "remediation_auto", "evidence")
_EVIDENCE_FIELDS: tuple[str, ...] = ("call", "as_account", "params", "answer", "conclusion")


def findings_data_json(findings: list[dict[str, Any]]) -> str:
    """The ``findings-data`` block as one string (see findings_data_chunks)."""
    return "".join(findings_data_chunks(findings))


def _escape_script_json(text: str) -> str:
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def findings_data_chunks(
    findings: list[dict[str, Any]], rows_per_chunk: int = 1000
) -> Iterator[str]:
    """Encode findings for the ``findings-data`` block, safe inside ``<script>``.

    Strings are interned in one table (titles, risks, accounts, ... repeat across
    thousands of findings); ``<``, ``>`` and ``&`` are escaped as ``\\u003c`` etc. so no
    data can close the element or open a comment. Rows are encoded as they are read and
    the string table is written after them, so a large report never holds its data
    block, or a list of its rows, in memory at once.
    """
    table = _Interner()

    def ix(value: Any) -> int | None:
        if value is None:
            return None
        return table[visible(value) if isinstance(value, str) else visible(json.dumps(value))]

    def dumps(value: Any) -> str:
        return _escape_script_json(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    fields = _INTERNED_FIELDS[:-2]
    yield (
        dumps(
            {"version": 1, "fields": list(_DATA_FIELDS), "evidence_fields": list(_EVIDENCE_FIELDS)}
        )[:-1]
        + ',"rows":['
    )
    batch: list[str] = []
    for n, f in enumerate(findings):
        rem = f.get("remediation") or {}
        row: list[Any] = [ix(f.get(name)) for name in fields]
        row.append(ix(rem.get("command")))
        row.append(ix(rem.get("text")))
        row.append(bool(rem["auto"]) if rem.get("auto") is not None else None)
        row.append(
            [
                [
                    ix(ev.get("call")),
                    ix(ev.get("as_account")),
                    {visible(str(k)): visible_any(v) for k, v in (ev.get("params") or {}).items()},
                    ix(ev.get("answer")),
                    ix(ev.get("conclusion")),
                ]
                for ev in (f.get("evidence") or [])
                if isinstance(ev, dict)
            ]
        )
        batch.append(("," if n else "") + dumps(row))
        if len(batch) >= rows_per_chunk:
            yield "".join(batch)
            batch = []
    yield "".join(batch) + '],"strings":'
    yield dumps(list(table)) + "}"


class _Interner(dict[str, int]):
    """String -> index in the order first seen (``list(table)`` is the string table)."""

    def __missing__(self, key: str) -> int:
        index = self[key] = len(self)
        return index
