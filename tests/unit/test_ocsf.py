"""OCSF rendering: every record of the demo organisation's document validates against
py-ocsf-models' ComplianceFinding (and its Cloud object for the cloud profile), losslessly."""

from __future__ import annotations

import json

import pytest
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.objects.cloud import Cloud

from auditor.report.formats import asff, ocsf

from .demo_document import demo_document


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
    model = ComplianceFinding.model_validate(rest)
    assert model.model_dump(mode="json", exclude_unset=True) == rest


def test_every_record_validates_against_the_ocsf_model(doc, records):
    assert len(records) == len(doc["findings"])
    for record in records:
        validate(record)
        assert record["class_uid"] == 2003 and record["category_uid"] == 2
        assert record["type_uid"] == 2003 * 100 + record["activity_id"]


def test_check_status_severity_and_resource_are_mapped(doc, records):
    for f, r in zip(doc["findings"], records, strict=True):
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


def test_history_drives_the_activity(doc, records):
    fixed = doc["history"]["resolved"][0]
    by_uid = {r["finding_info"]["uid"]: r for r in records}
    closed = by_uid[asff.finding_id(fixed["check_id"], fixed["resource_arn"])]
    assert (closed["activity_id"], closed["status_id"]) == (3, 4)
    for f, r in zip(doc["findings"], records, strict=True):
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
