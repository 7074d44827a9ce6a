"""The remediation plan shown to a person: at the terminal's prompt Ctrl-C or Ctrl-D means
no and the scan is kept; ``--dry-run`` prints the plan as a readable table (the CLI as its
own process, on a real pseudo-terminal for the prompt)."""

from __future__ import annotations

import pytest

from tests.e2e.served import SCOPE, read, spawn_in_pty

pytestmark = pytest.mark.slow


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
