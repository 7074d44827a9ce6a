"""Write findings.json, findings.csv and report.html atomically.

Each file is written to a temporary file in the same directory, flushed to disk and
renamed over the target, so a reader (or a crash) never sees half a report; a previous
report stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError

FORMATS = ("json", "csv", "html")
FILENAMES = {"json": "findings.json", "csv": "findings.csv", "html": "report.html"}
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


def prepare_output_dir(path: str | Path) -> Path:
    """Create the directory and prove it is writable before anything is scanned."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"output directory {out} is not writable ({exc.strerror or type(exc).__name__})"
        ) from None
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(path: Path, data: str | Iterable[str]) -> str:
    """Write ``data`` to a temporary file beside ``path``, synced; returns its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would differ from a normal file
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if isinstance(data, str):
                fh.write(data)
            else:
                fh.writelines(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_atomic(path: Path, data: str | Iterable[str]) -> None:
    """Write ``data`` (a string, or chunks of one) to ``path`` all at once or not at all."""
    os.replace(_stage(path, data), path)


def neutralise(value: Any) -> Any:
    """Make a CSV cell inert in spreadsheets: a leading quote before formula starts."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
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


def _render(doc: dict[str, Any], fmt: str) -> str | Iterable[str]:
    if fmt == "json":
        return render_json(doc)
    if fmt == "csv":
        return render_csv(doc)
    if fmt == "html":
        from auditor.html_report import render_html_chunks  # templates load lazily

        return render_html_chunks(doc)
    raise ConfigError(f"unknown output format {fmt!r}")  # the CLI validates; library guard


def write_outputs(doc: dict[str, Any], out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write the requested renderings together: every file is rendered to a temporary
    file first and only then renamed into place, so a failure part-way leaves the
    previous run's reports intact and never a mix of two runs."""
    staged: list[tuple[str, Path]] = []
    try:
        for fmt in formats:
            path = out_dir / FILENAMES[fmt]
            staged.append((_stage(path, _render(doc, fmt)), path))
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
    return [path for _, path in staged]
