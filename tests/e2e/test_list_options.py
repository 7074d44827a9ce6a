"""Every option that takes a list takes a comma list (the CLI as its own process)."""

from __future__ import annotations

import pytest

from tests.e2e.served import read

pytestmark = pytest.mark.slow


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
