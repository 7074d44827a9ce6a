"""The simulated demo organisation, built once per module, and a CLI runner acting as
its management account (the caller); and the demo served on loopback for the tests that
run the CLI as a separate process (tests/e2e/served.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.sim import build_demo_org, simulated_aws
from tests.e2e.served import SCOPE, Served, serve_demo


@pytest.fixture(scope="module")
def demo_org():
    with simulated_aws() as sim:
        org = build_demo_org(sim)
        yield sim, org


@pytest.fixture
def run_cli(demo_org, monkeypatch, tmp_path):
    sim, org = demo_org
    key, secret = sim.credentials_for(org.management_account_id)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)

    def run(*args: str, out: Path | None = None, input: str | None = None):
        out = out or tmp_path / "out"
        argv = list(args)
        if args and args[0] == "scan" and "--output-dir" not in args:
            argv += ["--output-dir", str(out)]
        result = CliRunner().invoke(main, argv, input=input, catch_exceptions=False)
        doc = None
        if (out / "findings.json").exists():
            doc = json.loads((out / "findings.json").read_text())
        return result, doc

    return run


@pytest.fixture(scope="package")
def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo served once for every test that leaves its resources as it found them
    (starting the server and building the demo costs seconds; a scan against it several)."""
    with serve_demo(tmp_path_factory.mktemp("aws-none")) as served:
        yield served


@pytest.fixture
def served(shared_demo: Served) -> Iterator[Served]:
    """The shared served demo, its faults, rate limits, MLflow regions and call log as
    planted. A test that changes the demo's resources uses ``own_demo`` instead."""
    shared_demo.reset()
    yield shared_demo
    shared_demo.reset()


@pytest.fixture(scope="module")
def own_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A served demo for this module alone: its test changes the servers (remediation)."""
    with serve_demo(tmp_path_factory.mktemp("aws-none")) as served:
        yield served


@pytest.fixture(scope="package")
def demo_scan(shared_demo: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The findings.json of one plain scan of the served demo (JSON only, no history),
    for the tests that only read it (a test that writes beside it works on a copy)."""
    shared_demo.reset()
    out = tmp_path_factory.mktemp("demo-scan")
    proc = shared_demo.run(
        "scan", *SCOPE, "--no-history", "--format", "json", "--output-dir", str(out)
    )
    assert (out / "findings.json").exists(), proc.stderr
    return out / "findings.json"


def verdicts(doc) -> dict[tuple[str, str], str]:
    """(resource name, check id) -> status."""
    return {(f["resource_name"], f["check_id"]): f["status"] for f in doc["findings"]}
