"""Security Hub, SNS and the interchange formats through the CLI, on the in-process simulation.

Security Hub is moto's, with the documented rules auditor/sim/securityhub.py adds (calling
account must own the default product's findings, not enabled -> InvalidAccessException);
every finding stored is read back with GetFindings, per account, as its account sees it.
SNS is moto's, read through an SQS subscription.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from auditor.cli import main
from auditor.collect.accounts import shard_of
from auditor.history.database import identity
from auditor.integrations.securityhub import import_findings
from auditor.report.formats import asff
from auditor.report.formats.common import scanned_scopes
from auditor.report.load import load_document
from auditor.sim import build_demo_org, simulated_aws
from auditor.sim.org_builder import EXECUTION_ROLE_NAME
from tests.report.test_ocsf import validate

# Every test builds an organisation of its own (a fixture or the demo): seconds each.
pytestmark = pytest.mark.slow

VERIFY = "mlflow_s3_owner_verification_enabled"
REGION = "us-east-1"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def load(out: Path) -> dict:
    return json.loads((out / "findings.json").read_text())


@pytest.fixture
def fresh_org(monkeypatch):
    """An organisation of its own (these tests change servers and Security Hub state)."""
    with simulated_aws() as sim:
        org = build_demo_org(sim, regions=(REGION,))
        key, secret = sim.credentials_for(org.management_account_id)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        yield sim, org


def all_accounts(org) -> list[str]:
    return [org.management_account_id, *org.accounts.values()]


def hub(sim, account: str):
    return sim.session_for(account, REGION).client("securityhub")


def enable_hub(sim, accounts) -> None:
    for account in accounts:
        hub(sim, account).enable_security_hub()


def stored(sim, account: str) -> list[dict]:
    """Every finding Security Hub holds in ``account`` (GetFindings, as that account)."""
    pages = hub(sim, account).get_paginator("get_findings").paginate()
    return [f for page in pages for f in page["Findings"]]


def problem_ids(doc: dict) -> dict[str, set[str]]:
    """Expected ACTIVE Security Hub Ids per account: every FAIL, UNKNOWN and MUTED finding
    but the follow-ons (an UNKNOWN ``caused_by`` a FAIL, which is the finding to act on)."""
    out: dict[str, set[str]] = defaultdict(set)
    for f in doc["findings"]:
        if f["status"] != "PASS" and not f.get("caused_by"):
            out[f["account_id"]].add(asff.finding_id(f["check_id"], f["resource_arn"]))
    return out


def set_verification(sim, account: str, name: str, enabled: bool) -> None:
    sm = sim.session_for(account, REGION).client("sagemaker")
    sm.update_mlflow_tracking_server(TrackingServerName=name, S3BucketOwnerVerification=enabled)
    sm.describe_mlflow_tracking_server(TrackingServerName=name)  # settle


def plant_unverified(sim, account: str, name: str) -> str:
    """A server on its own bucket with verification off (one FAIL, fixable)."""
    bucket = f"{name}-{account}"
    sim.session_for(account, REGION).client("s3").create_bucket(Bucket=bucket)
    sm = sim.session_for(account, REGION).client("sagemaker")
    return sm.create_mlflow_tracking_server(
        TrackingServerName=name,
        ArtifactStoreUri=f"s3://{bucket}/mlflow",
        RoleArn=f"arn:aws:iam::{account}:role/{EXECUTION_ROLE_NAME}",
        S3BucketOwnerVerification=False,
    )["TrackingServerArn"]


def test_demo_writes_all_five_formats_valid_ocsf_and_asff_security_hub_accepts(tmp_path):
    out = tmp_path / "demo"
    result = invoke("demo", "--format", "json,csv,html,ocsf,asff", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    names = ["findings.json", "findings.csv", "report.html", "findings.ocsf.json"]
    for name in [*names, "findings.asff.json"]:
        assert (out / name).stat().st_size > 0, name
    doc = load_document(out / "findings.json")
    ocsf_records = json.loads((out / "findings.ocsf.json").read_text())
    assert len(ocsf_records) == len(doc["findings"])
    for record in ocsf_records:
        validate(record)
    records = json.loads((out / "findings.asff.json").read_text())
    assert {r["Id"] for r in records} == set().union(*problem_ids(doc).values())
    # The demo's own simulation is gone: import into a fresh one holding the same accounts.
    with simulated_aws() as sim:
        scopes = {(r["AwsAccountId"], r["Region"]) for r in records}
        assert len({a for a, _ in scopes}) >= 2
        for account, region in scopes:
            sim.session_for(account, region).client("securityhub").enable_security_hub()

        def client_for(account, region):
            return sim.session_for(account, region).client("securityhub")

        answer = import_findings(records, client_for, scanned=scanned_scopes(doc))
        assert (answer["imported"], answer["failed"]) == (len(records), 0)
        held = {
            f["Id"]
            for account, region in scopes
            for page in client_for(account, region).get_paginator("get_findings").paginate()
            for f in page["Findings"]
        }
        assert held == {r["Id"] for r in records}


def test_demo_security_hub_imports_every_asff_record(tmp_path):
    out = tmp_path / "demo"
    result = invoke(
        "demo", "--format", "json,asff", "--security-hub", "--output-dir", str(out)
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = load_document(out / "findings.json")
    records = json.loads((out / "findings.asff.json").read_text())
    hub_result = doc["security_hub"]
    assert (hub_result["imported"], hub_result["failed"], hub_result["skipped"]) == (
        len(records),
        0,
        0,
    )
    per_account = defaultdict(int)
    for r in records:
        per_account[r["AwsAccountId"]] += 1
    imported = defaultdict(int)
    for s in hub_result["scopes"]:
        imported[s["account_id"]] += s["imported"]
    assert imported == per_account and len(per_account) >= 2
    assert f"security hub: {len(records)} imported, 0 failed" in result.stderr


def test_two_nights_update_the_same_ids_and_archive_exactly_the_resolved(fresh_org, tmp_path):
    sim, org = fresh_org
    accounts = all_accounts(org)
    enable_hub(sim, accounts)
    db = tmp_path / "history.sqlite"
    base = ["scan", "--org", "--region", REGION, "--history", str(db), "--security-hub"]

    out1 = tmp_path / "night1"
    r1 = invoke(*base, "--output-dir", str(out1), "--format", "json,asff")
    doc1 = load(out1)
    expected1 = problem_ids(doc1)
    n = sum(len(ids) for ids in expected1.values())
    assert len(expected1) >= 2  # findings in several member accounts
    hub1 = doc1["security_hub"]
    assert (hub1["imported"], hub1["failed"], hub1["skipped"]) == (n, 0, 0)
    assert r1.exit_code == 1  # the FAILs decide it, the import does not
    assert f"security hub: {n} imported, 0 failed" in r1.stderr
    for account in accounts:
        held = stored(sim, account)
        assert {f["Id"] for f in held} == expected1.get(account, set())
        assert all(f["AwsAccountId"] == account and f["RecordState"] == "ACTIVE" for f in held)
        assert {f["CreatedAt"] for f in held} <= {doc1["run"]["started_at"]}
    problems = [f for f in doc1["findings"] if f["status"] != "PASS" and not f["caused_by"]]
    assert {f["first_seen"] for f in problems} == {doc1["run"]["started_at"]}
    follow_ons = [f for f in doc1["findings"] if f["caused_by"]]
    assert follow_ons and {(f["first_seen"], f["change"]) for f in follow_ons} == {(None, None)}

    fixed = org.case("verification-disabled")
    set_verification(sim, fixed.account_id, fixed.resource_name, True)
    out2 = tmp_path / "night2"
    r2 = invoke(*base, "--output-dir", str(out2))
    doc2 = load(out2)
    resolved = {
        asff.finding_id(r["check_id"], r["resource_arn"]) for r in doc2["history"]["resolved"]
    }
    assert resolved == {asff.finding_id(VERIFY, fixed.resource_arn)}
    assert doc2["security_hub"]["failed"] == 0
    assert doc2["security_hub"]["imported"] == n  # n - 1 updated ACTIVE + 1 archived
    assert r2.exit_code == r1.exit_code
    held2 = [f for account in accounts for f in stored(sim, account)]
    ids2 = [f["Id"] for f in held2]
    assert len(ids2) == len(set(ids2)) == n  # updated in place: no duplicate
    assert set(ids2) == set().union(*expected1.values())
    archived = {f["Id"] for f in held2 if f["RecordState"] == "ARCHIVED"}
    assert archived == resolved
    (closed,) = [f for f in held2 if f["Id"] in resolved]
    assert closed["Compliance"]["Status"] == "PASSED"
    assert closed["CreatedAt"] == doc1["run"]["started_at"]  # first seen, from history
    for f in held2:
        assert f["UpdatedAt"] == doc2["run"]["finished_at"]
        assert f["CreatedAt"] == doc1["run"]["started_at"]
    unchanged = [f for f in doc2["findings"] if f["change"] == "unchanged"]
    assert unchanged and {f["first_seen"] for f in unchanged} == {doc1["run"]["started_at"]}
    (entry,) = doc2["history"]["resolved"]
    assert entry["first_seen"] == doc1["run"]["started_at"]


def _split(accounts: list[str]) -> tuple[int, int, int, str, str]:
    """(N, K1, K2, an account of shard K1, an account of shard K2) with K1 != K2."""
    for total in range(2, 8):
        by_shard = {shard_of(a, total): a for a in accounts}
        if len(by_shard) >= 2:
            (k1, a1), (k2, a2) = sorted(by_shard.items())[:2]
            return total, k1, k2, a1, a2
    raise AssertionError("the organisation's accounts all fall in one shard")


def test_a_sharded_night_archives_nothing_of_the_other_shard(fresh_org, tmp_path):
    sim, org = fresh_org
    accounts = all_accounts(org)
    enable_hub(sim, accounts)
    total, k1, k2, acct1, acct2 = _split(accounts)
    arn1 = plant_unverified(sim, acct1, "shard-one-unverified")
    arn2 = plant_unverified(sim, acct2, "shard-two-unverified")
    db = tmp_path / "history.sqlite"
    base = ["scan", "--org", "--region", REGION, "--history", str(db), "--security-hub", "-q"]

    def night(out: str, shard: int) -> dict:
        invoke(*base, "--shard", f"{shard}/{total}", "--output-dir", str(tmp_path / out))
        return load(tmp_path / out)

    first1, first2 = night("n1-a", k1), night("n1-b", k2)
    assert first1["security_hub"]["failed"] == first2["security_hub"]["failed"] == 0
    set_verification(sim, acct1, "shard-one-unverified", True)
    set_verification(sim, acct2, "shard-two-unverified", True)  # fixed, but not re-scanned
    second = night("n2-a", k1)
    own = {a for a in accounts if shard_of(a, total) == k1}
    assert {s["account_id"] for s in second["security_hub"]["scopes"]} <= own
    held = {f["Id"]: f for account in accounts for f in stored(sim, account)}
    id1, id2 = asff.finding_id(VERIFY, arn1), asff.finding_id(VERIFY, arn2)
    assert held[id1]["RecordState"] == "ARCHIVED"
    assert held[id2]["RecordState"] == "ACTIVE"
    assert held[id2]["UpdatedAt"] == first2["run"]["started_at"]  # its creation: untouched by K1
    archived = {i for i, f in held.items() if f["RecordState"] == "ARCHIVED"}
    assert archived == {
        asff.finding_id(r["check_id"], r["resource_arn"]) for r in second["history"]["resolved"]
    }
    assert all(held[i]["AwsAccountId"] in own for i in archived)


def test_hub_not_enabled_and_failed_publish_are_warnings_reports_intact(fresh_org, tmp_path):
    sim, org = fresh_org
    accounts = all_accounts(org)
    off = org.case("verification-disabled").account_id  # an account with findings
    enable_hub(sim, [a for a in accounts if a != off])
    missing_topic = f"arn:aws:sns:eu-west-1:{org.management_account_id}:no-such-topic"
    plain = invoke(
        "scan",
        "--org",
        "--region",
        REGION,
        "--no-history",
        "-q",
        "--output-dir",
        str(tmp_path / "plain"),
    )
    out = tmp_path / "pushed"
    result = invoke(
        "scan", "--org", "--region", REGION, "--no-history", "--output-dir", str(out),
        "--security-hub", "--notify", missing_topic,
    )  # fmt: skip
    assert result.exit_code == plain.exit_code == 1
    assert f"warning: Security Hub is not enabled in account {off} region {REGION}" in (
        result.stderr
    )
    assert f"warning: could not publish to {missing_topic}" in result.stderr
    doc = load_document(out / "findings.json")  # re-written whole, and still valid
    scopes = {s["account_id"]: s for s in doc["security_hub"]["scopes"]}
    expected = problem_ids(doc)
    assert scopes[off]["status"] == "not_enabled"
    assert scopes[off]["skipped"] == len(expected[off])
    with pytest.raises(ClientError, match="InvalidAccessException"):
        stored(sim, off)  # nothing there: Security Hub is still off in that account
    others = [a for a in expected if a != off]
    assert others and all(scopes[a]["imported"] == len(expected[a]) for a in others)
    assert doc["notification"]["status"] == "failed"
    assert doc["notification"]["error"]["code"] == "NotFound"
    assert doc["summary"]["exit_code"] == 1
    assert (out / "findings.csv").stat().st_size and (out / "report.html").stat().st_size
    assert "notification: FAILED" in result.stderr


def test_notify_publishes_one_message_and_fail_on_new_lists_only_new(fresh_org, tmp_path):
    sim, org = fresh_org
    session = sim.session_for(org.management_account_id, "eu-west-1")
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name="mlflow-audit")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    db = tmp_path / "history.sqlite"
    base = ["scan", "--org", "--region", REGION, "--history", str(db), "--notify", topic]

    def received() -> dict:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        assert len(msgs) == 1  # one message per run
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=msgs[0]["ReceiptHandle"])
        return json.loads(msgs[0]["Body"])

    out1 = tmp_path / "night1"
    r1 = invoke(*base, "--output-dir", str(out1))
    doc1 = load(out1)
    envelope = received()
    assert doc1["notification"]["status"] == "published"
    assert envelope["MessageId"] == doc1["notification"]["message_id"]
    assert envelope["MessageAttributes"]["verdict"]["Value"] == doc1["summary"]["verdict"]
    assert envelope["MessageAttributes"]["highest_severity"]["Value"] == "critical"
    assert f"notification: published to {topic}" in r1.stderr
    text = json.loads(envelope["Message"])["content"]["description"]
    assert str(out1.resolve()) in text

    compliant = org.case("compliant")
    set_verification(sim, compliant.account_id, compliant.resource_name, False)
    out2 = tmp_path / "night2"
    r2 = invoke(*base, "--output-dir", str(out2), "--fail-on-new")
    doc2 = load(out2)
    assert r2.exit_code == 1  # the new FAIL is high
    envelope = received()
    text = json.loads(envelope["Message"])["content"]["description"]
    assert "New failures at or above high (1):" in text
    assert compliant.resource_name in text and "sniped-unverified" not in text
    assert envelope["MessageAttributes"]["new_failures"]["Value"] == "1"
    assert envelope["MessageAttributes"]["highest_severity"]["Value"] == "high"
    new = [identity(f) for f in doc2["findings"] if f["change"] == "new"]
    assert new == [(VERIFY, compliant.resource_arn)]


def test_report_imports_an_earlier_run_with_member_role_credentials(fresh_org, tmp_path):
    sim, org = fresh_org
    accounts = all_accounts(org)
    out = tmp_path / "run"
    invoke("scan", "--org", "--region", REGION, "--no-history", "-q", "--output-dir", str(out))
    enable_hub(sim, accounts)
    sim.reset_calls()
    result = invoke(
        "report", str(out / "findings.json"), "--format", "csv", "--security-hub",
        "--role-name", org.audit_role_name,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = problem_ids(load(out))
    n = sum(len(v) for v in expected.values())
    assert f"security hub: {n} imported, 0 failed, 0 skipped" in result.stderr
    for account in accounts:
        assert {f["Id"] for f in stored(sim, account)} == expected.get(account, set())
    members = [a for a in expected if a != org.management_account_id]
    # one AssumeRole per member with findings; the caller's own account uses its own keys
    assert sim.count(service="sts", operation="AssumeRole") == len(members)
    for account in expected:
        assert sim.count(service="securityhub", account_id=account, status_code=200) >= 1


def test_bad_topic_arn_and_report_options_without_security_hub_are_usage_errors(tmp_path):
    result = CliRunner().invoke(main, ["scan", "--notify", "arn:aws:sqs:us-east-1:1:x"])
    assert result.exit_code == 2 and "is not an SNS topic ARN" in result.stderr
    doc = tmp_path / "findings.json"
    doc.write_text('{"schema_version": "1.1", "findings": []}')
    result = CliRunner().invoke(main, ["report", str(doc), "--role-name", "R"])
    assert result.exit_code == 2 and "need --security-hub" in result.stderr


def test_a_denied_scope_archives_nothing_and_keeps_its_findings_active(fresh_org, tmp_path):
    """Night 2 cannot read one account's SageMaker: its findings are carried forward, not
    resolved, and Security Hub keeps them ACTIVE, untouched by that night."""
    sim, org = fresh_org
    accounts = all_accounts(org)
    enable_hub(sim, accounts)
    db = tmp_path / "history.sqlite"
    base = ["scan", "--org", "--region", REGION, "--history", str(db), "--security-hub", "-q"]
    invoke(*base, "--output-dir", str(tmp_path / "n1"))
    doc1 = load(tmp_path / "n1")
    denied = org.case("verification-disabled").account_id
    before = {f["Id"]: f for f in stored(sim, denied)}
    assert before
    sim.faults.deny(denied, REGION, "sagemaker")
    r2 = invoke(*base, "--output-dir", str(tmp_path / "n2"))
    doc2 = load(tmp_path / "n2")
    assert r2.exit_code == 1 and doc2["history"]["resolved"] == []
    assert doc2["history"]["carried_forward"] == sum(  # follow-ons are not stored
        1
        for f in doc1["findings"]
        if f["status"] != "PASS" and f["account_id"] == denied and not f["caused_by"]
    )
    after = {f["Id"]: f for f in stored(sim, denied)}
    assert after.keys() == before.keys()
    assert all(f["RecordState"] == "ACTIVE" for f in after.values())
    assert all(after[i]["UpdatedAt"] == before[i]["UpdatedAt"] for i in after)
    assert all(s["account_id"] != denied for s in doc2["security_hub"]["scopes"])
