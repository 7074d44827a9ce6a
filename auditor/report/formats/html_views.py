"""What report.html shows above the findings table at organisation scale.

The summary must fit one screen whether a run covers three accounts or a thousand in
seventeen regions, so these views aggregate instead of listing: failures per account
stacked by severity (the worst accounts, the rest as one "other accounts" bar), a
per-region count of coverage states, the trusted set as a count, and the trend of
open failures across the runs of the history. Geometry is computed here; the templates
draw it, so every label stays autoescaped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from auditor.core.model import SEVERITIES

#: Accounts drawn as their own bar in "Failures per account"; the rest are one bar.
ACCOUNT_TOP = 15
#: Trusted account ids shown inline; more are collapsed behind a count.
TRUSTED_INLINE = 4
#: Newest runs drawn in the trend chart (the current run included).
TREND_RUNS = 30
#: Kinds of MLflow resource; a region offering none of them is "not offered", not empty.
RESOURCE_KINDS = 2

_SEV_KEYS: tuple[str, ...] = (*SEVERITIES, "other")

# "Failures per account": a label column, the bars, the count after them.
_ACC_LABEL_W = 178
_ACC_BAR_W = 240
_ACC_ROW_H = 20
_ACC_WIDTH = 480

# Trend chart: failures by severity (columns) over new (up) / resolved (down) bars.
_TR_LEFT = 40
_TR_WIDTH = 400
_TR_TOP = 8
_TR_FAIL_H = 150
_TR_GAP = 34
_TR_CHANGE_H = 70


def view_context(
    doc: dict[str, Any],
    *,
    fail_by_severity: dict[str, int],
    new_count: int,
    trend: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The template values of the organisation-scale views of ``doc``.

    ``fail_by_severity`` and ``new_count`` are the current run's (the trend's last point);
    ``trend`` lists earlier runs of the same scope, oldest first (docs/report.md, "Trend"),
    and defaults to ``doc["history"]["trend"]``.
    """
    run = doc.get("run") if isinstance(doc.get("run"), dict) else {}
    findings = [f for f in (doc.get("findings") or []) if isinstance(f, dict)]
    errors = [e for e in (doc.get("errors") or []) if isinstance(e, dict)]
    accounts = [a for a in (run.get("accounts") or []) if isinstance(a, dict)]
    names = {a.get("account_id"): a.get("name") for a in accounts}
    history = doc.get("history") if isinstance(doc.get("history"), dict) else {}
    if trend is None:
        trend = history.get("trend") if isinstance(history.get("trend"), list) else []
    current = {
        "run_id": run.get("id"),
        "started_at": run.get("started_at"),
        "complete": run.get("complete", not errors) is not False,
        "fail_by_severity": fail_by_severity,
        "new": new_count,
        "resolved": len(history.get("resolved") or []) if not history.get("error") else 0,
    }
    trusted = [str(a) for a in (run.get("trusted_accounts") or [])]
    return {
        "account_stack": account_stack(findings, names),
        "region_summary": region_summary(run, errors),
        "trusted": {"ids": trusted, "inline": len(trusted) <= TRUSTED_INLINE},
        "trend_chart": trend_chart(trend_points(trend, current)),
    }


def _sev_key(severity: Any) -> str:
    return severity if severity in SEVERITIES else "other"


def _count(value: Any) -> int:
    """A non-negative count from the document (anything else counts as 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# --------------------------------------------------------------------------- accounts


def account_stack(
    findings: Iterable[dict[str, Any]], names: dict[Any, Any], top: int = ACCOUNT_TOP
) -> dict[str, Any]:
    """Failing findings per account, split by severity: the ``top`` worst accounts (most
    criticals first, then highs, ...) and every other account summed in one bar.

    Bars share one scale, set by the top accounts; the "other accounts" bar can be far
    longer than any of them, so when it is it is drawn full width and marked as cut.
    """
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        if f.get("status") == "FAIL":
            per[str(f.get("account_id"))][_sev_key(f.get("severity"))] += 1
    ranked = sorted(
        per.items(),
        key=lambda kv: (*(-kv[1][s] for s in _SEV_KEYS), -sum(kv[1].values()), kv[0]),
    )
    rows = [
        {
            "label": acct + (f" ({names[acct]})" if names.get(acct) else ""),
            "counts": counts,
            "other": False,
        }
        for acct, counts in ranked[:top]
    ]
    rest: Counter[str] = Counter()
    for _, counts in ranked[top:]:
        rest.update(counts)
    if rest:
        n = len(ranked) - top
        label = f"{n:,} other account" + ("s" if n != 1 else "")
        rows.append({"label": label, "counts": rest, "other": True})
    peak = max((sum(r["counts"].values()) for r in rows if not r["other"]), default=0) or 1
    items = []
    for i, row in enumerate(rows):
        total = sum(row["counts"].values())
        cut = row["other"] and total > peak
        scale = _ACC_BAR_W / (total if cut else peak)
        x = 0.0
        parts = []
        for sev in _SEV_KEYS:
            n = row["counts"].get(sev, 0)
            if n:
                w = max(n * scale, 1.0)
                parts.append({"severity": sev, "count": n, "x": f"{x:.2f}", "w": f"{w:.2f}"})
                x += w
        items.append(
            {
                "label": row["label"],
                "other": row["other"],
                "cut": cut,
                "total": total,
                "parts": parts,
                "end": f"{_ACC_LABEL_W + x + 6:.2f}",
                "y": i * _ACC_ROW_H,
            }
        )
    height = len(items) * _ACC_ROW_H
    legend = [{"severity": s, "x": 70 + i * 72} for i, s in enumerate(SEVERITIES)]
    return {
        "items": items,
        "accounts": len(ranked),
        "label_w": _ACC_LABEL_W,
        "bar_w": _ACC_BAR_W,
        "width": _ACC_WIDTH,
        "height": height + 26 if items else 0,
        "legend_y": height + 8,
        "legend": legend,
    }


# --------------------------------------------------------------------------- coverage


def region_summary(run: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Per region, how many accounts were scanned, could not be read, do not offer MLflow,
    or were not in scope; plus the accounts that could not be entered at all.

    The same cells as the accounts x regions grid, counted instead of drawn, so that
    seventeen regions fit on one line of small cards.
    """
    scopes = [s for s in (run.get("scopes") or []) if isinstance(s, dict)]
    regions = [str(r) for r in (run.get("regions") or [])]
    state: dict[tuple[str, str], str] = {}
    resources: Counter[str] = Counter()
    for s in scopes:
        acct, region = str(s.get("account_id")), str(s.get("region"))
        if region not in regions:
            regions.append(region)
        status = s.get("status") or "unknown"
        if status == "scanned" and len(s.get("not_offered") or []) >= RESOURCE_KINDS:
            status = "not_offered"
        state[(acct, region)] = status if status in ("scanned", "not_offered") else "error"
        resources[region] += _count(s.get("resources"))
    unreachable: set[str] = set()
    for e in errors:
        acct = str(e.get("account_id"))
        if e.get("region") is None:
            unreachable.add(acct)
            continue
        region = str(e.get("region"))
        if region not in regions:
            regions.append(region)
        state[(acct, region)] = "error"
    accounts = {
        str(a.get("account_id")) for a in (run.get("accounts") or []) if isinstance(a, dict)
    }
    accounts |= {a for a, _ in state} | unreachable
    by_region: dict[str, Counter[str]] = defaultdict(Counter)
    for (_, region), status in state.items():
        by_region[region][status] += 1
    cards = []
    for region in regions:
        c = by_region[region]
        cards.append(
            {
                "region": region,
                "scanned": c["scanned"],
                "error": c["error"],
                "not_offered": c["not_offered"],
                "missing": len(accounts) - sum(c.values()),
                "resources": resources[region],
            }
        )
    return {
        "cards": cards,
        "accounts": len(accounts),
        "unreachable": len(unreachable),
        "error_regions": sum(1 for c in cards if c["error"]),
    }


