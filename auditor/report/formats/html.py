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
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jinja2
import markupsafe

from auditor.core.datafiles import data_dir
from auditor.core.model import REMEDIATION_STATUSES, SEVERITIES, STATUSES
from auditor.core.textsafe import visible, visible_any
from auditor.report.formats import html_views

_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # 0 is worst
_STATUS_RANK = {s: i for i, s in enumerate(STATUSES)}

#: Non-PASS findings rendered as static HTML (no-JS and print view); the rest are in the
#: embedded data (interactive table), findings.csv and findings.json.
STATIC_LIMIT = 2000
WORST_LIMIT = 10
CHART_ACCOUNTS = 12
MATRIX_ACCOUNT_LIMIT = 150
HISTORY_LIST_LIMIT = 500

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
    "change",
    "remediation_command",
    "remediation_text",
)
_DATA_FIELDS: tuple[str, ...] = (*_INTERNED_FIELDS, "remediation_auto", "evidence")
_EVIDENCE_FIELDS: tuple[str, ...] = ("call", "as_account", "params", "answer", "conclusion")

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
    context = _build_context(doc, static_limit=static_limit)
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


# --------------------------------------------------------------------------- internals


class _Interner(dict[str, int]):
    """String -> index in the order first seen (``list(table)`` is the string table)."""

    def __missing__(self, key: str) -> int:
        index = self[key] = len(self)
        return index


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


def _sort_key(f: dict[str, Any]) -> tuple[int, int]:
    return (
        _STATUS_RANK.get(f.get("status"), len(STATUSES)),
        _SEV_RANK.get(f.get("severity"), len(SEVERITIES)),
    )


def _build_context(doc: dict[str, Any], *, static_limit: int) -> dict[str, Any]:
    run = doc.get("run") or {}
    summary = doc.get("summary") or {}
    findings = [f for f in (doc.get("findings") or []) if isinstance(f, dict)]
    findings.sort(key=_sort_key)  # stable: keeps the writer's order inside a rank
    errors = [e for e in (doc.get("errors") or []) if isinstance(e, dict)]
    remediations = [r for r in (doc.get("remediations") or []) if isinstance(r, dict)]

    by_status: Counter[str] = Counter()
    by_sev_status: dict[str, Counter[str]] = defaultdict(Counter)
    fail_by_account: Counter[str] = Counter()
    non_pass: list[dict[str, Any]] = []
    has_change = False
    new_count = 0
    for f in findings:
        status, severity = f.get("status"), f.get("severity")
        by_status[status] += 1
        by_sev_status[severity][status] += 1
        if status == "FAIL":
            fail_by_account[f.get("account_id")] += 1
        if status != "PASS":
            non_pass.append(f)
        change = f.get("change")
        if change:
            has_change = True
            new_count += change == "new"

    accounts = [a for a in (run.get("accounts") or []) if isinstance(a, dict)]
    account_names = {a.get("account_id"): a.get("name") for a in accounts}
    verdict = summary.get("verdict") or _derive_verdict(by_status, run)
    complete = run.get("complete", not errors)

    worst = [
        f
        for f in findings
        if f.get("status") == "FAIL" and f.get("severity") in ("critical", "high")
    ][:WORST_LIMIT]

    static = non_pass[:static_limit]
    static_groups = []
    for sev in (*SEVERITIES, None):
        items = [
            f
            for f in static
            if f.get("severity") == sev or (sev is None and f.get("severity") not in _SEV_RANK)
        ]
        if items:
            static_groups.append({"severity": sev or "other", "findings": items})

    history = doc.get("history") if isinstance(doc.get("history"), dict) else None
    resolved = [r for r in ((history or {}).get("resolved") or []) if isinstance(r, dict)]

    def options(key: str) -> list[str]:
        return sorted({str(f.get(key)) for f in findings if f.get(key) is not None})

    return {
        "doc_version": doc.get("schema_version"),
        "run": run,
        "summary": summary,
        "verdict": verdict,
        "complete": complete,
        "severities": SEVERITIES,
        "statuses": STATUSES,
        "total": len(findings),
        "by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "fail_by_severity": {s: by_sev_status[s].get("FAIL", 0) for s in SEVERITIES},
        "by_sev_status": {
            s: {st: by_sev_status[s].get(st, 0) for st in STATUSES} for s in SEVERITIES
        },
        "accounts": accounts,
        "account_names": account_names,
        "coverage": _coverage(run, errors),
        "errors": errors,
        "worst": worst,
        "static_groups": static_groups,
        "static_shown": len(static),
        "non_pass_total": len(non_pass),
        "remediations": remediations,
        "remediation_counts": Counter(r.get("status") for r in remediations),
        "remediation_statuses": REMEDIATION_STATUSES,
        "history": history,
        "resolved": resolved[:HISTORY_LIST_LIMIT],
        "resolved_total": len(resolved),
        "has_change": has_change,
        "new_count": history.get("new", new_count) if history else new_count,
        "status_chart": _donut(by_status, len(findings)),
        "severity_chart": _stacked_bars(by_sev_status),
        "account_chart": _account_bars(fail_by_account, account_names),
        "filter_checks": options("check_id"),
        "filter_accounts": options("account_id"),
        "filter_regions": options("region"),
        "findings_json": findings_data_chunks(findings),
    }


def _derive_verdict(by_status: Counter[str], run: dict[str, Any]) -> str:
    if by_status.get("FAIL"):
        return "FAIL"
    if run.get("complete") is False:
        return "INCOMPLETE"
    return "PASS"


