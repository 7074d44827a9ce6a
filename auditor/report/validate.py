"""Check a findings.json against its documented shape (docs/findings-schema.md).

Every path a renderer or ``merge`` reads is checked before it is read, so a hand-edited
or truncated document fails naming its first offending field instead of deep inside a
format.
"""

from __future__ import annotations

from typing import Any

from auditor.core.model import REMEDIATION_STATUSES, SEVERITIES, STATUSES

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
    "caused_by": _OPT_STR,
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
