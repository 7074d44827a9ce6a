"""A scope denied for one night: its findings are carried forward, not resolved, so the
night it is readable again pages nothing (the CLI as its own process, nightly history)."""

from __future__ import annotations

import pytest

from tests.e2e.served import SCOPE, read

pytestmark = pytest.mark.slow


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
        served.reset()
    assert code == 3 and not doc["run"]["complete"]
    assert doc["history"]["resolved"] == []
    assert doc["history"]["carried_forward"] > 0
    code, doc = night(3)
    assert doc["history"]["new"] == 0, [
        f["resource_name"] for f in doc["findings"] if f.get("change") == "new"
    ]
    assert code == 0