def _coverage(run: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Accounts x regions: what was scanned, what could not be read, and why."""
    scopes = [s for s in (run.get("scopes") or []) if isinstance(s, dict)]
    regions = list(run.get("regions") or [])
    for s in scopes:
        if s.get("region") and s["region"] not in regions:
            regions.append(s["region"])
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for s in scopes:
        cells[(s.get("account_id"), s.get("region"))] = {
            "status": s.get("status") or "unknown",
            "resources": s.get("resources"),
            "error_codes": [],
            "not_offered": [str(k) for k in (s.get("not_offered") or [])],
        }
    account_errors: dict[str, list[str]] = defaultdict(list)
    for e in errors:
        if e.get("region") is None:
            account_errors[e.get("account_id")].append(e.get("error_code") or "error")
        else:
            cell = cells.setdefault(
                (e.get("account_id"), e.get("region")),
                {"status": "error", "resources": None, "error_codes": []},
            )
            cell["status"] = "error"
            cell["error_codes"].append(e.get("error_code") or "error")

    account_rows = []
    seen: set[str] = set()
    for a in run.get("accounts") or []:
        if isinstance(a, dict) and a.get("account_id") not in seen:
            seen.add(a.get("account_id"))
            account_rows.append(a)
    for acct in [s.get("account_id") for s in scopes] + list(account_errors):
        if acct not in seen:
            seen.add(acct)
            account_rows.append(
                {
                    "account_id": acct,
                    "name": None,
                    "access": None,
                    "status": "error" if acct in account_errors else "scanned",
                }
            )

    rows = []
    for a in account_rows:
        acct = a.get("account_id")
        row_cells = [cells.get((acct, r)) for r in regions]
        problem = (
            bool(account_errors.get(acct))
            or a.get("status") == "error"
            or any(c and c["status"] != "scanned" for c in row_cells)
        )
        rows.append(
            {
                "account": a,
                "cells": row_cells,
                "problem": problem,
                "account_errors": account_errors.get(acct, []),
            }
        )

    statuses = Counter(c["status"] for c in cells.values())
    truncated = len(rows) > MATRIX_ACCOUNT_LIMIT
    shown = [r for r in rows if r["problem"]] if truncated else rows
    return {
        "regions": regions,
        "rows": shown[:MATRIX_ACCOUNT_LIMIT],
        "truncated": truncated,
        "account_count": len(rows),
        "problem_accounts": sum(r["problem"] for r in rows),
        "scanned": statuses.get("scanned", 0),
        "failed": sum(n for st, n in statuses.items() if st != "scanned"),
        "resources": sum((c["resources"] or 0) for c in cells.values()),
        "not_offered": {
            str(kind): list(cov.get("not_offered") or [])
            for kind, cov in (run.get("coverage") or {}).items()
            if isinstance(cov, dict) and cov.get("not_offered")
        },
        "warnings": [str(w) for w in (run.get("warnings") or [])],
    }


# --------------------------------------------------------------------------- SVG charts
# Geometry is computed here; the templates draw it (so labels are autoescaped).


def _donut(by_status: Counter[str], total: int) -> dict[str, Any]:
    radius = 52
    circumference = 2 * math.pi * radius
    offset = 0.0
    segments = []
    for status in STATUSES:
        n = by_status.get(status, 0)
        if not n or not total:
            continue
        length = circumference * n / total
        segments.append(
            {
                "status": status,
                "count": n,
                "dash": f"{length:.2f} {circumference - length:.2f}",
                "offset": f"{-offset:.2f}",
            }
        )
        offset += length
    counts = {s: by_status.get(s, 0) for s in STATUSES}
    return {"radius": radius, "segments": segments, "total": total, "counts": counts}


def _stacked_bars(by_sev_status: dict[str, Counter[str]]) -> dict[str, Any]:
    width = 300
    peak = max((sum(by_sev_status[s].values()) for s in SEVERITIES), default=0) or 1
    rows = []
    for i, sev in enumerate(SEVERITIES):
        x = 0.0
        parts = []
        for status in STATUSES:
            n = by_sev_status[sev].get(status, 0)
            if not n:
                continue
            w = width * n / peak
            parts.append({"status": status, "count": n, "x": f"{x:.2f}", "w": f"{max(w, 1):.2f}"})
            x += w
        rows.append(
            {
                "severity": sev,
                "y": i * 26,
                "parts": parts,
                "total": sum(by_sev_status[sev].values()),
                "end": f"{x:.2f}",
            }
        )
    return {"rows": rows, "width": width, "height": len(SEVERITIES) * 26}


def _account_bars(fail_by_account: Counter[str], names: dict[str, Any]) -> dict[str, Any]:
    top = fail_by_account.most_common(CHART_ACCOUNTS)
    rest = sum(fail_by_account.values()) - sum(n for _, n in top)
    others = len(fail_by_account) - len(top)
    items = [
        {"label": f"{acct}" + (f" ({names[acct]})" if names.get(acct) else ""), "count": n}
        for acct, n in top
    ]
    if rest:
        items.append({"label": f"{others:,} other accounts", "count": rest})
    peak = max((i["count"] for i in items), default=0) or 1
    for row, item in enumerate(items):
        item["y"] = row * 24
        item["w"] = f"{max(260 * item['count'] / peak, 1):.2f}"
    return {"items": items, "height": max(len(items), 1) * 24}
