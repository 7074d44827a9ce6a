"""Read a findings.json back (``report`` and ``merge``): size, JSON, version, shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.core.errors import ConfigError
from auditor.core.model import SCHEMA_VERSION
from auditor.report.validate import validate_document

#: findings.json files larger than this are refused by ``report`` and ``merge``.
MAX_DOCUMENT_BYTES = 2 << 30


def load_document(path: str | Path) -> dict[str, Any]:
    """Read and validate a findings.json for re-rendering; ConfigError (exit 2) naming
    the file and the path of the offending field when it is unusable."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes is larger than a findings.json can be")
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a findings.json (JSON nested too deeply)") from None
    if not isinstance(doc, dict) or "findings" not in doc or "schema_version" not in doc:
        raise ConfigError(f"{path}: not an mlflow-audit findings.json (no schema_version)")
    major = str(doc["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise ConfigError(
            f"{path}: schema_version {doc['schema_version']} is not supported "
            f"(this is {SCHEMA_VERSION})"
        )
    try:
        validate_document(doc)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    doc.setdefault("errors", [])
    doc.setdefault("remediations", [])
    return doc
