"""AWS Config PutEvaluations in the simulation: each documented rule has its test (see
auditor/sim/config.py for the AWS pages relied on)."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from auditor.sim import config as sim_config

from .conftest import PROD

TYPE = "AWS::SageMaker::MlflowTrackingServer"
WHEN = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clean():
    sim_config.reset()
    yield
    sim_config.reset()


def evaluation(name="srv", compliance="NON_COMPLIANT", annotation="x"):
    return {
        "ComplianceResourceType": TYPE,
        "ComplianceResourceId": name,
        "ComplianceType": compliance,
        "Annotation": annotation,
        "OrderingTimestamp": WHEN,
    }


def put(sim, evaluations, token=None, **kwargs):
    client = sim.session_for(PROD).client("config", region_name="us-east-1")
    token = token or sim_config.issue_token(PROD, "us-east-1", "rule")
    return client.put_evaluations(Evaluations=evaluations, ResultToken=token, **kwargs)


def code(err: pytest.ExceptionInfo) -> str:
    return err.value.response["Error"]["Code"]


def test_accepted_evaluations_are_kept_the_latest_per_resource(sim):
    assert put(sim, [evaluation(), evaluation("other", "COMPLIANT")])["FailedEvaluations"] == []
    put(sim, [evaluation(compliance="NOT_APPLICABLE")])
    kept = {
        e["ComplianceResourceId"]: e["ComplianceType"]
        for e in sim_config.recorded(PROD, "us-east-1")
    }
    assert kept == {"srv": "NOT_APPLICABLE", "other": "COMPLIANT"}


def test_a_token_config_did_not_issue_is_rejected(sim):
    with pytest.raises(ClientError) as err:
        put(sim, [evaluation()], token="forged")
    assert code(err) == "InvalidResultTokenException"


def test_insufficient_data_is_not_accepted(sim):
    with pytest.raises(ClientError) as err:
        put(sim, [evaluation(compliance="INSUFFICIENT_DATA")])
    assert code(err) == "InvalidParameterValueException"
    assert sim_config.recorded(PROD, "us-east-1") == []


def test_more_than_100_evaluations_are_rejected(sim):
    with pytest.raises(ClientError) as err:
        put(sim, [evaluation(f"s{n}") for n in range(101)])
    assert code(err) == "ValidationException"


def test_an_annotation_over_256_characters_is_rejected(sim):
    put(sim, [evaluation(annotation="a" * 256)])
    with pytest.raises(ClientError) as err:
        put(sim, [evaluation(annotation="a" * 257)])
    assert code(err) == "ValidationException"


def test_test_mode_keeps_nothing(sim):
    put(sim, [evaluation()], TestMode=True)
    assert sim_config.recorded(PROD, "us-east-1") == []
