"""SNS notification of a run, published through botocore to moto's SNS (+ SQS to read it)."""

from __future__ import annotations

import json

import pytest

from auditor.integrations import sns as notify
from auditor.sim import simulated_aws
from tests.report.demo_document import demo_document

ACCOUNT = "111111111111"


@pytest.fixture
def aws():
    with simulated_aws() as sim:
        session = sim.session_for(ACCOUNT, "us-east-1")
        sns, sqs = session.client("sns"), session.client("sqs")
        topic = sns.create_topic(Name="mlflow-audit")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        yield sim, sns, sqs, topic, queue


def received(sqs, queue):
    msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(msgs) == 1
    return json.loads(msgs[0]["Body"])


def test_one_message_with_verdict_counts_and_attributes(aws):
    _, sns, sqs, topic, queue = aws
    doc = demo_document()
    result = notify.publish(doc, topic, sns, report_location="s3://reports/2026-11-27/")
    assert result["status"] == "published" and result["message_id"]
    envelope = received(sqs, queue)
    attrs = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attrs["verdict"] == doc["summary"]["verdict"] == "FAIL"
    assert attrs["highest_severity"] == "critical"
    chatbot = json.loads(envelope["Message"])  # SQS gets the default: a Chatbot notification
    assert chatbot["version"] == "1.0" and chatbot["source"] == "custom"
    text = json.loads(notify.build_message(doc, report_location="x")["Message"])["email"]
    by_sev = doc["summary"]["fail_by_severity"]
    assert f"critical {by_sev['critical']}, high {by_sev['high']}" in text
    assert "Expired waivers (1)" in text and "migration" not in text
    assert "Scopes that could not be read (1)" in text
    assert doc["errors"][0]["account_id"] in text
    assert "Reports: x" in text
    assert envelope["Subject"].startswith("mlflow-audit: FAIL")


def test_fail_on_new_lists_only_the_new_failures():
    doc = demo_document()
    doc["run"]["fail_on"] = "low"
    fails = [f for f in doc["findings"] if f["status"] == "FAIL"]
    every = notify.listed_failures(doc)
    assert len(every) == len(fails)
    doc["run"]["fail_on_new"] = True
    new_only = notify.listed_failures(doc)
    assert new_only and all(f["change"] == "new" for f in new_only)
    assert len(new_only) == sum(1 for f in fails if f["change"] == "new") < len(fails)
    text = json.loads(notify.build_message(doc)["Message"])["email"]
    assert f"New failures at or above low ({len(new_only)})" in text


@pytest.mark.slow
def test_huge_runs_are_summarised_within_the_sns_limit(aws):
    _, sns, sqs, topic, queue = aws
    doc = demo_document()
    template = next(f for f in doc["findings"] if f["status"] == "FAIL")
    doc["findings"] = [
        dict(template, resource_name=f"srv-{i}", message="x" * 300) for i in range(20000)
    ]
    kwargs = notify.build_message(doc)
    assert len(kwargs["Message"].encode()) < notify.SNS_MAX_BYTES
    assert "... and " in json.loads(kwargs["Message"])["email"]
    assert notify.publish(doc, topic, sns)["status"] == "published"
    assert received(sqs, queue)["MessageAttributes"]["verdict"]["Value"] == "FAIL"


def test_aws_strings_cannot_reshape_the_text_and_subject_is_ascii():
    doc = demo_document()
    fail = next(f for f in doc["findings"] if f["status"] == "FAIL")
    fail["resource_name"] = "evil\u202eexe.\n[CRITICAL] fake"
    kwargs = notify.build_message(doc)
    text = json.loads(kwargs["Message"])["email"]
    assert "\u202e" not in text and "\\u202e" in text and "\\u000a[CRITICAL] fake" in text
    assert len(kwargs["Subject"]) < 100 and kwargs["Subject"].isascii()
    assert "\n" not in kwargs["Subject"]


def test_a_failed_publish_is_a_warning_never_an_exception(aws):
    sim, sns, _, topic, _ = aws
    missing = topic + "-gone"
    result = notify.publish(demo_document(), missing, sns)
    assert result["status"] == "failed" and result["error"]["code"] == "NotFound"
    assert "could not publish" in result["warning"]
    sim.faults.deny(ACCOUNT, "us-east-1", "sns")
    denied = notify.publish(demo_document(), topic, sns)
    assert denied["status"] == "failed"
    assert denied["error"]["code"] == "AccessDenied"  # SNS is a query-protocol service
    broken = notify.publish({"summary": None, "run": None}, topic, object())
    assert broken["status"] == "failed" and broken["warning"]
