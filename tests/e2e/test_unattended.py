"""Unattended runs you can trust (issue 11): every test drives the real CLI process
against ``python -m auditor.sim serve --demo``, with the real file system, real signals
and a real pseudo-terminal."""

from __future__ import annotations

import datetime as dt
import json
import os
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
    findings = read(tmp_path / "c")["findings"]
    after = {f["resource_name"]: f for f in findings}
    assert after["central-bucket"]["expected_owner"] == shared
    # 6. the re-scan after --remediate --yes: sniped-unverified now verifies prod, so it
    # fails closed; it says so and is not offered the applied pin again.
    sniped = next(
        f
        for f in findings
        if f["resource_name"] == "sniped-unverified"
        and f["check_id"] == "mlflow_artifact_bucket_owner_trusted"
    )
    assert sniped["status"] == "FAIL" and "outage" in sniped["message"]
    assert sniped["remediation"]["auto"] is False
    assert "already fails closed" in sniped["remediation"]["text"]
    assert "--s3-bucket-owner-account-id" not in sniped["remediation"]["command"]


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


# ------------------------------------------------------------------ 4. verdict vs threshold


def test_fail_on_none_still_reports_fail(served, tmp_path):
    out = tmp_path / "out"
    proc = served.run("scan", *SCOPE, "--fail-on", "none", "--no-history", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr  # the threshold decides the exit code ...
    doc = read(out)
    criticals = doc["summary"]["fail_by_severity"]["critical"]
    assert criticals > 0
    assert doc["summary"]["verdict"] == "FAIL"  # ... the verdict describes the findings
    assert doc["summary"]["fail_on"] == "none"
    html = (out / "report.html").read_text()
    assert "No failure at or above the threshold" not in html
    assert "failing finding" in html and "--fail-on none" in html
    assert "verdict: FAIL (exit 0)" in proc.stderr


# ------------------------------------------------------------------ 6. fails closed


def test_a_server_that_fails_closed_says_so_and_ranks_below_exploitable_ones(served, tmp_path):
    out = tmp_path / "out"
    served.run("scan", *SCOPE, "--no-history", "--output-dir", str(out))
    doc = read(out)
    by = {(f["resource_name"], f["check_id"]): (n, f) for n, f in enumerate(doc["findings"])}
    # missing-bucket verifies its own (trusted) account: a sniper's bucket is refused.
    n_closed, closed = by[("missing-bucket", "mlflow_artifact_bucket_exists")]
    assert closed["status"] == "FAIL"
    assert "fails closed" in closed["message"] and "outage" in closed["message"]
    assert "any AWS account can create it" not in closed["message"]
    assert closed["remediation"]["auto"] is False
    assert "--s3-bucket-owner-account-id" not in closed["remediation"]["command"]
    # sniped-unverified does not verify: exploitable now, listed first.
    n_open, exposed = by[("sniped-unverified", "mlflow_artifact_bucket_owner_trusted")]
    assert exposed["status"] == "FAIL" and exposed["remediation"]["auto"] is True
    assert n_open < n_closed
    assert doc["findings"][0]["resource_name"] in {"sniped-unverified", "app-sniped"}


# ------------------------------------------------------------------ 9. dry-run plan table


def test_dry_run_prints_the_plan_as_a_table(served, tmp_path):
    proc = served.run(
        "scan",
        *SCOPE,
        "--remediate",
        "--dry-run",
        "--no-history",
        "--output-dir",
        str(tmp_path / "out"),
    )
    lines = proc.stderr.splitlines()
    head = next(n for n, line in enumerate(lines) if "SERVER" in line and "WHY" in line)
    table = "\n".join(lines[head : head + 30])
    assert "ACCOUNT/REGION" in lines[head] and "CHANGE" in lines[head]
    row = next(line for line in lines[head:] if "sniped-unverified" in line)
    assert "planned" in row and "verification off -> on" in row
    assert "s3://" in row  # the bucket the decision is about
    assert "skipped" in table and "{'" not in table


# ------------------------------------------------------------------ 11. merge


def test_merge_refuses_duplicates_and_mismatched_trust_and_names_missing_shards(served, tmp_path):
    def shard(k: str, *extra: str) -> str:
        out = tmp_path / f"shard{k}{len(extra)}"
        served.run(
            "scan",
            *SCOPE,
            "--shard",
            f"{k}/2",
            "--no-history",
            "--format",
            "json",
            "--output-dir",
            str(out),
            *extra,
        )
        return str(out / "findings.json")

    one, two = shard("1"), shard("2")
    merged = tmp_path / "merged"
    dup = served.run("merge", one, one, two, "--output-dir", str(merged))
    assert dup.returncode == 2 and "same run" in dup.stderr, dup.stderr
    assert not (merged / "findings.json").exists()

    partial = served.run("merge", one, "--output-dir", str(merged))
    assert partial.returncode == 1, partial.stderr  # FAILs found; 3 only without them
    assert "shard(s) 2/2 missing" in partial.stderr
    assert read(merged)["run"]["complete"] is False

    other = shard("2", "--trusted-account", served.demo["partner_account_id"])
    mixed = served.run("merge", one, other, "--output-dir", str(tmp_path / "mixed"))
    assert mixed.returncode == 2 and "different trusted accounts" in mixed.stderr

    ok = served.run("merge", one, two, "--output-dir", str(tmp_path / "ok"))
    assert ok.returncode == 1, ok.stderr
    assert read(tmp_path / "ok")["run"]["missing_shards"] == []


# ------------------------------------------------------------------ 12-13. report


def test_report_removes_stale_temporaries_of_ours_only(served, tmp_path):
    out = tmp_path / "out"
    served.run("scan", *SCOPE, "--no-history", "--format", "json", "--output-dir", str(out))
    stale = out / ".report.html.k1ll3d.tmp"
    stale.write_bytes(b"x" * 1_000_000)  # what a killed `report` leaves behind
    fresh = out / ".findings.csv.running.tmp"  # another run, writing right now
    fresh.write_text("partial")
    foreign = out / ".notes.tmp"
    foreign.write_text("not ours")
    two_hours_ago = time.time() - 7200
    for path in (stale, foreign):
        os.utime(path, (two_hours_ago, two_hours_ago))
    proc = served.run("report", str(out / "findings.json"))
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    assert fresh.exists() and foreign.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["findings"][0].update(evidence="x"),
            "findings[0].evidence: expected array, got string",
        ),
        (
            lambda d: d["findings"][3].update(severity="urgent"),
            "findings[3].severity: unknown value 'urgent'",
        ),
        (
            lambda d: d["findings"][1].update(status="BROKEN"),
            "findings[1].status: unknown value 'BROKEN'",
        ),
        (lambda d: d["run"].update(accounts={"a": 1}), "run.accounts: expected array, got object"),
        (lambda d: d["findings"][0].update(evidence="@DEEP@"), "nested too deeply"),
    ],
    ids=["wrong-type", "unknown-severity", "unknown-status", "run-field", "deep-nesting"],
)
def test_report_validates_the_document_and_names_the_field(served, tmp_path, mutate, message):
    out = tmp_path / "out"
    served.run("scan", *SCOPE, "--no-history", "--format", "json", "--output-dir", str(out))
    doc = read(out)
    mutate(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc).replace('"@DEEP@"', "[" * 100_000 + "]" * 100_000))
    proc = served.run("report", str(bad), "--output-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ 14. bounded config


def test_an_oversized_policy_file_is_refused_before_it_is_parsed(served, tmp_path):
    policy = tmp_path / "huge.yaml"
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    waiver = (
        "  - check_id: mlflow_artifact_bucket_exists\n"
        "    resource: 'arn:aws:sagemaker:us-east-1:000000000000:mlflow-tracking-server/n{n}'\n"
        f"    reason: r\n    expires: '{expires}'\n"
    )
    policy.write_text("waivers:\n" + "".join(waiver.format(n=n) for n in range(8000)))
    assert policy.stat().st_size > 1 << 20
    started = time.monotonic()
    proc = served.run("scan", *SCOPE, "--config", str(policy), "--output-dir", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "more than the 1,048,576 allowed" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert time.monotonic() - started < 20


# ------------------------------------------------------------------ 15. comma lists


def test_every_list_option_takes_a_comma_list(served, tmp_path):
    prod, shared = served.account("prod"), served.account("shared-services")
    partner = served.demo["partner_account_id"]
    out = tmp_path / "out"
    proc = served.run(
        "scan",
        "--account",
        f"{prod},{shared}",
        "--region",
        "us-east-1",
        "--trusted-account",
        f"{partner},{served.demo['external_account_id']}",
        "--no-history",
        "--format",
        "json",
        "--output-dir",
        str(out),
    )
    assert proc.returncode in (0, 1), proc.stderr
    run = read(out)["run"]
    assert {a["account_id"] for a in run["accounts"]} == {prod, shared}
    assert {partner, served.demo["external_account_id"]} <= set(run["trusted_accounts"])


# ------------------------------------------------------------------ 16. blanket waivers


def test_blanket_waivers_are_capped_and_warned_about(served, tmp_path):
    def policy(expires: str, extra: str = "") -> str:
        path = tmp_path / f"p{expires}.yaml"
        path.write_text(
            extra + "waivers:\n  - check_id: '*'\n    resource: '*'\n"
            f"    reason: quiet please\n    expires: '{expires}'\n"
        )
        return str(path)

    forever = served.run(
        "scan", *SCOPE, "--config", policy("9999-12-31"), "--output-dir", str(tmp_path / "a")
    )
    assert forever.returncode == 2
    assert "max_waiver_days (365)" in forever.stderr and ":5:" in forever.stderr
    assert not (tmp_path / "a" / "findings.json").exists()

    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    blanket = served.run(
        "scan",
        *SCOPE,
        "--config",
        policy(soon),
        "--no-history",
        "--output-dir",
        str(tmp_path / "b"),
    )
    warning = [line for line in blanket.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "every check and every resource" in warning[0]

    later = (dt.date.today() + dt.timedelta(days=500)).isoformat()
    allowed = served.run(
        "scan",
        *SCOPE,
        "--config",
        policy(later, "max_waiver_days: 730\n"),
        "--no-history",
        "--output-dir",
        str(tmp_path / "c"),
    )
    assert allowed.returncode != 2, allowed.stderr
