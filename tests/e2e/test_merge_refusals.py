"""``merge`` refuses the same run twice and shards with different trusted accounts, and
names the shards that are missing (the CLI as its own process, shards scanned against the
served demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.served import SCOPE, read

pytestmark = pytest.mark.slow


def test_merge_refuses_duplicates_and_mismatched_trust_and_names_missing_shards(served, tmp_path):
    def shard(k: str, *extra: str) -> tuple[str, ...]:
        out = tmp_path / f"shard{k}{len(extra)}"
        return ("scan", *SCOPE, "--shard", f"{k}/2", "--no-history", "--format", "json",
                "--output-dir", str(out), *extra)  # fmt: skip

    def findings(argv: tuple[str, ...]) -> str:
        return str(Path(argv[argv.index("--output-dir") + 1]) / "findings.json")

    # The three shard scans are independent: they run side by side.
    shards = (
        shard("1"),
        shard("2"),
        shard("2", "--trusted-account", served.demo["partner_account_id"]),
    )
    served.run_together(*shards)
    one, two, other = (findings(argv) for argv in shards)
    merged = tmp_path / "merged"
    dup = served.run("merge", one, one, two, "--output-dir", str(merged))
    assert dup.returncode == 2 and "same run" in dup.stderr, dup.stderr
    assert not (merged / "findings.json").exists()

    partial = served.run("merge", one, "--output-dir", str(merged))
    assert partial.returncode == 1, partial.stderr  # FAILs found; 3 only without them
    assert "shard(s) 2/2 missing" in partial.stderr
    assert read(merged)["run"]["complete"] is False

    mixed = served.run("merge", one, other, "--output-dir", str(tmp_path / "mixed"))
    assert mixed.returncode == 2 and "different trusted accounts" in mixed.stderr

    ok = served.run("merge", one, two, "--output-dir", str(tmp_path / "ok"))
    assert ok.returncode == 1, ok.stderr
    assert read(tmp_path / "ok")["run"]["missing_shards"] == []
