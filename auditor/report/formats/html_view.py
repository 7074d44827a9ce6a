"""The view model of ``report.html``: what the template shows, computed from the parsed
findings document (counts, verdict, coverage matrix, worst findings, the static list by
severity, chart geometry), so the templates only lay it out.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from auditor.core.model import REMEDIATION_STATUSES, SEVERITIES, STATUSES

from .html_data import findings_data_chunks

_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # 0 is worst
_STATUS_RANK = {s: i for i, s in enumerate(STATUSES)}

#: Non-PASS findings rendered as static HTML (no-JS and print view); the rest are in the
#: embedded data (interactive table), findings.csv and findings.json.
STATIC_LIMIT = 2000
WORST_LIMIT = 10
MATRIX_ACCOUNT_LIMIT = 150
HISTORY_LIST_LIMIT = 500


def _sort_key(f: dict[str, Any]) -> tuple[int, int]:
    return (
        _STATUS_RANK.get(f.get("status"), len(STATUSES)),
        _SEV_RANK.get(f.get("severity"), len(SEVERITIES)),
    )


def build_context(doc: dict[str, Any], *, static_limit: int) -> dict[str, Any]:
    """The template's context for ``doc``: findings worst first, at most ``static_limit``
    of the non-PASS ones rendered as static HTML, all of them in the data block."""
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
    # "ARN|root check" -> the checks that are UNKNOWN only because that check FAILs: shown
    # under their root, not as findings to review of their own.
    follow_ons: dict[str, list[str]] = defaultdict(list)
    has_change = False
    new_count = 0
    for f in findings:
        status, severity = f.get("status"), f.get("severity")
        by_status[status] += 1
        by_sev_status[severity][status] += 1
        if status == "FAIL":
            fail_by_account[f.get("account_id")] += 1
        if status == "UNKNOWN" and f.get("caused_by"):
            follow_ons[f"{f.get('resource_arn')}|{f.get('caused_by')}"].append(str(f["check_id"]))
        elif status != "PASS":
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
        "follow_ons": follow_ons,
        "unknown_follow_on": sum(len(v) for v in follow_ons.values()),
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
