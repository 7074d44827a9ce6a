"""A kind the product has never heard of is scanned, reported and remediated end to end.

``tests/e2e/lab_kind.py`` declares "labs" (a fake service whose Describe answer nests
every value) only through the product's extension points: a service model on
``AWS_DATA_PATH``, ``register_kind``, ``--rules-dir`` and a botocore ``before-send``
answer. If any stage still hard-coded a SageMaker kind, a service, a field name or a
check id, the labs would be missed, misread or left unremediated here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.aws.environ import isolated_values, variables_to_scrub

ROOT = Path(__file__).resolve().parents[2]
LAB = "mlflow-lab"
OPEN, SAFE = "lab-7f3a", "lab-9c1d"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("labs")
    # Module-scoped, so set up before the per-test isolation: scrub the environment here.
    env = {k: v for k, v in os.environ.items() if k not in variables_to_scrub()}
    env.update(isolated_values("testing", "testing", out))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.lab_kind", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((out / "labs.json").read_text())
    docs = {n: json.loads((out / n / "findings.json").read_text()) for n in ("plan", "applied")}
    return out, state, docs


def _labs(doc):
    return [f for f in doc["findings"] if f["resource_type"] == LAB]


def test_labs_are_listed_described_and_judged_by_their_own_rules(run):
    _, state, docs = run
    account = state["account"]
    doc = docs["plan"]
    verdicts = {(f["resource_name"], f["check_id"]): f["status"] for f in _labs(doc)}
    assert verdicts == {
        ("open-lab", "lab_artifact_bucket_exists"): "FAIL",
        ("open-lab", "lab_owner_check_enabled"): "FAIL",
        ("safe-lab", "lab_artifact_bucket_exists"): "PASS",
        ("safe-lab", "lab_owner_check_enabled"): "PASS",
    }
    # Nested values were read through the kind's paths: name, ARN, URI, the owner pin.
    safe = next(f for f in _labs(doc) if f["resource_name"] == "safe-lab")
    assert safe["resource_arn"] == f"arn:aws:labs:us-east-1:{account}:lab/{SAFE}"
    assert safe["artifact_store_uri"] == f"s3://lab-safe-{account}/runs"
    assert safe["bucket"] == f"lab-safe-{account}" and safe["actual_owner"] == account
    assert doc["run"]["coverage"][LAB] == {"offered": ["us-east-1"], "not_offered": []}
    assert doc["errors"] == []
    assert state["exits"] == {"plan": 1, "applied": 1}  # a critical FAIL


def test_evidence_and_fix_commands_name_the_labs_own_calls(run):
    _, state, docs = run
    account = state["account"]
    findings = {(f["resource_name"], f["check_id"]): f for f in _labs(docs["plan"])}
    check = findings[("open-lab", "lab_owner_check_enabled")]
    (describe,) = check["evidence"]
    assert describe["call"] == "labs:DescribeLab"
    assert describe["params"] == {"LabId": OPEN}
    assert "Lab.Storage.OwnerCheck.Enabled=False" in describe["answer"]
    assert check["remediation"]["auto"] is True
    assert check["remediation"]["command"] == (
        f"aws labs update-lab --region us-east-1 --lab-id {OPEN} "
        f"--owner-check-enabled --owner-account-id {account}"
    )
    safe = findings[("safe-lab", "lab_owner_check_enabled")]["remediation"]
    assert safe["auto"] is False
    assert safe["command"].startswith(f"aws labs update-lab --region us-east-1 --lab-id {SAFE} ")
    assert "--artifact-uri" in safe["command"]


def test_the_exposed_lab_is_listed_first(run):
    _, _, docs = run
    first = docs["plan"]["findings"][0]
    assert (first["resource_name"], first["check_id"], first["status"]) == (
        "open-lab",
        "lab_artifact_bucket_exists",
        "FAIL",
    )


def test_ocsf_names_the_kinds_resource_type_and_service(run):
    out, _, _ = run
    records = json.loads((out / "applied" / "findings.ocsf.json").read_text())
    lab = next(r for r in records if r["unmapped"]["mlflow_audit"]["resource_type"] == LAB)
    assert lab["resources"][0]["type"] == "Custom::Lab"
    assert lab["finding_info"]["data_sources"] == ["labs", "s3"]


def test_the_plan_pins_the_open_lab_and_the_update_is_applied_and_read_back(run):
    out, state, docs = run
    account = state["account"]
    (planned,) = [r for r in docs["plan"]["remediations"] if "/lab-" in r["resource_arn"]]
    assert planned["status"] == "planned" and planned["resource_name"] == "open-lab"
    assert planned["after"] == {
        "S3BucketOwnerVerification": True,
        "S3BucketOwnerAccountId": account,
    }
    (applied,) = [r for r in docs["applied"]["remediations"] if "/lab-" in r["resource_arn"]]
    assert applied["status"] == "verified" and applied["attempts"] == 1
    assert state["labs"][OPEN]["Storage"]["OwnerCheck"] == {"Enabled": True, "AccountId": account}
    assert state["labs"][SAFE]["Storage"]["OwnerCheck"] == {"Enabled": True, "AccountId": account}
    updates = [c for c in state["calls"] if c["operation"] == "UpdateLab"]
    assert len(updates) == 1
    journal = (out / "applied" / "remediation-journal.jsonl").read_text().splitlines()
    assert [json.loads(line)["result"] for line in journal] == ["attempt", "applied", "verified"]
