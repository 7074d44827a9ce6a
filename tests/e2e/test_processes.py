"""``scan --processes N``: accounts spread over worker processes, the single-process result."""

from __future__ import annotations

import copy

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
