"""Ctrl-C while remediation waits for a server in flux: the CLI (its own process, a real
SIGINT) acts within a second, skips what is left and records exit 130."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.e2e.served import SCOPE, read

pytestmark = pytest.mark.slow


def test_ctrl_c_during_remediation_acts_within_a_second_and_records_130(own_demo, tmp_path):
    out = tmp_path / "out"
    proc = own_demo.popen(
        "scan",
        *SCOPE,
        "--remediate",
        "--yes",
        "--stable-wait",
        "60",
        "--no-history",
        "--output-dir",
        str(out),
    )
    journal = out / "remediation-journal.jsonl"
    deadline = time.monotonic() + 240
    # The stable servers are updated at once; "stuck-updating" is being waited for.
    while not (journal.exists() and journal.read_text().count('"verified"') >= 2):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "remediation never started"
        time.sleep(0.1)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    took = time.monotonic() - sent
    assert proc.returncode == 130, stderr
    assert took < 3, f"took {took:.1f}s to act on SIGINT"
    doc = read(out)
    assert doc["summary"]["exit_code"] == 130
    stuck = next(r for r in doc["remediations"] if r["resource_name"] == "stuck-updating")
    assert stuck["status"] == "skipped" and "interrupted" in stuck["reason"]
