"""AWS Security Finding Format (ASFF): what Security Hub's BatchImportFindings takes.

``render(doc)`` turns a findings document into ASFF findings, one per *problem* finding
(FAIL, UNKNOWN, MUTED; not a follow-on, see below) plus one per finding resolved since the
previous run:

- ``Id`` is derived from the history identity ``(check_id, resource_arn)`` only, so the same
  finding has the same Id every night and Security Hub updates it instead of duplicating it.
- ``ProductArn`` is the default product of the finding's own account and region
  (``arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default``): Security Hub requires the
  calling account to be the finding's ``AwsAccountId`` for it ("Guidelines for using the
  BatchImportFindings API", Security Hub partner guide), so imports run per account.
- ``CreatedAt`` is when the problem was first seen: the finding's ``first_seen`` when the
  document carries one, else the run's start (a first run). ``UpdatedAt`` is this run's
  end, except on the import that creates the finding (``CreatedAt`` is this run's start:
  history says it is new, or there is no history), where it equals ``CreatedAt``: "Upon
  creation of a finding record, the CreatedAt and UpdatedAt timestamps must be the same"
  (UpdatedAt, "Required top-level ASFF attributes", Security Hub user guide).
- Status: FAIL and MUTED -> ``Compliance.Status`` FAILED (a waiver is recorded in
  ``ProductFields``; ``Workflow`` belongs to the Security Hub user and BatchImportFindings
  cannot change it after creation), UNKNOWN -> WARNING (evidence was missing). Resolved
  findings -> PASSED and ``RecordState`` ARCHIVED, described as resolved (why it closed, not
  its old failure); nothing else is ever archived, and only resolved findings of a scope
  this run read (``run.scopes``) are rendered at all (``common.closed_findings``, which the
  OCSF rendering closes too).
- ``Severity.Label`` is the rule's severity, except for WARNING: INFORMATIONAL (``Original``
  ``info``). A check that could not be evaluated found no issue (INFORMATIONAL: "No issue
  was found", ``Severity`` in the Security Hub API reference), and rules keyed on HIGH or
  CRITICAL must not page on it. The rule's severity is always in
  ``ProductFields["mlflow-audit/RuleSeverity"]``.
- A follow-on (an UNKNOWN ``caused_by`` a FAIL of the same resource) is never ACTIVE: its
  root FAIL is the finding to act on. It is rendered only on the run it became a
  follow-on while it was a problem of its own before (``first_seen`` carried from the
  history), ARCHIVED, so a record sent by an earlier run is closed exactly once.
- PASS findings that were never a problem are not rendered: re-sending them as ACTIVE every
  night would re-open findings archived the night they were fixed.
- ``Severity`` and ``Types`` are also in ``FindingProviderFields``: providers must update those
  through it once the finding exists (BatchImportFindings API reference).
- ``Resources``: the MLflow resource as ``Other`` (Security Hub has no MLflow resource type)
  with its details, and the artifact bucket as ``AwsS3Bucket`` when the URI names one.

String limits follow the ASFF syntax page (Title 256, Description 1024, Recommendation
text 512, ProductFields values 2048 here, Other details 1024).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from auditor.report.formats.common import (
    closed_findings,
    identity,
    json_array,
    parse_time,
    partition_of,
    references,
    resolved_text,
    rule_title,
    truncate,
)

SCHEMA_VERSION = "2018-10-08"
PRODUCT_NAME = "mlflow-audit"
TYPE_PREFIX = "Software and Configuration Checks/AWS Security Best Practices"
_ID_MAX = 512

SEVERITY_LABEL = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}
COMPLIANCE_STATUS = {"FAIL": "FAILED", "MUTED": "FAILED", "UNKNOWN": "WARNING", "PASS": "PASSED"}
RESOLVED_RECOMMENDATION = "Nothing to do: this finding is resolved."


def product_arn(account_id: str, region: str, partition: str = "aws") -> str:
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def finding_id(check_id: str, resource_arn: str) -> str:
    """Stable per (check, resource): readable when it fits, hashed when it would not."""
    plain = f"mlflow-audit/{check_id}/{resource_arn}"
    if len(plain) <= _ID_MAX:
        return plain
    digest = hashlib.sha256(plain.encode("utf-8")).hexdigest()
    return f"mlflow-audit/{check_id}/sha256-{digest}"


def _details(finding: dict[str, Any]) -> dict[str, str]:
    keys = (
        "resource_type",
        "resource_name",
        "artifact_store_uri",
        "bucket",
        "expected_owner",
        "actual_owner",
    )
    return {k: truncate(finding[k], 1024) for k in keys if finding.get(k) not in (None, "")}


def _resources(finding: dict[str, Any]) -> list[dict[str, Any]]:
    arn = str(finding["resource_arn"])
    partition = partition_of(arn)
    region = str(finding["region"])
    main: dict[str, Any] = {"Type": "Other", "Id": arn, "Partition": partition, "Region": region}
    details = _details(finding)
    if details:
        main["Details"] = {"Other": details}
    out = [main]
    bucket = finding.get("bucket")
    if bucket:
        out.append(
            {
                "Type": "AwsS3Bucket",
                "Id": f"arn:{partition}:s3:::{bucket}",
                "Partition": partition,
                "Region": region,
            }
        )
    return out


def _recommendation(finding: dict[str, Any], resolved: bool) -> dict[str, str]:
    fix = {} if resolved else finding.get("remediation") or {}
    parts = [str(fix.get("text") or "").strip(), str(fix.get("command") or "").strip()]
    text = " Command: ".join(p for p in parts if p) or "See the mlflow-audit report."
    rec = {"Text": truncate(RESOLVED_RECOMMENDATION if resolved else text, 512)}
    refs = references(finding)
    if refs:
        rec["Url"] = refs[0]
    return rec


def _product_fields(finding: dict[str, Any], run_id: str, resolved: bool) -> dict[str, str]:
    fields = {
        "mlflow-audit/CheckId": str(finding["check_id"]),
        "mlflow-audit/Status": "RESOLVED" if resolved else str(finding["status"]),
        "mlflow-audit/RuleSeverity": str(finding.get("severity") or "info"),
        "mlflow-audit/RunId": run_id,
    }
    fix = {} if resolved else finding.get("remediation") or {}
    optional = {
        "mlflow-audit/Change": finding.get("change"),
        "mlflow-audit/CausedBy": finding.get("caused_by"),
        "mlflow-audit/MutedReason": finding.get("muted_reason"),
        "mlflow-audit/Risk": finding.get("risk"),
        "mlflow-audit/RemediationCommand": fix.get("command"),
    }
    for key, value in optional.items():
        if value:
            fields[key] = truncate(value, 2048)
    if finding.get("evidence"):
        fields["mlflow-audit/Evidence"] = truncate(
            json.dumps(finding["evidence"], sort_keys=True, separators=(",", ":")), 2048
        )
    return fields


def _created_at(finding: dict[str, Any], started: str) -> str:
    first_seen = finding.get("first_seen")
    return str(first_seen) if parse_time(first_seen) else started


def to_asff(
    finding: dict[str, Any],
    *,
    run: dict[str, Any],
    record_state: str = "ACTIVE",
    compliance_status: str | None = None,
) -> dict[str, Any]:
    """One ASFF finding for one mlflow-audit finding (or, ARCHIVED, a resolved one)."""
    account = str(finding["account_id"])
    region = str(finding["region"])
    check_id = str(finding["check_id"])
    arn = str(finding["resource_arn"])
    started = str(run["started_at"])
    created = _created_at(finding, started)
    # The import that creates the record: the history calls the problem new, or there is
    # no first sighting at all (no history). Never decided by comparing the timestamps:
    # two runs in the same second would make an unchanged finding look new.
    first_import = finding.get("change") == "new" or not parse_time(finding.get("first_seen"))
    updated = created if first_import else str(run.get("finished_at") or started)
    status = compliance_status or COMPLIANCE_STATUS.get(str(finding["status"]), "WARNING")
    severity = "info" if status == "WARNING" else str(finding.get("severity") or "info")
    label = SEVERITY_LABEL.get(severity, "INFORMATIONAL")
    types = [f"{TYPE_PREFIX}/{check_id}"]
    title = finding.get("title") or rule_title(check_id)
    follow_on = finding.get("caused_by")
    resolved = record_state == "ARCHIVED" and not follow_on
    description = resolved_text(finding) if resolved else finding.get("message") or title
    if follow_on:
        description = f"Follows from the FAIL of {follow_on} on this resource: {description}"
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(check_id, arn),
        "ProductArn": product_arn(account, region, partition_of(arn)),
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_NAME,
        "GeneratorId": f"mlflow-audit/{check_id}",
        "AwsAccountId": account,
        "Region": region,
        "Types": types,
        "FirstObservedAt": created,
        "LastObservedAt": started,
        "CreatedAt": created,
        "UpdatedAt": updated,
        "Severity": {"Label": label, "Original": severity},
        "FindingProviderFields": {
            "Severity": {"Label": label, "Original": severity},
            "Types": types,
        },
        "Title": truncate(title, 256),
        "Description": truncate(description, 1024),
        "Remediation": {"Recommendation": _recommendation(finding, resolved)},
        "ProductFields": _product_fields(finding, str(run.get("id") or ""), resolved),
        "Resources": _resources(finding),
        "Compliance": {"Status": status},
        "RecordState": record_state,
    }


def render(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """ASFF findings for ``doc``: problems ACTIVE, resolved-since-last-run ARCHIVED/PASSED."""
    run = doc["run"]
    closed = closed_findings(doc)
    out = [
        to_asff(source, run=run, record_state="ARCHIVED", compliance_status="PASSED")
        for source in closed.values()
    ]
    for finding in doc.get("findings") or []:
        if identity(finding) in closed or finding.get("status") == "PASS":
            continue
        if not finding.get("caused_by"):
            out.append(to_asff(finding, run=run))
        elif finding.get("first_seen"):  # a problem of its own until this run
            out.append(to_asff(finding, run=run, record_state="ARCHIVED"))
    return out


def render_file(doc: dict[str, Any]) -> Iterator[str]:
    """findings.asff.json: the records of :func:`render` as a JSON array."""
    return json_array(render(doc))
