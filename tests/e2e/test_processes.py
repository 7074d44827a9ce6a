"""``scan --processes N``: accounts spread over worker processes, the single-process result."""

from __future__ import annotations

import copy
import re
import time

import pytest

from tests.e2e.served import SCOPE, problems, read, spawn_in_pty

# What differs between two runs of the same scan, whatever the number of processes
# (the stats count calls: every worker inventories every account, as a shard does).
_PER_RUN = ("id", "started_at", "finished_at", "stats")


def _comparable(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for key in _PER_RUN:
        doc["run"].pop(key, None)
    doc.pop("generated_at", None)
    doc["history"].pop("database")  # each run's own output directory
    for finding in doc["findings"]:
        finding.pop("first_seen")  # the run's start: new in both
    return doc


def test_two_processes_find_exactly_what_one_does(demo_org, run_cli, tmp_path):
    one_result, one = run_cli("scan", "--org", "--quiet", "--processes", "1", out=tmp_path / "1")
    two_result, two = run_cli("scan", "--org", "--quiet", "--processes", "2", out=tmp_path / "2")
    assert one_result.exit_code == two_result.exit_code, two_result.output
    assert len(one["run"]["accounts"]) > 2 and one["findings"]
    assert _comparable(two) == _comparable(one)
    assert two["run"]["stats"]["buckets"] == one["run"]["stats"]["buckets"]


# ---------------------------------------------------------------- as a cron job and a person
# The CLI as its own process against the served demo (its planted denied scope included):
# the workers are real forked processes, each talking HTTP to the simulation.


@pytest.mark.slow
def test_two_processes_keep_the_errors_the_coverage_and_the_history(served, tmp_path):
    history = tmp_path / "history.sqlite"
    # Two denied scopes, one in each worker's half of the sorted accounts.
    ids = sorted(served.demo["accounts"].values())
    denied = [[ids[0], "us-east-1", "sagemaker"], [ids[-1], "us-east-1", "sagemaker"]]
    served.control("/_sim/faults", {"deny": denied})

    def scan(processes: int, out: str, *extra: str):
        proc = served.run(
            "scan",
            *SCOPE,
            "--processes",
            str(processes),
            "--output-dir",
            str(tmp_path / out),
            *extra,
        )
        assert proc.returncode in (0, 1, 3) and "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode, read(tmp_path / out)

    code_one, one = scan(1, "one", "--history", str(history))
    code_two, two = scan(2, "two", "--no-history")
    assert code_two == code_one
    assert {(e["account_id"], e["region"]) for e in one["errors"]} == {(a, r) for a, r, _ in denied}
    assert two["errors"] == one["errors"]
    assert two["run"]["scopes"] == one["run"]["scopes"]
    assert two["run"]["complete"] == one["run"]["complete"]
    assert [f["resource_arn"] for f in two["findings"]] == [
        f["resource_arn"] for f in one["findings"]
    ]
    assert two["summary"]["by_status"] == one["summary"]["by_status"]

    # The next night, in two processes, against the first night's history: nothing new,
    # nothing resolved, every problem unchanged since the run recorded by one process.
    code_next, night = scan(2, "next", "--history", str(history))
    assert code_next == code_one
    assert night["history"]["previous_run_id"] == one["run"]["id"]
    assert night["history"]["new"] == 0 and night["history"]["resolved"] == []
    assert night["history"]["unchanged"] == problems(one) > 0
    first_seen = {f["resource_arn"] + f["check_id"]: f["first_seen"] for f in one["findings"]}
    for f in night["findings"]:
        assert f["first_seen"] == first_seen[f["resource_arn"] + f["check_id"]]


@pytest.mark.slow
def test_the_progress_line_counts_every_workers_scopes(served, tmp_path):
    out = tmp_path / "out"
    run = spawn_in_pty(
        served, "scan", *SCOPE, "--processes", "2", "--no-history", "--output-dir", str(out)
    )
    code = run.wait(timeout=240)
    assert code in (0, 1, 3), run.output[-3000:]
    doc = read(out)
    lines = re.findall(rb"scanning: (\d+)/(\d+) scopes", run.output)
    assert lines, run.output[-3000:]
    done, total = (int(n) for n in lines[-1])
    listed = [s for s in doc["run"]["scopes"] if s["status"] != "skipped"]
    assert done == total == len(listed) > 1  # both workers' scopes, summed
    assert len({s["account_id"] for s in listed}) > 2


@pytest.mark.slow
def test_ctrl_c_at_the_terminal_stops_every_worker_and_writes_the_incomplete_run(served, tmp_path):
    """Ctrl-C typed at the terminal reaches the parent and each worker (one process
    group): each worker returns what it has, and the parent writes the one merged,
    incomplete run (exit 130), as a single process does."""
    history = tmp_path / "history.sqlite"
    served.control("/_sim/faults", {"latency_ms": 400})
    out = tmp_path / "out"
    run = spawn_in_pty(
        served,
        "scan",
        *SCOPE,
        "--processes",
        "2",
        "--concurrency",
        "2",
        "--history",
        str(history),
        "--output-dir",
        str(out),
    )
    run.read_until(b"scanning: ", timeout=120)
    sent = time.monotonic()
    run.type(b"\x03")
    code = run.wait(timeout=60)
    took = time.monotonic() - sent
    assert code == 130, run.output[-3000:]
    assert took < 5.0, f"took {took:.1f}s to act on Ctrl-C"
    assert b"Traceback" not in run.output
    assert b"interrupted during the scan" in run.output
    doc = read(out)
    assert doc["run"]["complete"] is False and doc["summary"]["exit_code"] == 130
    assert "history" not in doc  # an interrupted run is never recorded
    interrupted = [e for e in doc["errors"] if e["operation"] == "interrupted"]
    assert interrupted
    # Both workers' accounts are in the one run, as scanned or as interrupted.
    accounts = {s["account_id"] for s in doc["run"]["scopes"]} | {
        e["account_id"] for e in doc["errors"]
    }
    assert len(accounts - {None}) > 2
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
