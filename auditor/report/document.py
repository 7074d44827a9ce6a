"""Assemble ``findings.json`` (the canonical output) and derive summary and exit code.

docs/findings-schema.md documents the format; CSV and HTML are renderings of it.
``auditor.report.validate`` checks a document against it and ``auditor.report.load``
reads one back.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter, defaultdict
from typing import Any

from auditor import __version__
from auditor.core.checks import Exposure, exposure
from auditor.core.kinds import KINDS
from auditor.core.model import (
    SCHEMA_VERSION,
    SEVERITIES,
    STATUSES,
    ErrorRecord,
    Finding,
    RemediationRecord,
    RunInfo,
    ScanResult,
    Severity,
    Status,
)

_STATUS_ORDER = {s: n for n, s in enumerate(STATUSES)}
_STATUSES = [s.value for s in Status]  # summary key order of findings.json
_SEVERITIES = list(SEVERITIES)


_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _iso(ts: Any) -> str:
    return ts.strftime(_ISO_FORMAT)


def _parse_iso(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, _ISO_FORMAT).replace(tzinfo=dt.UTC)


def exploitable_resources(
    findings: list[dict[str, Any]], checks: Exposure | None = None
) -> set[str]:
    """ARNs whose bucket is missing or foreign while nothing verifies its owner (an MLflow
    App, or a server with verification off): anyone can receive their artifacts now. A
    server that verifies a trusted owner fails closed instead (an outage).

    Which checks say so is the rules' data (``exposes``, ``verifies_owner``)."""
    checks = checks or exposure()
    verifying = {
        f["resource_arn"]
        for f in findings
        if f["check_id"] in checks.verifying and f["status"] == Status.PASS
    }
    return {
        f["resource_arn"]
        for f in findings
        if f["check_id"] in checks.exposing
        and f["status"] == Status.FAIL
        and f["resource_arn"] not in verifying
    }


def exposure_ranks(
    findings: list[dict[str, Any]], checks: Exposure | None = None
) -> dict[str, int]:
    """ARN -> how exploitable the resource is now, 0 worst; resources not listed are not.

    0: exploitable, its execution role can write anywhere, and it registers models
    automatically (the compensating check FAILs at critical: a poisoned model flows on
    into the Model Registry); 1: exploitable with no compensating control; 2: exploitable
    but its role cannot write outside the trusted accounts (the compensating check
    PASSes: a sniped bucket could not be written with it)."""
    checks = checks or exposure()
    exposed = exploitable_resources(findings, checks)
    ranks = dict.fromkeys(exposed, 1)
    for f in findings:
        arn = f["resource_arn"]
        if arn not in ranks or f["check_id"] not in checks.compensating:
            continue
        if f["status"] == Status.PASS:
            ranks[arn] = 2
        elif f["status"] == Status.FAIL and f["severity"] == Severity.CRITICAL:
            ranks[arn] = 0
    return ranks


def sort_findings(
    findings: list[dict[str, Any]], checks: Exposure | None = None
) -> list[dict[str, Any]]:
    """Worst first: FAIL before UNKNOWN before MUTED before PASS; among FAILs, those of
    resources exploitable now (verification off and a missing or foreign bucket) first,
    ranked by :func:`exposure_ranks` (an execution role that can write anywhere on a
    resource that registers models automatically first, one that cannot write outside
    the trusted accounts last); among UNKNOWNs, follow-ons of a FAIL (``caused_by``) last;
    then by severity."""
    ranks = exposure_ranks(findings, checks)
    return sorted(
        findings,
        key=lambda f: (
            _STATUS_ORDER.get(f["status"], 9),
            ranks.get(f["resource_arn"], 3) if f["status"] == Status.FAIL else 3,
            1 if f.get("caused_by") else 0,
            -Severity(f["severity"]).rank,
            f["account_id"],
            f["region"],
            f["resource_name"],
            f["check_id"],
        ),
    )


