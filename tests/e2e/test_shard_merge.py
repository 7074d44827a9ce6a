"""--shard K/N splits by account; merging the shards gives what one scan gives."""

from __future__ import annotations

import json

from click.testing import CliRunner

from auditor.cli import main
from auditor.collect.accounts import shard_of


def scan(env, out, *extra):
    args = [
        "scan",
        "--org",
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
        "--format",
        "json",
        "--no-history",
        "--output-dir",
        str(out),
        *extra,
    ]
    result = CliRunner(env=env).invoke(main, args, catch_exceptions=False)
    return result, json.loads((out / "findings.json").read_text())


def rows(doc):
    return sorted(
        (f["account_id"], f["resource_name"], f["check_id"], f["status"]) for f in doc["findings"]
    )


def test_shards_merge_into_the_single_scan(demo_org, tmp_path):
    sim, org = demo_org
    key, secret = sim.credentials_for(org.management_account_id)
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    full_result, full = scan(env, tmp_path / "full")
    # enough shards that the central bucket's owner is in another shard than its server
    prod, shared = org.accounts["prod"], org.accounts["shared-services"]
    n = next(n for n in range(3, 40) if shard_of(prod, n) != shard_of(shared, n))
    shards = []
    for k in range(1, n + 1):
        _, doc = scan(env, tmp_path / f"s{k}", "--shard", f"{k}/{n}")
        expected_accounts = {
            a for a in [org.management_account_id, *org.accounts.values()] if shard_of(a, n) == k
        }
        assert {a["account_id"] for a in doc["run"]["accounts"]} == expected_accounts
        assert doc["run"]["shard"] == f"{k}/{n}"
        shards.append(tmp_path / f"s{k}" / "findings.json")
    # every account is in exactly one shard
    assert sum(len(json.loads(p.read_text())["run"]["accounts"]) for p in shards) == 4

    merged_dir = tmp_path / "merged"
    result = CliRunner().invoke(
        main,
        ["merge", "--output-dir", str(merged_dir), "--quiet", *map(str, shards)],
        catch_exceptions=False,
    )
    merged = json.loads((merged_dir / "findings.json").read_text())
    # the same verdicts a single scan reaches: a shard still inventories every account, so
    # a bucket owned by another shard's account is proven, not unknown
    assert rows(merged) == rows(full)
    assert merged["errors"] == full["errors"]
    assert merged["summary"]["by_status"] == full["summary"]["by_status"]
    assert result.exit_code == full_result.exit_code == 1
    assert [m["shard"] for m in merged["run"]["merged_from"]] == [
        f"{k}/{n}" for k in range(1, n + 1)
    ]
    central = next(
        f
        for f in merged["findings"]
        if f["resource_name"] == "central-bucket"
        and f["check_id"] == "mlflow_artifact_bucket_owner_trusted"
    )
    assert central["status"] == "PASS" and central["actual_owner"] == shared
    assert merged["run"]["missing_shards"] == []
    assert (merged_dir / "report.html").exists() and (merged_dir / "findings.csv").exists()

    # a missing shard makes the merged run incomplete
    partial_dir = tmp_path / "partial"
    result = CliRunner().invoke(
        main,
        ["merge", "--output-dir", str(partial_dir), "--quiet", "--fail-on", "none", str(shards[0])],
        catch_exceptions=False,
    )
    partial = json.loads((partial_dir / "findings.json").read_text())
    assert partial["run"]["missing_shards"] == [f"{k}/{n}" for k in range(2, n + 1)]
    assert partial["run"]["complete"] is False and result.exit_code == 3


def test_merging_overlapping_runs_is_refused(demo_org, tmp_path):
    sim, org = demo_org
    key, secret = sim.credentials_for(org.management_account_id)
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    scan(env, tmp_path / "a")
    scan(env, tmp_path / "b")
    result = CliRunner().invoke(
        main,
        [
            "merge",
            "--output-dir",
            str(tmp_path / "m"),
            str(tmp_path / "a" / "findings.json"),
            str(tmp_path / "b" / "findings.json"),
        ],
    )
    assert result.exit_code == 2
    assert "is in both" in result.output
    assert not (tmp_path / "m" / "findings.json").exists()
