"""The simulated demo organisation, built once per module, and a CLI runner acting as
its management account (the caller)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.sim import build_demo_org, simulated_aws


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


def verdicts(doc) -> dict[tuple[str, str], str]:
    """(resource name, check id) -> status."""
    return {(f["resource_name"], f["check_id"]): f["status"] for f in doc["findings"]}
