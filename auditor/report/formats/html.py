"""Render a parsed ``findings.json`` as one self-contained ``report.html``.

Design (see docs/report.md):

* Everything a reader needs without JavaScript is rendered on the server by Jinja2
  (autoescape on): verdict, counts, inline SVG charts, coverage, errors, remediation
  results, changes since the last run, and the non-PASS findings (worst first, with
  evidence and fix command in ``<details>``), up to ``static_limit`` findings.
* All findings (PASS included) are embedded once, compactly, as JSON in a
  ``<script type="application/json">`` block; the inline script renders them as a
  paginated, filterable, sortable table and hides the static list. Data strings are only
  ever inserted with ``textContent``.
* A Content-Security-Policy allows no network request at all, and only the one inline
  script whose SHA-256 hash is in the policy.

This module renders; what the page shows is computed in ``html_view`` and the embedded
data is encoded in ``html_data``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jinja2
import markupsafe

from auditor.core.datafiles import data_dir
from auditor.core.textsafe import visible_any

from . import html_views
from .html_data import findings_data_chunks, findings_data_json
from .html_view import STATIC_LIMIT, build_context

__all__ = [
    "STATIC_LIMIT",
    "findings_data_chunks",
    "findings_data_json",
    "render_html",
    "render_html_chunks",
]

# Runs in <head> so the static no-JS list never flashes while a large report loads.
_HEAD_SCRIPT = 'document.documentElement.className = "js";'

_CSP_TEMPLATE = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src {script_hashes}; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def render_html(
    doc: dict[str, Any],
    *,
    static_limit: int = STATIC_LIMIT,
    trend: list[dict[str, Any]] | None = None,
) -> str:
    """Return ``report.html`` for the parsed findings document ``doc`` (see render_html_chunks)."""
    return "".join(render_html_chunks(doc, static_limit=static_limit, trend=trend))


def render_html_chunks(
    doc: dict[str, Any],
    *,
    static_limit: int = STATIC_LIMIT,
    trend: list[dict[str, Any]] | None = None,
) -> Iterator[str]:
    """``report.html`` in chunks, so a large report is never one string in memory.

    ``doc`` follows docs/findings-schema.md; unknown fields are ignored and missing
    optional ones (``summary``, ``errors``, ``remediations``, ``history``) are tolerated.
    ``static_limit`` caps how many non-PASS findings are rendered as static HTML.
    ``trend``: earlier runs of the scope for the trend chart (default ``history.trend``).
    """
    env = _environment()
    script = _asset("report.js")
    context = build_context(doc, static_limit=static_limit)
    context.update(
        html_views.view_context(
            doc,
            fail_by_severity=context["fail_by_severity"],
            new_count=context["new_count"],
            trend=trend,
        )
    )
    context.update(
        css=_asset("report.css"),
        head_script=_HEAD_SCRIPT,
        script=script,
        csp=_CSP_TEMPLATE.format(
            script_hashes=f"{_script_hash(_HEAD_SCRIPT)} {_script_hash(script)}"
        ),
    )
    return env.get_template("report.html.j2").generate(**context)


# --------------------------------------------------------------------------- internals


def _finalize(value: Any) -> Any:
    """Data shown as text: control and bidi characters made visible; markup we built
    ourselves (``Markup``: assets, the data block) passes unchanged."""
    if isinstance(value, markupsafe.Markup):
        return value
    return visible_any(value)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("reports"))),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Every {{ value }} shows control and bidi characters as escapes (auditor.core.textsafe).
        finalize=_finalize,
    )
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    env.filters["param_value"] = _param_value
    return env


@lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return (data_dir("reports") / name).read_text(encoding="utf-8")


def _script_hash(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def _param_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
