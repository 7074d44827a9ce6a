"""Ctrl-C during the scan itself (exit 130, the reports of the incomplete run written): a real CLI process,
a real SIGINT, against ``python -m auditor.sim serve --demo`` slowed down with
``/_sim/faults`` latency so the scan is still running when the signal arrives.

The run acts within a second: the pool is cancelled, what was collected is evaluated, and
the reports of an incomplete run are written (exit 130, ``run.complete`` false); the run
is not recorded in the history and nothing is pushed.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.served import CLI, SCOPE

pytestmark = pytest.mark.slow


def history_runs(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def calls(served, operation: str) -> int:
    return int(served.control("/_sim/calls")["by_operation"].get(operation, 0))


def interrupt_when(
    served, proc, operation: str, signals: int = 1, after: tuple[str, int] | None = None
) -> tuple[float, str]:
    """SIGINT ``proc`` once the simulation has answered ``operation`` (and ``after``:
    that many calls of another); returns the seconds from the (first) signal to the
    process's exit, and its stderr."""
    deadline = time.monotonic() + 240
    while calls(served, operation) < 1 or (after and calls(served, after[0]) < after[1]):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{operation} was never called"
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    for _ in range(signals - 1):  # a person hammering Ctrl-C while the reports are written
        time.sleep(0.15)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return time.monotonic() - sent, stderr


@pytest.fixture
def slow(served):
    served.control("/_sim/faults", {"latency_ms": 400})
    return served  # ``served`` puts the planted faults back after the test


def assert_incomplete_reports(out: Path, tmp_path: Path) -> dict:
    doc = json.loads((out / "findings.json").read_text())
    assert doc["run"]["complete"] is False
    assert doc["summary"]["exit_code"] == 130
    interrupted = [e for e in doc["errors"] if e["operation"] == "interrupted"]
    assert interrupted and all(e["error_code"] == "Interrupted" for e in interrupted)
    assert all(e["message"].startswith("the run was interrupted before") for e in interrupted)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert {p.name for p in out.iterdir()} >= {"findings.json", "findings.csv", "report.html"}
    # valid: ``report`` re-renders it (it validates the document first)
    again = subprocess.run(
        [CLI, "report", str(out / "findings.json"), "--output-dir", str(tmp_path / "again")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "report.html").exists()
    return doc


def test_ctrl_c_during_collection_writes_an_incomplete_run_and_records_nothing(
    served, slow, tmp_path
):
    history = tmp_path / "history.sqlite"
    # A complete run first, so the history has something a half-read run could resolve.
    served.control("/_sim/faults", {"clear": True})
    first = served.run(
        "scan", *SCOPE, "--history", str(history), "--output-dir", str(tmp_path / "a")
    )
    assert first.returncode in (0, 1, 3), first.stderr
    before = history_runs(history)
    served.control("/_sim/calls/reset", {})
    served.control("/_sim/faults", {"latency_ms": 400})

    out = tmp_path / "b"
    proc = served.popen(
        "scan",
        *SCOPE,
        "--concurrency",
        "2",  # Describes queue up behind the slow calls: some are never sent
        "--history",
        str(history),
        "--security-hub",
        "--output-dir",
        str(out),
    )
    took, stderr = interrupt_when(served, proc, "sagemaker:DescribeMlflowTrackingServer")
    print(f"SIGINT during collection -> exit after {took:.2f}s")
    assert proc.returncode == 130, stderr
    assert took < 2.0, f"took {took:.1f}s to act on SIGINT"
    assert "interrupted during the scan" in stderr
    assert "not recorded in the history" in stderr
    assert "Traceback" not in stderr

    doc = assert_incomplete_reports(out, tmp_path)
    assert history_runs(history) == before  # the history gained no run
    assert "history" not in doc and "security_hub" not in doc  # nothing pushed
    unfinished = {(e["account_id"], e["region"]) for e in doc["errors"]}
    assert unfinished
    # Every scope not finished is reported as an error scope, never as scanned.
    scopes = {(s["account_id"], s["region"]): s["status"] for s in doc["run"]["scopes"]}
    assert all(scopes.get(k, "error") == "error" for k in unfinished if k[1] is not None)
    # A listed resource not yet described is kept, UNKNOWN with the reason (how many
    # depends on where the signal landed: exactly as many as its scope's error says);
    # resources already described are evaluated.
    never = [f for f in doc["findings"] if "interrupted before DescribeMlflow" in f["message"]]
    assert all(f["status"] == "UNKNOWN" for f in never)
    for e in doc["errors"]:
        if e["message"].endswith("resources were described"):
            n = int(e["message"].split("before ")[1].split(" of ")[0])
            arns = {
                f["resource_arn"]
                for f in never
                if (f["account_id"], f["region"]) == (e["account_id"], e["region"])
            }
            assert len(arns) == n, e
    assert {f["resource_arn"] for f in doc["findings"]} - {f["resource_arn"] for f in never}


def test_ctrl_c_while_proving_buckets_keeps_the_collected_resources(slow, tmp_path):
    out = tmp_path / "out"
    proc = slow.popen(
        "scan", *SCOPE, "--concurrency", "2", "--no-history", "--output-dir", str(out)
    )
    took, stderr = interrupt_when(slow, proc, "s3:HeadBucket", signals=3)
    print(f"SIGINT while proving -> exit after {took:.2f}s")
    assert proc.returncode == 130, stderr
    assert took < 2.0, f"took {took:.1f}s to act on SIGINT"
    assert "Traceback" not in stderr
    # The later Ctrl-Cs were noted and ignored: the reports were completed, not abandoned.
    assert "still writing the reports of the interrupted run" in stderr
    doc = assert_incomplete_reports(out, tmp_path)
    # Every resource was described before the prove stage: all are evaluated, and the
    # buckets not yet proven are UNKNOWN with the reason.
    assert doc["findings"]
    unproven = [f for f in doc["findings"] if "interrupted before S3" in f["message"]]
    assert unproven and all(f["status"] == "UNKNOWN" for f in unproven)
    assert any(f["status"] in ("PASS", "FAIL") for f in doc["findings"])
