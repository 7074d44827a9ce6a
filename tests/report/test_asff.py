"""ASFF rendering: every BatchImportFindings requirement, stable Ids, resolved -> archived.

Records are checked against botocore's own Security Hub service model: its ParamValidator
on the BatchImportFindings input (types, required members, minimum lengths, unknown keys)
and, below, the enum values and maximum lengths the validator leaves to the service.
"""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.validate import ParamValidator

from auditor.report.formats import asff
from auditor.report.formats.common import scanned_scopes
from tests.report.demo_document import demo_document

MODEL = botocore.session.get_session().get_service_model("securityhub")
FINDING_SHAPE = MODEL.shape_for("AwsSecurityFinding")
IMPORT_INPUT = MODEL.operation_model("BatchImportFindings").input_shape


@pytest.fixture(scope="module")
def doc():
    return demo_document()


@pytest.fixture(scope="module")
def records(doc):
    return asff.render(doc)


def model_errors(value, shape, path="") -> list[str]:
    """Enum values and maximum lengths of ``shape`` that ``value`` breaks (recursively)."""
    errors: list[str] = []
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                errors += model_errors(value[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        for n, item in enumerate(value):
            errors += model_errors(item, shape.member, f"{path}[{n}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            errors += model_errors(key, shape.key, f"{path}<key>")
            errors += model_errors(item, shape.value, f"{path}[{key}]")
    elif shape.type_name == "string":
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in {shape.enum}")
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            errors.append(f"{path}: longer than {shape.metadata['max']}")
    return errors


def test_every_record_is_valid_batch_import_input(records):
    assert records
    for start in range(0, len(records), 100):
        report = ParamValidator().validate({"Findings": records[start : start + 100]}, IMPORT_INPUT)
        assert not report.has_errors(), report.generate_report()
    assert FINDING_SHAPE.members["RecordState"].enum == ["ACTIVE", "ARCHIVED"]  # model read
    for r in records:
        assert model_errors(r, FINDING_SHAPE) == []
        assert set(FINDING_SHAPE.required_members) <= set(r)
        fields = r["ProductFields"]  # limits of the model's ProductFields documentation
        assert len(fields) <= 50
        assert all(len(k) <= 128 and len(v) <= 2048 for k, v in fields.items())
        assert r["SchemaVersion"] == "2018-10-08"
        assert len(r["Title"]) <= 256 and len(r["Description"]) <= 1024
        assert len(r["Remediation"]["Recommendation"]["Text"]) <= 512


def test_product_arn_types_and_resources(records):
    for r in records:
        account, region = r["AwsAccountId"], r["Region"]
        assert r["ProductArn"] == (
            f"arn:aws:securityhub:{region}:{account}:product/{account}/default"
        )
        assert all(t.startswith("Software and Configuration Checks/") for t in r["Types"])
        assert r["FindingProviderFields"]["Types"] == r["Types"]
        main = r["Resources"][0]
        assert main["Type"] == "Other" and main["Id"].startswith("arn:aws:sagemaker:")
        assert main["Region"] == region
        if "Details" in main:
            assert set(main["Details"]["Other"]) <= {
                "resource_type",
                "resource_name",
                "artifact_store_uri",
                "bucket",
                "expected_owner",
                "actual_owner",
            }
        buckets = [x for x in r["Resources"] if x["Type"] == "AwsS3Bucket"]
        assert all(re.fullmatch(r"arn:aws:s3:::[a-z0-9.\-]+", b["Id"]) for b in buckets)


def test_status_and_severity_mapping(doc, records):
    by_id = {r["Id"]: r for r in records}
    for f in doc["findings"]:
        r = by_id.get(asff.finding_id(f["check_id"], f["resource_arn"]))
        if f["status"] == "PASS":
            continue
        if f.get("caused_by"):  # a follow-on: never active, archived once if it was sent
            assert r is None if not f.get("first_seen") else r["RecordState"] == "ARCHIVED"
            if r is None:
                continue
        assert r is not None, f
        assert r["ProductFields"]["mlflow-audit/RuleSeverity"] == f["severity"]
        if f["status"] == "UNKNOWN":  # could not evaluate: nothing to page on
            assert r["Severity"] == {"Label": "INFORMATIONAL", "Original": "info"}
        else:
            assert r["Severity"]["Label"] == asff.SEVERITY_LABEL[f["severity"]]
        assert r["FindingProviderFields"]["Severity"] == r["Severity"]
        if r["RecordState"] == "ACTIVE":
            expected = {"FAIL": "FAILED", "MUTED": "FAILED", "UNKNOWN": "WARNING"}[f["status"]]
            assert r["Compliance"]["Status"] == expected
            assert r["ProductFields"]["mlflow-audit/Status"] == f["status"]
        if f["status"] == "MUTED":
            assert r["ProductFields"]["mlflow-audit/MutedReason"] == f["muted_reason"]


def test_only_resolved_findings_of_read_scopes_are_archived(doc, records):
    archived = [r for r in records if r["RecordState"] == "ARCHIVED"]
    resolved = doc["history"]["resolved"]
    read = scanned_scopes(doc)
    expected = {
        asff.finding_id(e["check_id"], e["resource_arn"])
        for e in resolved
        if (e["account_id"], e["region"]) in read
    }
    assert len(expected) == 2  # the third resolved entry is of a scope not read
    superseded = {
        asff.finding_id(f["check_id"], f["resource_arn"])
        for f in doc["findings"]
        if f.get("caused_by") and f.get("first_seen")
    }
    assert {r["Id"] for r in archived} == expected | superseded
    assert all(r["Compliance"]["Status"] == "PASSED" for r in archived if r["Id"] in expected)
    problems = [f for f in doc["findings"] if f["status"] != "PASS" and not f.get("caused_by")]
    # no never-failing PASS and no follow-on (beyond the one archived) is sent
    assert len(records) == len(problems) + len(expected) + len(superseded)
    assert len({r["Id"] for r in records}) == len(records)


def test_follow_ons_are_never_active_and_archived_once_when_sent_before():
    doc = demo_document()
    follow = [f for f in doc["findings"] if f.get("caused_by")]
    assert len(follow) > 10
    # A problem of its own the night before (history carried its first_seen): the record
    # sent then is archived now; the others were never sent and are not now.
    follow[0]["first_seen"] = "2026-11-21T02:00:04Z"
    records = asff.render(doc)
    assert (
        ParamValidator().validate({"Findings": records[:100]}, IMPORT_INPUT).has_errors() is False
    )
    by_id = {r["Id"]: r for r in records}
    sent = [f for f in follow if asff.finding_id(f["check_id"], f["resource_arn"]) in by_id]
    assert sent == [follow[0]]
    for f in sent:
        r = by_id[asff.finding_id(f["check_id"], f["resource_arn"])]
        assert r["RecordState"] == "ARCHIVED"
        assert r["Compliance"]["Status"] == "WARNING"
        assert r["Description"].startswith(f"Follows from the FAIL of {f['caused_by']}")
        assert r["ProductFields"]["mlflow-audit/CausedBy"] == f["caused_by"]
    real = [f for f in doc["findings"] if f["status"] == "UNKNOWN" and not f.get("caused_by")]
    assert real and all(
        by_id[asff.finding_id(f["check_id"], f["resource_arn"])]["RecordState"] == "ACTIVE"
        for f in real
    )


def test_an_archived_record_is_described_as_resolved_not_by_its_failure(doc, records):
    fixed, gone = doc["history"]["resolved"][:2]
    by_id = {r["Id"]: r for r in records}
    key = (fixed["check_id"], fixed["resource_arn"])
    now_passing = next(f for f in doc["findings"] if (f["check_id"], f["resource_arn"]) == key)
    assert now_passing["status"] == "PASS" and gone["status"] == "FAIL"
    for entry, why in ((fixed, "now passes this check"), (gone, "no longer found")):
        r = by_id[asff.finding_id(entry["check_id"], entry["resource_arn"])]
        assert r["RecordState"] == "ARCHIVED"
        assert r["Description"].startswith(f"Resolved: {entry['resource_name']} ")
        assert why in r["Description"]
    gone_record = by_id[asff.finding_id(gone["check_id"], gone["resource_arn"])]
    assert gone["message"] not in gone_record["Description"]  # not its failure
    fixed_record = by_id[asff.finding_id(fixed["check_id"], fixed["resource_arn"])]
    assert fixed_record["Description"].endswith(now_passing["message"])  # what passes now
    for r in (gone_record, fixed_record):
        assert r["Remediation"]["Recommendation"]["Text"] == asff.RESOLVED_RECOMMENDATION
        assert "mlflow-audit/RemediationCommand" not in r["ProductFields"]
        assert r["ProductFields"]["mlflow-audit/Status"] == "RESOLVED"
    active = [r for r in records if r["RecordState"] == "ACTIVE"]
    assert not any(r["Description"].startswith("Resolved:") for r in active)


def test_created_equals_updated_on_the_import_that_creates_the_finding():
    """AWS: "Upon creation of a finding record, the CreatedAt and UpdatedAt timestamps must
    be the same"; later imports carry a later UpdatedAt and the same CreatedAt."""
    night1 = demo_document()  # no history: every problem is created by this import
    night1.pop("history")
    run1 = night1["run"]
    for r in asff.render(night1):
        assert r["CreatedAt"] == r["UpdatedAt"] == r["FirstObservedAt"] == run1["started_at"]
    night2 = demo_document()
    night2["run"].update(started_at="2026-12-02T02:00:00Z", finished_at="2026-12-02T02:00:09Z")
    seen, new = [f for f in night2["findings"] if f["status"] == "FAIL"][:2]
    seen.update(first_seen=run1["started_at"], change="unchanged")  # seen the night before
    new.update(first_seen="2026-12-02T02:00:00Z", change="new")  # history: new tonight
    by_id = {r["Id"]: r for r in asff.render(night2)}
    again = by_id[asff.finding_id(seen["check_id"], seen["resource_arn"])]
    assert (again["CreatedAt"], again["UpdatedAt"]) == (run1["started_at"], "2026-12-02T02:00:09Z")
    created = by_id[asff.finding_id(new["check_id"], new["resource_arn"])]
    assert created["CreatedAt"] == created["UpdatedAt"] == "2026-12-02T02:00:00Z"


def test_ids_are_stable_across_nights_and_times_follow_history(doc):
    night1 = asff.render(doc)
    night2_doc = demo_document()
    night2_doc["run"].update(
        id="2026-11-28T02-00-00Z-ffffff",
        started_at="2026-11-28T02:00:00Z",
        finished_at="2026-11-28T02:00:09Z",
    )
    first = night2_doc["findings"][0]
    first.update(first_seen="2026-11-20T02:00:00Z", change="unchanged")
    night2 = asff.render(night2_doc)
    assert [r["Id"] for r in night1] == [r["Id"] for r in night2]
    by_id = {r["Id"]: r for r in night2}
    r = by_id[asff.finding_id(first["check_id"], first["resource_arn"])]
    assert r["CreatedAt"] == r["FirstObservedAt"] == "2026-11-20T02:00:00Z"
    assert r["UpdatedAt"] == "2026-11-28T02:00:09Z"
    others = [x for x in night2 if x["Id"] != r["Id"]]
    assert {x["CreatedAt"] for x in others} == {"2026-11-28T02:00:00Z"}  # no first_seen: run start
    assert all(x["UpdatedAt"] == x["CreatedAt"] for x in others)  # so this import creates them


def test_long_text_is_cut_and_long_arns_get_a_hashed_id(doc):
    f = dict(doc["findings"][0], message="m" * 5000, title="t" * 400)
    f["remediation"] = {"text": "x" * 900, "command": "aws ...", "auto": False}
    r = asff.to_asff(f, run=doc["run"])
    assert len(r["Description"]) == 1024 and r["Description"].endswith("\u2026")
    assert len(r["Title"]) == 256
    long_id = asff.finding_id("c", "arn:aws:sagemaker:us-east-1:1:x/" + "n" * 600)
    assert len(long_id) <= 512 and long_id == asff.finding_id(
        "c", "arn:aws:sagemaker:us-east-1:1:x/" + "n" * 600
    )


def test_a_night_started_in_the_same_second_as_the_last_still_updates():
    """Two runs can start within one second (a quick re-run, a test): an unchanged
    finding's first sighting then equals this run's start, and it is still an update."""
    doc = demo_document()
    doc["run"].update(started_at="2026-12-02T02:00:00Z", finished_at="2026-12-02T02:00:01Z")
    seen = next(f for f in doc["findings"] if f["status"] == "FAIL")
    seen.update(first_seen="2026-12-02T02:00:00Z", change="unchanged")
    record = {r["Id"]: r for r in asff.render(doc)}[
        asff.finding_id(seen["check_id"], seen["resource_arn"])
    ]
    assert (record["CreatedAt"], record["UpdatedAt"]) == (
        "2026-12-02T02:00:00Z",
        "2026-12-02T02:00:01Z",
    )
