"""``scan --output-dir s3://...`` and ``merge s3://...``: shards written to one prefix and
merged from it give what one scan gives, with no shared disk."""

from __future__ import annotations

import json

from click.testing import CliRunner

from auditor.cli import main
from auditor.collect.accounts import shard_of

REGION = "us-east-1"


def invoke(env, *args: str):
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def rows(doc):
    return sorted(
        (f["account_id"], f["resource_name"], f["check_id"], f["status"]) for f in doc["findings"]
    )


def test_shards_in_s3_merge_from_the_prefix_into_the_single_scan(demo_org, tmp_path):
    sim, org = demo_org
    caller = org.management_account_id
    key, secret = sim.credentials_for(caller)
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    s3 = sim.session_for(caller, REGION).client("s3")
    bucket = f"audit-results-{caller}"
    s3.create_bucket(Bucket=bucket)
    scan = ["scan", "--org", "--region", REGION, "--format", "json,csv"]

    full = invoke(env, *scan, "--no-history", "--output-dir", str(tmp_path / "full"))
    single = json.loads((tmp_path / "full" / "findings.json").read_text())
    prod, shared = org.accounts["prod"], org.accounts["shared-services"]
    n = next(n for n in range(2, 40) if shard_of(prod, n) != shard_of(shared, n))
    for k in range(1, n + 1):
        result = invoke(env, *scan, "--shard", f"{k}/{n}", "--output-dir",
                        f"s3://{bucket}/night/shard-{k}/")  # fmt: skip
        url = f"s3://{bucket}/night/shard-{k}/findings.json"
        assert f"wrote {url}" in result.stderr, result.stderr
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    for k in range(1, n + 1):  # each shard's reports and its own history, beside them
        assert {f"night/shard-{k}/{name}" for name in ("findings.json", "findings.csv")} <= set(
            listed
        )
        assert f"night/shard-{k}/history.sqlite" in listed
    shard_doc = json.loads(
        s3.get_object(Bucket=bucket, Key="night/shard-1/findings.json")["Body"].read()
    )
    assert shard_doc["history"]["database"] == f"s3://{bucket}/night/shard-1/history.sqlite"

    merged = invoke(env, "merge", f"s3://{bucket}/night/", "--output-dir",
                    f"s3://{bucket}/merged/", "--format", "json", "--quiet")  # fmt: skip
    assert merged.exit_code == full.exit_code == 1
    doc = json.loads(s3.get_object(Bucket=bucket, Key="merged/findings.json")["Body"].read())
    assert rows(doc) == rows(single)
    assert doc["summary"]["by_status"] == single["summary"]["by_status"]
    assert doc["run"]["missing_shards"] == []
    assert [m["source"] for m in doc["run"]["merged_from"]] == [
        f"s3://{bucket}/night/shard-{k}/findings.json" for k in range(1, n + 1)
    ]

    # a prefix with one shard missing: named, and the merged run is incomplete
    s3.delete_object(Bucket=bucket, Key=f"night/shard-{n}/findings.json")
    partial = invoke(env, "merge", f"s3://{bucket}/night/", "--output-dir",
                     str(tmp_path / "partial"), "--fail-on", "none", "--quiet")  # fmt: skip
    assert partial.exit_code == 3
    assert f"shard(s) {n}/{n} missing" in partial.stderr
    # the same shard given twice (the prefix and its file) is refused
    dup = CliRunner(env=env).invoke(
        main,
        ["merge", f"s3://{bucket}/night/", f"s3://{bucket}/night/shard-1/", "--output-dir",
         str(tmp_path / "dup")],
    )  # fmt: skip
    assert dup.exit_code == 2 and "is the same run" in dup.stderr
    missing = invoke(env, "merge", f"s3://{bucket}/nothing/", "--output-dir", str(tmp_path / "m"))
    assert missing.exit_code == 2 and "no findings.json under this prefix" in missing.stderr
