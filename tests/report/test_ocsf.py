"""OCSF rendering: every record of the demo organisation's document validates against
py-ocsf-models' ComplianceFinding (and its Cloud object for the cloud profile), losslessly,
and its captions and enum values against the official OCSF 1.5.0 schema.

SCHEMA_1_5_0 below is copied from github.com/ocsf/ocsf-schema at the v1.5.0 release commit
f0c227b4 ("v1.5.0 Release (#1410)", version.json "1.5.0"): ``dictionary.json``
(``severity_id``), ``events/findings/finding.json`` (``activity_id``, ``status_id``),
``events/findings/compliance_finding.json`` (caption "Compliance Finding", class 3 of
category 2 "Findings" in ``categories.json``), ``objects/compliance.json`` and
``objects/check.json`` (``status_id``, ``severity_id``). A ``*_id``'s sibling string is "normalized
to the caption of the ``*_id`` value" (same files); ``type_name`` is the caption of the
``type_uid`` enum, "<class caption>: <activity caption>" as the OCSF server builds and
enriches it (ocsf/ocsf-server ``lib/schema/generator.ex`` ``put_type_name``; its enrich
example gives ``"type_name": "Base Event: Unknown"``).
"""

from __future__ import annotations

import json

import pytest
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.objects.cloud import Cloud

from auditor.report.formats import asff, ocsf
from auditor.report.formats.common import scanned_scopes
from tests.report.demo_document import demo_document

