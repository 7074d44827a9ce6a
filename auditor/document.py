"""Assemble ``findings.json`` (the canonical output) and derive summary and exit code.

docs/findings-schema.md documents the format; CSV and HTML are renderings of it.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.errors import ConfigError
from auditor.model import RESOURCE_TYPES, SCHEMA_VERSION, Severity, Status
from auditor.scan import ScanResult

_STATUS_ORDER = {Status.FAIL: 0, Status.UNKNOWN: 1, Status.MUTED: 2, Status.PASS: 3}
_STATUSES = [s.value for s in Status]
_SEVERITIES = [s.value for s in Severity]


def _iso(ts: Any) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def sort_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worst first: FAIL before UNKNOWN before MUTED before PASS, then by severity."""
    return sorted(
        findings,
        key=lambda f: (
            _STATUS_ORDER.get(Status(f["status"]), 9),
            -Severity(f["severity"]).rank,
            f["account_id"],
            f["region"],
            f["resource_name"],
            f["check_id"],
        ),
    )


def exit_code(findings: list[dict[str, Any]], complete: bool, fail_on: str) -> int:
    """0 clean, 1 an unmuted FAIL at or above ``fail_on``, 3 incomplete scan otherwise."""
    if fail_on != "none":
        threshold = Severity(fail_on).rank
        if any(
            f["status"] == Status.FAIL and Severity(f["severity"]).rank >= threshold
            for f in findings
        ):
            return 1
    return 0 if complete else 3


def gate_on_new(doc: dict[str, Any], history_ok: bool) -> None:
    """``--fail-on-new``: exit 1 only for qualifying FAILs whose ``change`` is ``new``.

    Without a usable history every FAIL counts as new (fail safe: the same exit code as
    plain ``--fail-on``). The verdict keeps describing every finding; only the exit
    code is gated.
    """
    findings = doc["findings"]
    if history_ok:
        findings = [f for f in findings if f.get("change") == "new"]
    run = doc["run"]
    doc["summary"]["exit_code"] = exit_code(findings, bool(run["complete"]), run["fail_on"])


def summarize(
    findings: list[dict[str, Any]], errors: list[dict[str, Any]], complete: bool, fail_on: str
) -> dict[str, Any]:
    by_status = Counter(f["status"] for f in findings)
    fail_by_severity = Counter(f["severity"] for f in findings if f["status"] == Status.FAIL)
    by_check: dict[str, Counter[str]] = defaultdict(Counter)
    by_account: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        by_check[f["check_id"]][f["status"]] += 1
        by_account[f["account_id"]][f["status"]] += 1
    code = exit_code(findings, complete, fail_on)
    return {
        "total": len(findings),
        "by_status": {s: by_status.get(s, 0) for s in _STATUSES},
        "fail_by_severity": {s: fail_by_severity.get(s, 0) for s in _SEVERITIES},
        "by_check": {k: {s: v.get(s, 0) for s in _STATUSES} for k, v in sorted(by_check.items())},
        "by_account": {
            k: {s: v.get(s, 0) for s in _STATUSES} for k, v in sorted(by_account.items())
        },
        "resources": len({f["resource_arn"] for f in findings}),
        "errors": len(errors),
        "exit_code": code,
        "verdict": {0: "PASS", 1: "FAIL", 3: "INCOMPLETE"}[code],
    }


def new_run_id(started: Any) -> str:
    return f"{started.strftime('%Y-%m-%dT%H-%M-%SZ')}-{secrets.token_hex(3)}"


def _coverage_by_type(result: ScanResult) -> dict[str, dict[str, list[str]]]:
    """{resource type: {"offered": regions, "not_offered": regions}} over the scanned scopes
    (a region counts as offered when any account could list the type there)."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind in RESOURCE_TYPES:
        offered = {
            s.region for s in result.scopes if s.status != "skipped" and kind not in s.not_offered
        }
        missing = {s.region for s in result.scopes if kind in s.not_offered} - offered
        out[kind] = {"offered": sorted(offered), "not_offered": sorted(missing)}
    return out


def build_document(
    result: ScanResult,
    fail_on: str,
    shard: tuple[int, int] | None = None,
    remediations: list[dict[str, Any]] | None = None,
    policy_source: str | None = None,
    fail_on_new: bool = False,
) -> dict[str, Any]:
    # ``change`` is filled by auditor.history when a run history is kept.
    for f in result.findings:  # in place: an organisation's findings are not copied
        f.setdefault("change", None)
    findings = sort_findings(result.findings)
    errors = [e.to_dict() for e in result.errors]
    failed_accounts = {a.account_id for a in result.accounts if a.error is not None}
    regions = sorted({s.region for s in result.scopes if s.status != "skipped"})
    run = {
        "id": new_run_id(result.started_at),
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "tool_version": __version__,
        "caller_account_id": result.caller_account_id,
        "accounts": [
            {
                "account_id": a.account_id,
                "name": a.name,
                "access": a.access,
                "status": "error" if a.account_id in failed_accounts else "scanned",
            }
            for a in result.accounts
        ],
        "regions": regions,
        "scopes": [
            {
                "account_id": s.account_id,
                "region": s.region,
                "status": s.status,
                "resources": s.resources,
                "not_offered": s.not_offered,
            }
            for s in result.scopes
            if s.status != "skipped"
        ],
        # Per resource type, the scanned regions where SageMaker offers it and where not.
        "coverage": _coverage_by_type(result),
        "warnings": list(result.warnings),
        # Offered regions that are not enabled for an account: nothing can live there.
        "regions_not_enabled": {
            a.account_id: a.skipped_regions for a in result.accounts if a.skipped_regions
        },
        "trusted_accounts": result.trusted_accounts,
        "fail_on": fail_on,
        "fail_on_new": fail_on_new,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "policy": policy_source,
        "expired_waivers": result.expired_waivers,
        "stats": result.stats,
        "complete": result.complete,
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "summary": summarize(findings, errors, result.complete, fail_on),
        "findings": findings,
        "errors": errors,
        "remediations": remediations or [],
    }


def load_document(path: str | Path) -> dict[str, Any]:
    """Read a findings.json for re-rendering; ConfigError (exit 2) when unusable."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or "findings" not in doc or "schema_version" not in doc:
        raise ConfigError(f"{path}: not an mlflow-audit findings.json (no schema_version)")
    major = str(doc["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise ConfigError(
            f"{path}: schema_version {doc['schema_version']} is not supported "
            f"(this is {SCHEMA_VERSION})"
        )
    if not isinstance(doc["findings"], list):
        raise ConfigError(f"{path}: findings must be a list")
    required = (
        "check_id",
        "status",
        "severity",
        "account_id",
        "region",
        "resource_name",
        "resource_arn",
    )
    for n, finding in enumerate(doc["findings"]):
        if not isinstance(finding, dict) or any(k not in finding for k in required):
            raise ConfigError(
                f"{path}: finding #{n + 1} is not a finding object (needs {', '.join(required)})"
            )
    run = doc.get("run")
    if not isinstance(run, dict) or not {"started_at", "finished_at"} <= set(run):
        raise ConfigError(f"{path}: run must be an object with started_at and finished_at")
    for key in ("errors", "remediations"):
        if not isinstance(doc.get(key, []), list):
            raise ConfigError(f"{path}: {key} must be a list")
    doc.setdefault("errors", [])
    doc.setdefault("remediations", [])
    return doc
