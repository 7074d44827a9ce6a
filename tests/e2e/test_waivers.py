"""Waivers in a policy file (``--config``), the CLI as its own process against the served
demo: an expired waiver makes its FAIL new again, blanket waivers are capped and warned
about, and an oversized policy file is refused before it is parsed."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from tests.e2e.served import SCOPE, read

pytestmark = pytest.mark.slow


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
    later = (dt.date.today() + dt.timedelta(days=500)).isoformat()
    # Two independent scans: side by side.
    blanket, allowed = served.run_together(
        ("scan", *SCOPE, "--config", policy(soon), "--no-history",
         "--output-dir", str(tmp_path / "b")),
        ("scan", *SCOPE, "--config", policy(later, "max_waiver_days: 730\n"), "--no-history",
         "--output-dir", str(tmp_path / "c")),
    )  # fmt: skip
    warning = [line for line in blanket.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "every check and every resource" in warning[0]

    assert allowed.returncode != 2, allowed.stderr


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