SCHEMA_1_5_0 = {
    "class": (2003, "Compliance Finding", 2, "Findings"),
    "severity_id": {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High"}
    | {5: "Critical", 6: "Fatal", 99: "Other"},
    "activity_id": {0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"},
    "status_id": {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved"}
    | {5: "Archived", 99: "Other"},
    "compliance.status_id": {0: "Unknown", 1: "Pass", 2: "Warning", 3: "Fail", 99: "Other"},
}


@pytest.fixture(scope="module")
def doc():
    return demo_document()


@pytest.fixture(scope="module")
def records(doc):
    return ocsf.render(doc)


def validate(record: dict) -> None:
    """Valid, and nothing dropped: the model's dump equals the record (unknown keys would
    be ignored by pydantic, so a round trip is what proves every key is an OCSF attribute)."""
    rest = json.loads(json.dumps(record))
    cloud = rest.pop("cloud")
    assert Cloud.model_validate(cloud).model_dump(mode="json", exclude_unset=True) == cloud
    # The library's Compliance omits the schema's recommended ``status``: checked here.
    compliance_status = rest["compliance"].pop("status")
    caption = SCHEMA_1_5_0["compliance.status_id"][rest["compliance"]["status_id"]]
    assert compliance_status == caption
    model = ComplianceFinding.model_validate(rest)
    assert model.model_dump(mode="json", exclude_unset=True) == rest


def gone_entries(doc: dict) -> list[dict]:
    """Resolved entries of a read scope whose finding is no longer reported at all."""
    present = {(f["check_id"], f["resource_arn"]) for f in doc["findings"]}
    read = scanned_scopes(doc)
    return [
        e
        for e in doc["history"]["resolved"]
        if (e["account_id"], e["region"]) in read
        and (e["check_id"], e["resource_arn"]) not in present
    ]


def test_every_record_validates_against_the_ocsf_model(doc, records):
    assert len(gone_entries(doc)) == 1  # the demo's deleted server, in a scope read
    assert len(records) == len(doc["findings"]) + 1
    for record in records:
        validate(record)
        assert record["class_uid"] == 2003 and record["category_uid"] == 2
        assert record["type_uid"] == 2003 * 100 + record["activity_id"]


def test_every_caption_is_the_schemas_caption_of_its_id(records):
    class_uid, class_name, category_uid, category_name = SCHEMA_1_5_0["class"]
    severities = SCHEMA_1_5_0["severity_id"]
    for r in records:
        assert (r["class_uid"], r["class_name"]) == (class_uid, class_name)
        assert (r["category_uid"], r["category_name"]) == (category_uid, category_name)
        activity = SCHEMA_1_5_0["activity_id"][r["activity_id"]]
        assert r["type_name"] == f"{class_name}: {activity}"
        if r["activity_id"] != 99:  # Other: the source names the activity
            assert r["activity_name"] == activity
        assert r["severity"] == severities[r["severity_id"]]
        (check,) = r["compliance"]["checks"]
        assert check["severity"] == severities[check["severity_id"]]  # "High", not "high"
        compliance_caption = SCHEMA_1_5_0["compliance.status_id"][r["compliance"]["status_id"]]
        assert r["compliance"]["status"] == check["status"] == compliance_caption
        assert r["status"] == SCHEMA_1_5_0["status_id"][r["status_id"]]  # on every record
        assert r["metadata"]["product"]["uid"] == "mlflow-audit"


def test_check_status_severity_and_resource_are_mapped(doc, records):
    for f, r in zip(doc["findings"], records[: len(doc["findings"])], strict=True):
        assert r["metadata"]["event_code"] == f["check_id"]
        assert r["finding_info"]["analytic"]["uid"] == f["check_id"]
        assert r["compliance"]["control"] == f["check_id"]
        expected = {"PASS": 1, "UNKNOWN": 2, "FAIL": 3, "MUTED": 3}[f["status"]]
        assert r["compliance"]["status_id"] == expected
        assert r["status_code"] == f["status"]
        assert (
            r["severity_id"]
            == {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}[f["severity"]]
        )
        res = r["resources"][0]
        assert (res["uid"], res["region"]) == (f["resource_arn"], f["region"])
        assert res["owner"]["account"]["uid"] == r["cloud"]["account"]["uid"] == f["account_id"]
        assert r["finding_info"]["uid"] == asff.finding_id(f["check_id"], f["resource_arn"])
        assert f["remediation"]["command"] in r["remediation"]["desc"]
        assert len(r.get("evidences", [])) == len(f["evidence"])
        assert r["unmapped"]["mlflow_audit"]["risk"] == f["risk"]
        if f["status"] == "MUTED":
            assert r["status_id"] == 3 and r["status_detail"] == f["muted_reason"]
        expected_status = {"FAIL": 1, "UNKNOWN": 1, "MUTED": 3, "PASS": 4}[f["status"]]
        if f.get("caused_by"):  # a follow-on: its root FAIL is the finding to act on
            expected_status = 3
            assert r["status_detail"] == f"follows from the FAIL of {f['caused_by']}"
            assert r["unmapped"]["mlflow_audit"]["caused_by"] == f["caused_by"]
        assert r["status_id"] == expected_status  # PASS: Resolved, as Security Hub does


def test_follow_ons_are_suppressed_and_real_unknowns_stay_new(doc, records):
    by_uid = {r["finding_info"]["uid"]: r for r in records}
    unknown = [f for f in doc["findings"] if f["status"] == "UNKNOWN"]
    real = [f for f in unknown if not f["caused_by"]]
    follow = [f for f in unknown if f["caused_by"]]
    assert real and follow
    for f in unknown:
        r = by_uid[asff.finding_id(f["check_id"], f["resource_arn"])]
        assert (r["status_id"], r["status"]) == ((3, "Suppressed") if f in follow else (1, "New"))


def test_history_drives_the_activity(doc, records):
    fixed = doc["history"]["resolved"][0]
    by_uid = {r["finding_info"]["uid"]: r for r in records}
    closed = by_uid[asff.finding_id(fixed["check_id"], fixed["resource_arn"])]
    assert (closed["activity_id"], closed["status_id"]) == (3, 4)
    for f, r in zip(doc["findings"], records[: len(doc["findings"])], strict=True):
        if f.get("change") == "new":
            assert r["activity_name"] == "Create"
        elif f.get("change") == "unchanged":
            assert r["activity_name"] == "Update"


def test_references_come_from_the_rule_and_evidence_names_the_call(records):
    with_refs = [r for r in records if r["remediation"].get("references")]
    assert with_refs and all(
        ref.startswith("https://") for r in with_refs for ref in r["remediation"]["references"]
    )
    calls = {e["api"]["operation"] for r in records for e in r.get("evidences", []) if "api" in e}
    assert {"HeadBucket", "ListBuckets"} <= calls


def test_a_gone_resource_gets_a_close_record_exactly_when_asff_archives_it(doc, records):
    archived = {r["Id"] for r in asff.render(doc) if r["RecordState"] == "ARCHIVED"}
    closed = {r["finding_info"]["uid"] for r in records if r["activity_id"] == 3}
    assert len(archived) == 2 and closed == archived  # the fixed one and the gone one
    (gone,) = gone_entries(doc)
    (record,) = [r for r in records if r["resources"][0]["uid"] == gone["resource_arn"]]
    assert record is records[-1]  # after the findings still reported
    assert (record["activity_name"], record["type_uid"]) == ("Close", 200303)
    assert (record["status_id"], record["status"]) == (4, "Resolved")
    assert record["status_detail"] == "no longer found" and record["status_code"] == "RESOLVED"
    assert record["compliance"]["status_id"] == 1  # as ASFF: PASSED
    assert record["message"].startswith(f"Resolved: {gone['resource_name']} ")
    assert gone["message"] not in record["message"]
    assert record["finding_info"]["uid"] == asff.finding_id(gone["check_id"], gone["resource_arn"])
    assert record["unmapped"]["mlflow_audit"]["change"] == "resolved"
    unread = doc["history"]["resolved"][2]  # a scope this run did not read: never closed
    assert asff.finding_id(unread["check_id"], unread["resource_arn"]) not in closed


def test_without_history_nothing_is_closed(doc):
    night = dict(doc, history=None)
    records = ocsf.render(night)
    assert len(records) == len(doc["findings"])
    assert not any(r["activity_id"] == 3 for r in records)
