"""A full disk: the nightly scan exits 4 with one line, records nothing in the history and
leaves no temporary file, so the next night on a working disk still alerts on every problem.

The CLI runs as its own process in a mount namespace whose output directory is a full tmpfs.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.served import CLI, SCOPE, problems, read, tmpfs_command

pytestmark = pytest.mark.slow


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


def test_disk_full_leaves_no_empty_history_database(served, tmp_path):
    """The history beside the reports (the default): a full disk leaves no 0-byte or
    half-written history.sqlite, which the next run or `history` would stumble on."""
    full = tmp_path / "full"
    full.mkdir()
    listing = tmp_path / "left-in-full-dir.txt"
    argv = [CLI, "scan", *SCOPE, "--output-dir", str(full)]
    proc = subprocess.run(
        tmpfs_command(full, listing, argv),
        env=served.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 4, proc.stderr
    assert listing.read_text().split() == ["filler"], proc.stderr  # no history, no journal
    assert "No space left on device" in proc.stderr.splitlines()[-1]
