"""Unattended runs you can trust (issue 11): every test drives the real CLI process
against ``python -m auditor.sim serve --demo``, with the real file system, real signals
and a real pseudo-terminal."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.served import CLI, serve_demo, spawn_in_pty, tmpfs_command

SCOPE = ("--org", "--region", "us-east-1")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One served demo for the tests that do not change it (faults are reset after)."""
    with serve_demo(tmp_path_factory.mktemp("aws-none")) as s:
        yield s


@pytest.fixture
def fresh(tmp_path_factory):
    """A served demo of its own, for a test whose remediation changes the servers."""
    with serve_demo(tmp_path_factory.mktemp("aws-none")) as s:
        yield s


def read(out: Path) -> dict:
    return json.loads((out / "findings.json").read_text())


def problems(doc: dict) -> int:
    return sum(1 for f in doc["findings"] if f["status"] != "PASS")


# ------------------------------------------------------------------ 1. disk full


def test_disk_full_exits_4_records_nothing_and_leaves_no_temporary_file(served, tmp_path):
    history = tmp_path / "history.sqlite"
    full = tmp_path / "full"
    full.mkdir()
    listing = tmp_path / "left-in-full-dir.txt"
    argv = [CLI, "scan", *SCOPE, "--output-dir", str(full), "--history", str(history)]
    night1 = subprocess.run(
        tmpfs_command(full, listing, [*argv, "--fail-on-new"]),
        env=served.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert night1.returncode == 4, night1.stderr
    err = [line for line in night1.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "No space left on device" in err[0], night1.stderr
    assert "Traceback" not in night1.stderr
    assert listing.read_text().split() == ["filler"]  # no report, no temporary, no probe

    # Night 2 on a working disk: nothing of night 1 was recorded, so every problem is new
    # and --fail-on-new still alerts on the critical FAILs.
    out = tmp_path / "ok"
    night2 = served.run(
        "scan", *SCOPE, "--output-dir", str(out), "--history", str(history), "--fail-on-new"
    )
    assert night2.returncode == 1, night2.stderr
    doc = read(out)
    assert doc["history"]["previous_run_id"] is None
    assert doc["history"]["new"] == problems(doc) > 0


# ------------------------------------------------------------------ 2. transient denial


def test_a_scope_denied_for_one_night_does_not_re_page_its_backlog(served, tmp_path):
    history = tmp_path / "history.sqlite"
    prod = served.account("prod")

    def night(n: int) -> tuple[int, dict]:
        out = tmp_path / f"night{n}"
        proc = served.run(
            "scan", *SCOPE, "--output-dir", str(out), "--history", str(history), "--fail-on-new"
        )
        return proc.returncode, read(out)

    night(1)  # the baseline
    served.control("/_sim/faults", {"deny": [[prod, "us-east-1", "sagemaker"]]})
    try:
        code, doc = night(2)
    finally:
        served.control("/_sim/faults", {"clear": True})
    assert code == 3 and not doc["run"]["complete"]
    assert doc["history"]["resolved"] == []
    assert doc["history"]["carried_forward"] > 0
    code, doc = night(3)
    assert doc["history"]["new"] == 0, [
        f["resource_name"] for f in doc["findings"] if f.get("change") == "new"
    ]
    assert code == 0


# ------------------------------------------------------------------ 3. expired waiver


def _policy(path: Path, arn: str, expires: dt.date) -> Path:
    path.write_text(
        "waivers:\n"
        "  - check_id: mlflow_artifact_bucket_exists\n"
        f"    resource: '{arn}'\n"
        "    reason: bucket is being re-created (ticket SEC-1)\n"
        f"    expires: '{expires.isoformat()}'\n"
    )
    return path


def test_a_fail_whose_waiver_expired_since_the_last_run_is_new(served, tmp_path):
    history = tmp_path / "history.sqlite"
    arn = served.case("missing-bucket")["resource_arn"]
    today = dt.datetime.now(dt.UTC).date()
    base = ("scan", *SCOPE, "--history", str(history), "--fail-on", "critical")
    served.run(
        *base,
        "--output-dir",
        str(tmp_path / "n1"),
        "--config",
        str(_policy(tmp_path / "p1.yaml", arn, today + dt.timedelta(days=30))),
    )
    muted = read(tmp_path / "n1")
    key = ("missing-bucket", "mlflow_artifact_bucket_exists")
    assert {(f["resource_name"], f["check_id"]): f["status"] for f in muted["findings"]}[key] == (
        "MUTED"
    )
    # A night without new problems first: the baseline holds the MUTED finding.
    night2 = served.run(
        *base,
        "--fail-on-new",
        "--output-dir",
        str(tmp_path / "n2"),
        "--config",
        str(tmp_path / "p1.yaml"),
    )
    assert night2.returncode == 0, night2.stderr
    night3 = served.run(
        *base,
        "--fail-on-new",
        "--output-dir",
        str(tmp_path / "n3"),
        "--config",
        str(_policy(tmp_path / "p3.yaml", arn, today - dt.timedelta(days=1))),
    )
    doc = read(tmp_path / "n3")
    f = next(f for f in doc["findings"] if (f["resource_name"], f["check_id"]) == key)
    assert (f["status"], f["change"]) == ("FAIL", "new")
    assert night3.returncode == 1, night3.stderr
    assert "waiver(s) expired" in night3.stderr and arn in night3.stderr
    assert "new FAIL" in night3.stderr and "missing-bucket" in night3.stderr


# ------------------------------------------------------------------ 7. prompt interrupted


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_or_ctrl_d_at_the_prompt_is_no_and_the_scan_is_kept(served, tmp_path, key):
    out = tmp_path / "out"
    history = tmp_path / "history.sqlite"
    run = spawn_in_pty(
        served, "scan", *SCOPE, "--remediate", "--output-dir", str(out), "--history", str(history)
    )
    screen = run.read_until(b"Apply these changes? [y/N]")
    run.type(key)
    code = run.wait(timeout=60)
    assert code == 130, run.output[-3000:]
    doc = read(out)
    planned = [r for r in doc["remediations"] if r["status"] == "planned"]
    assert planned and all("interrupted at the prompt" in r["reason"] for r in planned)
    assert not any(r["status"] in ("applied", "verified") for r in doc["remediations"])
    assert doc["summary"]["exit_code"] == 130
    assert doc["history"]["previous_run_id"] is None  # recorded: the next run compares
    assert b"Aborted!" not in run.output
    # 9. the plan is a readable table: server, account/region, change and why
    text = screen.decode(errors="replace")
    assert "SERVER" in text and "ACCOUNT/REGION" in text and "CHANGE" in text
    assert "verification off -> on" in text and "{'S3BucketOwner" not in text
    assert "sniped-unverified" in text and "s3://" in text


# ------------------------------------------------------------------ 8. interrupt in apply


def test_ctrl_c_during_remediation_acts_within_a_second_and_records_130(fresh, tmp_path):
    out = tmp_path / "out"
    proc = fresh.popen(
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


# ------------------------------------------------------------------ 5. proven pins kept


def test_remediation_never_replaces_a_pin_s3_proves_correct(fresh, tmp_path):
    prod = fresh.account("prod")
    shared = fresh.account("shared-services")
    mgmt = fresh.info["management_account_id"]
    args = ("scan", "--account", prod, "--region", "us-east-1", "--no-history")

    # Organizations unreadable: membership unknown -> skipped, and the reason says how
    # to trust the owner.
    fresh.control("/_sim/faults", {"deny": [[mgmt, None, "organizations"]]})
    try:
        fresh.run(*args, "--remediate", "--yes", "--output-dir", str(tmp_path / "a"))
    finally:
        fresh.control("/_sim/faults", {"clear": True})
    rem = {r["resource_name"]: r for r in read(tmp_path / "a")["remediations"]}
    assert rem["central-bucket"]["status"] == "skipped"
    assert f"--trusted-account {shared}" in rem["central-bucket"]["reason"]
    assert "--org" in rem["central-bucket"]["reason"]

    # Organizations readable: the owner is a member -> still left alone.
    fresh.run(*args, "--remediate", "--yes", "--output-dir", str(tmp_path / "b"))
    rem = {r["resource_name"]: r for r in read(tmp_path / "b")["remediations"]}
    assert rem["central-bucket"]["status"] == "skipped"
    assert "member of your Organization" in rem["central-bucket"]["reason"]
    # ... while a foreign pin of a foreign bucket (the partner, outside the org) still
    # fails closed to the server's own account.
    assert rem["partner-bucket"]["status"] == "verified"

    fresh.run(*args, "--output-dir", str(tmp_path / "c"))
    after = {f["resource_name"]: f for f in read(tmp_path / "c")["findings"]}
    assert after["central-bucket"]["expected_owner"] == shared


# ------------------------------------------------------------------ 10. control characters


def test_control_and_bidi_characters_never_reach_terminal_csv_or_html(served, tmp_path):
    nasty = (
        "s3://evil-\u202egpj.exe/\x1b[2J\x1b[31mRED\x1b]8;;http://x.example/\x07link\x1b]8;;\x07/p"
    )
    sm = served.client("sagemaker")
    name = "ctl-chars"
    sm.create_mlflow_tracking_server(
        TrackingServerName=name,
        ArtifactStoreUri=nasty,
        RoleArn=f"arn:aws:iam::{served.info['management_account_id']}:role/MlflowTrackingServerRole",
        S3BucketOwnerVerification=False,
    )
    try:
        out = tmp_path / "out"
        run = spawn_in_pty(
            served,
            "scan",
            "--region",
            "us-east-1",
            "--remediate",
            "--dry-run",
            "--no-history",
            "--output-dir",
            str(out),
        )
        run.read_until(b"wrote ")
        assert run.wait(timeout=120) in (0, 1, 3)
        doc = read(out)
        f = next(f for f in doc["findings"] if f["resource_name"] == name)
        assert f["artifact_store_uri"] == nasty  # findings.json keeps the exact value
        csv = (out / "findings.csv").read_bytes()
        html = (out / "report.html").read_bytes()
        for raw in (b"\x1b", b"\x07", b"\x00", "\u202e".encode()):
            assert raw not in csv, raw
            assert raw not in html, raw
        # The terminal (the dry-run plan table) has our own colours, never these:
        for raw in (b"\x1b[2J", b"\x1b[31mRED", b"\x1b]8", b"\x07", "\u202e".encode()):
            assert raw not in run.output, raw
        assert b"\\x1b[2J" in csv and b"\\u202e" in csv
        assert b"\\x1b[2J" in html
        assert b"\\x1b[2J" in run.output  # shown, not interpreted
    finally:
        sm.delete_mlflow_tracking_server(TrackingServerName=name)