# --------------------------------------------------------------------------- trend


def trend_points(trend: Iterable[Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """Earlier runs (oldest first) and the current one, each with its open failures by
    severity and its new / resolved counts; malformed entries are skipped, and values
    that are not counts count as 0. At most ``TREND_RUNS`` points, the newest."""
    points = []
    for item in [*trend, current]:
        if not isinstance(item, dict):
            continue
        fails = item.get("fail_by_severity")
        fails = fails if isinstance(fails, dict) else {}
        points.append(
            {
                "run_id": str(item.get("run_id") or ""),
                "started_at": str(item.get("started_at") or ""),
                "complete": item.get("complete") is not False,
                "fails": {s: _count(fails.get(s)) for s in SEVERITIES},
                "new": _count(item.get("new")),
                "resolved": _count(item.get("resolved")),
            }
        )
    if len(points) >= 2 and points[-1]["run_id"] and points[-2]["run_id"] == points[-1]["run_id"]:
        del points[-2]  # the history already held this run: the document is the truth
    return points[-TREND_RUNS:]


def trend_chart(points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Columns of open FAILs by severity per run, and new (up) vs resolved (down) below.

    None without an earlier run: a single column is not a trend.
    """
    if len(points) < 2:
        return None
    slot = _TR_WIDTH / len(points)
    bar = max(min(slot * 0.7, 28.0), 2.0)
    peak = max(sum(p["fails"].values()) for p in points) or 1
    change_peak = max(max(p["new"], p["resolved"]) for p in points) or 1
    half = _TR_CHANGE_H / 2
    base = _TR_TOP + _TR_FAIL_H + _TR_GAP + half  # the new/resolved zero line
    columns = []
    for i, p in enumerate(points):
        x = _TR_LEFT + i * slot + (slot - bar) / 2
        y = _TR_TOP + _TR_FAIL_H
        parts = []
        for sev in SEVERITIES:
            n = p["fails"][sev]
            if n:
                h = max(_TR_FAIL_H * n / peak, 1.0)
                y -= h
                parts.append({"severity": sev, "count": n, "y": f"{y:.2f}", "h": f"{h:.2f}"})
        new_h = half * p["new"] / change_peak
        res_h = half * p["resolved"] / change_peak
        columns.append(
            {
                **p,
                "total": sum(p["fails"].values()),
                "x": f"{x:.2f}",
                "cx": f"{x + bar / 2:.2f}",
                "parts": parts,
                "new_y": f"{base - new_h:.2f}",
                "new_h": f"{new_h:.2f}",
                "res_h": f"{res_h:.2f}",
                "label": p["started_at"][:10] or p["run_id"][:10],
            }
        )
    return {
        "columns": columns,
        "bar": f"{bar:.2f}",
        "peak": peak,
        "change_peak": change_peak,
        "left": _TR_LEFT,
        "width": _TR_LEFT + _TR_WIDTH,
        "fail_top": _TR_TOP,
        "fail_base": _TR_TOP + _TR_FAIL_H,
        "change_top": base - half,
        "change_base": f"{base:.2f}",
        "change_bottom": base + half,
        "height": base + half + 60,
        "label_y": base + half + 14,
        "legend_y": base + half + 32,
        "legend": [{"severity": s, "x": _TR_LEFT + i * 72} for i, s in enumerate(SEVERITIES)],
        "incomplete": any(not p["complete"] for p in points),
    }
