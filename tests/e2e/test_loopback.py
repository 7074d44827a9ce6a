"""The CLI in a separate process against the simulation served on loopback, configured
only through standard AWS settings (AWS_ENDPOINT_URL and credentials), as against AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_scan_demo_org import CHECKS, EXPECTED, INTEGRITY, INTEGRITY_CHECKS

pytestmark = pytest.mark.slow


def test_scan_in_a_separate_process_through_aws_endpoint_url(served, tmp_path):
    served_demo = served.info
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": served_demo["endpoint_url"],
            "AWS_ACCESS_KEY_ID": served_demo["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": served_demo["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            # S3 Control puts the account id in front of the endpoint's host, which no
            # loopback address has: its requests go through the simulation as a proxy, to a
            # name that never resolves (docs/simulation.md)
            "AWS_ENDPOINT_URL_S3_CONTROL": "http://s3-control.sim.invalid",
            "HTTP_PROXY": served_demo["endpoint_url"],
            "NO_PROXY": "127.0.0.1,localhost",
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
    # the integrity checks too, S3 Control included: the account-level Block Public Access
    # is read from the loopback endpoint (no account-id host prefix there)
    for case, failing in INTEGRITY.items():
        for check in INTEGRITY_CHECKS:
            want = "FAIL" if failing == check else "PASS"
            assert got.get((names[case], check)) == want, (case, check)
    control = [
        e
        for f in doc["findings"]
        for e in f["evidence"]
        if e["call"] == "s3control:GetPublicAccessBlock"
    ]
    assert control and all("Block Public Access unknown" not in e["conclusion"] for e in control)
    assert [(e["region"], e["error_code"]) for e in doc["errors"]] == [
        ("eu-west-1", "AccessDeniedException")
    ]