def severity_first(
    items: list[dict[str, Any]], findings: list[dict[str, Any]], checks: Exposure | None = None
) -> list[dict[str, Any]]:
    """``items`` (some of ``findings``) in the terminal's order: by severity, then those of
    resources exploitable now first, in :func:`exposure_ranks`'s order (decided over all
    ``findings``, as :func:`sort_findings` does), then where they are."""
    ranks = exposure_ranks(findings, checks)
    return sorted(
        items,
        key=lambda f: (
            -Severity(f["severity"]).rank,
            ranks.get(f["resource_arn"], 3),
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
    at_threshold = 0
    if fail_on != "none":
        rank = Severity(fail_on).rank
        at_threshold = sum(n for sev, n in fail_by_severity.items() if Severity(sev).rank >= rank)
    follow_ons = sum(1 for f in findings if f["status"] == Status.UNKNOWN and f.get("caused_by"))
    return {
        "total": len(findings),
        "by_status": {s: by_status.get(s, 0) for s in _STATUSES},
        # UNKNOWNs that only follow from a FAIL of the same resource (``caused_by``): part
        # of by_status.UNKNOWN, but nothing to investigate on their own.
        "unknown_follow_on": follow_ons,
        "unknown_to_review": by_status.get(Status.UNKNOWN, 0) - follow_ons,
        "fail_by_severity": {s: fail_by_severity.get(s, 0) for s in _SEVERITIES},
        "by_check": {k: {s: v.get(s, 0) for s in _STATUSES} for k, v in sorted(by_check.items())},
        "by_account": {
            k: {s: v.get(s, 0) for s in _STATUSES} for k, v in sorted(by_account.items())
        },
        "resources": len({f["resource_arn"] for f in findings}),
        "errors": len(errors),
        "exit_code": code,
        "verdict": verdict(by_status.get("FAIL", 0), complete),
        # The threshold is a separate fact: the verdict describes the findings.
        "fail_on": fail_on,
        "fail_at_or_above_threshold": at_threshold,
    }


def verdict(fails: int, complete: bool) -> str:
    """What the findings say, whatever ``--fail-on`` gates the exit code on: FAIL when
    any unmuted FAIL exists, else INCOMPLETE when a scope could not be read, else PASS."""
    if fails:
        return "FAIL"
    return "PASS" if complete else "INCOMPLETE"


def new_run_id(started: Any) -> str:
    return f"{started.strftime('%Y-%m-%dT%H-%M-%SZ')}-{secrets.token_hex(3)}"


def _coverage_by_type(scopes: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """{resource type: {"offered": regions, "not_offered": regions}} over the scanned scopes
    (a region counts as offered when any account could list the type there)."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind in list(KINDS):
        offered = {s["region"] for s in scopes if kind not in (s.get("not_offered") or ())}
        missing = {s["region"] for s in scopes if kind in (s.get("not_offered") or ())} - offered
        out[kind] = {"offered": sorted(offered), "not_offered": sorted(missing)}
    return out


def make_run(  # noqa: PLR0913 - one keyword per RunInfo field
    *,
    started_at: str,
    finished_at: str,
    caller_account_id: str | None,
    accounts: list[dict[str, Any]],
    scopes: list[dict[str, Any]],
    warnings: list[str],
    regions_not_enabled: dict[str, list[str]],
    trusted_accounts: list[str],
    fail_on: str,
    fail_on_new: bool,
    shard: str | None,
    policy: str | None,
    expired_waivers: list[dict[str, Any]],
    stats: dict[str, int],
    complete: bool,
    run_id: str | None = None,
    **merge_only: Any,
) -> RunInfo:
    """The ``run`` record, for a scan and for a merge alike (one field list: RunInfo).

    ``regions`` is derived from ``scopes``; ``merge_only`` takes ``merged_from`` and
    ``missing_shards``, nothing else.
    """
    unknown = set(merge_only) - {"merged_from", "missing_shards"}
    if unknown:
        raise TypeError(f"make_run: unknown run field(s) {sorted(unknown)}")
    run: RunInfo = {
        "id": run_id or new_run_id(_parse_iso(started_at)),
        "started_at": started_at,
        "finished_at": finished_at,
        "tool_version": __version__,
        "caller_account_id": caller_account_id,
        "accounts": accounts,
        "regions": sorted({s["region"] for s in scopes}),
        "scopes": scopes,
        # Per resource kind, the scanned regions where its service offers it and where not.
        "coverage": _coverage_by_type(scopes),
        "warnings": warnings,
        "regions_not_enabled": regions_not_enabled,
        "trusted_accounts": trusted_accounts,
        "fail_on": fail_on,
        "fail_on_new": fail_on_new,
        "shard": shard,
        "policy": policy,
        "expired_waivers": expired_waivers,
        "stats": stats,
        "complete": complete,
    }
    run.update(merge_only)  # type: ignore[typeddict-item]
    return run


def make_document(
    run: RunInfo,
    findings: list[Finding],
    errors: list[ErrorRecord],
    remediations: list[RemediationRecord],
) -> dict[str, Any]:
    """findings.json: the run, its summary, and the records (findings sorted worst first)."""
    findings = sort_findings(findings)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "summary": summarize(findings, errors, run["complete"], run["fail_on"]),
        "findings": findings,
        "errors": errors,
        "remediations": remediations,
    }


def build_document(
    result: ScanResult,
    fail_on: str,
    shard: tuple[int, int] | None = None,
    remediations: list[dict[str, Any]] | None = None,
    policy_source: str | None = None,
    fail_on_new: bool = False,
) -> dict[str, Any]:
    # ``change`` is filled by auditor.history.database when a run history is kept.
    for f in result.findings:  # in place: an organisation's findings are not copied
        f.setdefault("change", None)
    failed_accounts = {a.account_id for a in result.accounts if a.error is not None}
    run = make_run(
        run_id=new_run_id(result.started_at),
        started_at=_iso(result.started_at),
        finished_at=_iso(result.finished_at),
        caller_account_id=result.caller_account_id,
        accounts=[
            {
                "account_id": a.account_id,
                "name": a.name,
                "access": a.access,
                "status": "error" if a.account_id in failed_accounts else "scanned",
            }
            for a in result.accounts
        ],
        scopes=[
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
        warnings=list(result.warnings),
        # Offered regions that are not enabled for an account: nothing can live there.
        regions_not_enabled={
            a.account_id: a.skipped_regions for a in result.accounts if a.skipped_regions
        },
        trusted_accounts=result.trusted_accounts,
        fail_on=fail_on,
        fail_on_new=fail_on_new,
        shard=f"{shard[0]}/{shard[1]}" if shard else None,
        policy=policy_source,
        expired_waivers=result.expired_waivers,
        stats=result.stats,
        complete=result.complete,
    )
    errors = [e.to_dict() for e in result.errors]
    return make_document(run, result.findings, errors, remediations or [])  # type: ignore[arg-type]
