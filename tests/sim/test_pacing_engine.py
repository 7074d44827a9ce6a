"""The pacing engine on real botocore clients against the simulation: the retry handler it
wraps, its fallback when botocore changes, and engine calls on paced and plain clients."""

from __future__ import annotations

import boto3
import botocore
import pytest
from botocore.config import Config

from auditor.aws import hooks
from auditor.aws.clients import ClientCache
from auditor.aws.pacing import Pacer

from .conftest import PROD

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})
LIST = "sagemaker:ListMlflowTrackingServers"


@pytest.mark.parametrize("mode", ["standard", "legacy", "adaptive"])
def test_botocores_retry_handler_is_found_in_every_retry_mode(mode):
    client = boto3.Session(region_name="us-east-1").client(
        "sagemaker", config=Config(retries={"mode": mode})
    )
    handler = hooks.botocore_retry_handler(client.meta.events, "retry-config-sagemaker")
    assert handler is not None, (
        f"botocore {botocore.__version__} no longer keeps a client's retry handler where "
        "auditor.aws.hooks.botocore_retry_handler reads it: pacing runs on its fallback "
        "(botocore's retry quota is spent on throttling); update that function"
    )


def _scan_like(sim, cache):
    key, secret = sim.credentials_for(PROD)
    creds = botocore.credentials.Credentials(key, secret)
    return cache.acting_as(creds, PROD), cache.client("us-east-1", "sagemaker")


@pytest.mark.parametrize("found", [True, False], ids=["wrapped", "fallback"])
def test_throttling_is_paced_and_retried_with_or_without_botocores_handler(sim, monkeypatch, found):
    if not found:
        monkeypatch.setattr(hooks, "botocore_retry_handler", lambda *_: None)
    sim.set_rate_limit(LIST, rate=20, burst=2)
    cache = ClientCache(boto3.Session(region_name="us-east-1"))
    acting, sm = _scan_like(sim, cache)
    with acting:
        for _ in range(12):  # more than the burst and more than botocore's attempts
            sm.list_mlflow_tracking_servers()
    assert cache.pacer.throttled_count >= 1
    assert cache.pacer.rate((PROD, "us-east-1", LIST)) is not None
    assert hooks.pacer_of(sm) is cache.pacer


def test_an_engine_call_on_a_paced_client_is_counted_once_under_the_callers_key(sim):
    sim.set_rate_limit(LIST, rate=20, burst=1)
    cache = ClientCache(boto3.Session(region_name="us-east-1"))
    acting, sm = _scan_like(sim, cache)
    key = ("caller-key", "us-east-1", LIST)
    seen = []
    with acting:
        for _ in range(6):
            cache.pacer.call(key, sm.list_mlflow_tracking_servers, on_throttled=seen.append)
    assert seen and cache.pacer.throttled_count == len(seen) == sim.rate_limits.throttled
    assert cache.pacer.rate(key) is not None
    assert cache.pacer.rate((PROD, "us-east-1", LIST)) is None  # not the hook's own key


def test_an_engine_call_paces_a_plain_client(sim):
    sim.set_rate_limit(LIST, rate=20, burst=1)
    sm = sim.session_for(PROD).client("sagemaker", config=NO_RETRY)
    pacer = Pacer()
    seen = []
    for _ in range(6):
        pacer.call(
            (PROD, "us-east-1", LIST), sm.list_mlflow_tracking_servers, on_throttled=seen.append
        )
    assert pacer.throttled_count == len(seen) == sim.rate_limits.throttled >= 1
    assert hooks.pacer_of(sm) is None
