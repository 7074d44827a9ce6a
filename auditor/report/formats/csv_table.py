"""findings.csv: one row per finding, flattened, safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from auditor.core.textsafe import visible

# OWASP CSV injection: a cell starting with one of these is read as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
CSV_COLUMNS = [
    "check_id",
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
    "title",
    "muted_reason",
    "change",
    "remediation_auto",
    "remediation_command",
    "remediation_text",
    "remediation_status",
    "evidence",
]


def neutralise(value: Any) -> Any:
    """Make a CSV cell inert: control and bidi characters shown as escapes (a viewer or
    terminal never interprets them), and a leading quote before formula starts."""
    if not isinstance(value, str):
        return value
    value = visible(value, keep_newlines=True)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _evidence_text(evidence: Iterable[dict[str, Any]]) -> str:
    lines = []
    for e in evidence:
        params = ", ".join(f"{k}={v}" for k, v in (e.get("params") or {}).items())
        who = f" as {e['as_account']}" if e.get("as_account") else ""
        lines.append(
            f"{e.get('call')}({params}){who} -> {e.get('answer')}: {e.get('conclusion', '')}"
        )
    return "\n".join(lines)


def findings_frame(doc: dict[str, Any]) -> Any:
    """One row per finding, nested fields flattened, every cell neutralised."""
    import pandas as pd  # only when a CSV is written: pandas costs ~45 MB resident

    by_arn = {r.get("resource_arn"): r.get("status") for r in doc.get("remediations", [])}
    rows = []
    for f in doc["findings"]:
        rem = f.get("remediation") or {}
        row = {k: f.get(k) for k in CSV_COLUMNS}
        row.update(
            {
                "remediation_auto": rem.get("auto"),
                "remediation_command": rem.get("command"),
                "remediation_text": rem.get("text"),
                "remediation_status": by_arn.get(f.get("resource_arn")),
                "evidence": _evidence_text(f.get("evidence") or []),
            }
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=CSV_COLUMNS, dtype=object)
    return frame.map(neutralise)


CSV_CHUNK_ROWS = 5000


def render_csv(doc: dict[str, Any]) -> Iterator[str]:
    """findings.csv in chunks of rows (pandas per chunk), header once."""
    findings = doc["findings"]
    for start in range(0, max(len(findings), 1), CSV_CHUNK_ROWS):
        part = {**doc, "findings": findings[start : start + CSV_CHUNK_ROWS]}
        yield findings_frame(part).to_csv(index=False, header=start == 0, lineterminator="\r\n")
