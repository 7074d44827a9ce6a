"""Assemble ``findings.json`` (the canonical output) and derive summary and exit code.

docs/findings-schema.md documents the format; CSV and HTML are renderings of it.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.core.errors import ConfigError
from auditor.core.model import (
    REMEDIATION_STATUSES,
    RESOURCE_TYPES,
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


VERIFICATION_CHECK = "mlflow_s3_owner_verification_enabled"
#: A FAIL of one of these on a resource that does not verify the owner is exploitable now.
BUCKET_CHECKS = frozenset({"mlflow_artifact_bucket_exists", "mlflow_artifact_bucket_owner_trusted"})


def exploitable_resources(findings: list[dict[str, Any]]) -> set[str]:
    """ARNs whose bucket is missing or foreign while nothing verifies its owner (an MLflow
    App, or a server with verification off): anyone can receive their artifacts now. A
    server that verifies a trusted owner fails closed instead (an outage)."""
    verifying = {
        f["resource_arn"]
        for f in findings
        if f["check_id"] == VERIFICATION_CHECK and f["status"] == Status.PASS
    }
    return {
        f["resource_arn"]
        for f in findings
        if f["check_id"] in BUCKET_CHECKS
        and f["status"] == Status.FAIL
        and f["resource_arn"] not in verifying
    }


def sort_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worst first: FAIL before UNKNOWN before MUTED before PASS; among FAILs, those of
    resources exploitable now (verification off and a missing or foreign bucket) first;
    then by severity."""
    exposed = exploitable_resources(findings)
    return sorted(
        findings,
        key=lambda f: (
            _STATUS_ORDER.get(f["status"], 9),
            0 if f["status"] == Status.FAIL and f["resource_arn"] in exposed else 1,
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
    at_threshold = 0
    if fail_on != "none":
        rank = Severity(fail_on).rank
        at_threshold = sum(n for sev, n in fail_by_severity.items() if Severity(sev).rank >= rank)
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
    for kind in RESOURCE_TYPES:
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
        # Per resource type, the scanned regions where SageMaker offers it and where not.
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


#: findings.json files larger than this are refused by ``report`` and ``merge``.
MAX_DOCUMENT_BYTES = 2 << 30

_STR = (str,)
_OPT_STR = (str, type(None))
_FINDING_TYPES: dict[str, tuple[type, ...]] = {
    "check_id": _STR,
    "status": _STR,
    "severity": _STR,
    "account_id": _STR,
    "region": _STR,
    "resource_name": _STR,
    "resource_arn": _STR,
    "resource_type": _OPT_STR,
    "title": _OPT_STR,
    "artifact_store_uri": _OPT_STR,
    "bucket": _OPT_STR,
    "expected_owner": _OPT_STR,
    "actual_owner": _OPT_STR,
    "message": _OPT_STR,
    "risk": _OPT_STR,
    "muted_reason": _OPT_STR,
    "change": _OPT_STR,
    "first_seen": _OPT_STR,
    "evidence": (list,),
    "remediation": (dict, type(None)),
}
_REQUIRED_FINDING = (
    "check_id",
    "status",
    "severity",
    "account_id",
    "region",
    "resource_name",
    "resource_arn",
)
_ENUMS = {"status": STATUSES, "severity": tuple(SEVERITIES), "change": ("new", "unchanged")}


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")


def _expect(value: Any, types: tuple[type, ...], where: str) -> None:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = " or ".join(
            {dict: "object", list: "array", str: "string", type(None): "null"}.get(t, t.__name__)
            for t in types
        )
        raise ValueError(f"{where}: expected {names}, got {_type_name(value)}")


def validate_document(doc: Any) -> None:
    """Check a findings.json against docs/findings-schema.md; ValueError names the path
    of the first offending field (``findings[3].evidence: expected array, got string``).

    Unknown status, severity or change values are errors, not silently dropped totals.
    """
    _expect(doc, (dict,), "(top level)")
    for key in ("schema_version", "findings"):
        if key not in doc:
            raise ValueError(f"{key}: missing")
    _expect(doc["findings"], (list,), "findings")
    for n, finding in enumerate(doc["findings"]):
        _validate_finding(finding, f"findings[{n}]")
    _validate_run(doc)
    _validate_records(doc)
    for key in ("summary", "history"):
        if key in doc and doc[key] is not None:
            _expect(doc[key], (dict,), key)


def _validate_finding(finding: Any, where: str) -> None:
    _expect(finding, (dict,), where)
    for key in _REQUIRED_FINDING:
        if key not in finding:
            raise ValueError(f"{where}.{key}: missing")
    for key, types in _FINDING_TYPES.items():
        if key in finding:
            _expect(finding[key], types, f"{where}.{key}")
    for key, allowed in _ENUMS.items():
        value = finding.get(key)
        if value is not None and value not in allowed:
            raise ValueError(
                f"{where}.{key}: unknown value {value!r} (one of {', '.join(allowed)})"
            )
    for m, ev in enumerate(finding.get("evidence") or []):
        _expect(ev, (dict,), f"{where}.evidence[{m}]")
        if "params" in ev:
            _expect(ev["params"], (dict, type(None)), f"{where}.evidence[{m}].params")


def _validate_run(doc: dict[str, Any]) -> None:
    if "run" not in doc:
        raise ValueError("run: missing")
    run = doc["run"]
    _expect(run, (dict,), "run")
    for key in ("started_at", "finished_at"):
        if key not in run:
            raise ValueError(f"run.{key}: missing")
        _expect(run[key], _STR, f"run.{key}")
    for key in ("accounts", "scopes", "regions", "expired_waivers", "trusted_accounts"):
        if key in run:
            _expect(run[key], (list,), f"run.{key}")
    for key in ("accounts", "scopes", "expired_waivers"):
        for n, item in enumerate(run.get(key) or []):
            _expect(item, (dict,), f"run.{key}[{n}]")


def _validate_records(doc: dict[str, Any]) -> None:
    """The ``errors`` and ``remediations`` lists (optional), and each remediation's status."""
    for key in ("errors", "remediations"):
        _expect(doc.get(key, []), (list,), key)
        for n, item in enumerate(doc.get(key) or []):
            _expect(item, (dict,), f"{key}[{n}]")
    for n, rem in enumerate(doc.get("remediations") or []):
        status = rem.get("status")
        if status not in REMEDIATION_STATUSES:
            raise ValueError(
                f"remediations[{n}].status: unknown value {status!r} "
                f"(one of {', '.join(REMEDIATION_STATUSES)})"
            )


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
