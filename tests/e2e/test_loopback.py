"""The CLI in a separate process against the simulation served on loopback, configured
only through standard AWS settings (AWS_ENDPOINT_URL and credentials), as against AWS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_scan_demo_org import CHECKS, EXPECTED


@pytest.fixture(scope="module")
def served_demo():
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.sim", "serve", "--port", "0", "--demo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, "the simulation server printed nothing"
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_scan_in_a_separate_process_through_aws_endpoint_url(served_demo, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": served_demo["endpoint_url"],
            "AWS_ACCESS_KEY_ID": served_demo["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": served_demo["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        }
    )
    out = tmp_path / "out"
    cli = Path(sys.executable).with_name("mlflow-audit")
    proc = subprocess.run(
        [str(cli), "scan", "--org", "--output-dir", str(out), "--format", "json,csv", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""  # --quiet
    doc = json.loads((out / "findings.json").read_text())
    demo = served_demo["demo"]
    names = {c["name"]: c["resource_name"] for c in demo["cases"]}
    got = {(f["resource_name"], f["check_id"]): f["status"] for f in doc["findings"]}
    for case, expected in EXPECTED.items():
        for key, check in CHECKS.items():
            if expected[key] is not None:
                assert got.get((names[case], check)) == expected[key], (case, check)
    assert [(e["region"], e["error_code"]) for e in doc["errors"]] == [
        ("eu-west-1", "AccessDeniedException")
    ]
