"""Scope options, exit codes and bad input of the CLI, on the simulated organisation."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from tests.e2e.conftest import verdicts
from tests.e2e.served import CLI

TRUSTED = "mlflow_artifact_bucket_owner_trusted"


def test_default_scope_is_the_callers_own_account(run_cli, demo_org):
    _, org = demo_org
    result, doc = run_cli("scan", "--region", "us-east-1", "--format", "json")
    assert [a["account_id"] for a in doc["run"]["accounts"]] == [org.management_account_id]
    assert {f["account_id"] for f in doc["findings"]} == {org.management_account_id}
    assert doc["run"]["complete"] is True
    # the management account's compliant server only fails the advisory (low) check
    assert result.exit_code == 0, result.output


def test_explicit_accounts_and_regions(run_cli, demo_org):
    _, org = demo_org
    prod = org.accounts["prod"]
    result, doc = run_cli(
        "scan", "--account", prod, "--region", "us-east-1,eu-west-1", "--format", "json"
    )
    assert [a["account_id"] for a in doc["run"]["accounts"]] == [prod]
    assert doc["run"]["regions"] == ["eu-west-1", "us-east-1"]
    assert {f["account_id"] for f in doc["findings"]} == {prod}
    assert result.exit_code == 1


def test_regions_not_enabled_are_skipped_quietly(run_cli, demo_org):
    _sim, org = demo_org
    prod = org.accounts["prod"]
    result, doc = run_cli(
        "scan",
        "--account",
        prod,
        "--region",
        "us-east-1",
        "--region",
        "af-south-1",
        "--format",
        "json",
        "--fail-on",
        "none",
    )
    scopes = {s["region"]: s["status"] for s in doc["run"]["scopes"]}
    assert scopes == {"us-east-1": "scanned"}
    assert doc["run"]["regions_not_enabled"] == {prod: ["af-south-1"]}
    assert doc["errors"] == []
    assert result.exit_code == 0


def test_trusting_the_partner_turns_its_proven_bucket_into_a_pass(run_cli, demo_org):
    _, org = demo_org
    prod = org.accounts["prod"]
    _, doc = run_cli(
        "scan",
        "--account",
        prod,
        "--region",
        "us-east-1",
        "--format",
        "json",
        "--trusted-account",
        org.partner_account_id,
    )
    got = verdicts(doc)
    assert got[(org.case("partner-bucket").resource_name, TRUSTED)] == "PASS"
    # The partner cannot be inventoried, so a bucket outside the audited accounts that we
    # may not read can no longer be proven untrusted: UNKNOWN, never a guessed verdict.
    assert got[(org.case("sniped-verified").resource_name, TRUSTED)] == "UNKNOWN"


def test_without_org_only_the_resource_account_is_trusted(run_cli, demo_org):
    _, org = demo_org
    _, doc = run_cli(
        "scan", "--account", org.accounts["prod"], "--region", "us-east-1", "--format", "json"
    )
    got = verdicts(doc)
    # shared-services is not trusted without --org or --trusted-account
    assert got[(org.case("central-bucket").resource_name, TRUSTED)] == "FAIL"


@pytest.mark.parametrize(("fail_on", "code"), [("critical", 1), ("none", 3)])
def test_fail_on_threshold_and_incomplete_scan(run_cli, fail_on, code):
    result, doc = run_cli(
        "scan",
        "--org",
        "--format",
        "json",
        "--fail-on",
        fail_on,
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
    )
    assert result.exit_code == code
    assert doc["summary"]["exit_code"] == code


def test_waived_findings_are_muted_and_do_not_trip_fail_on(run_cli, demo_org, tmp_path):
    _, org = demo_org
    name = org.case("verification-disabled").resource_name
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "waivers:\n"
        "  - check_id: mlflow_s3_owner_verification_enabled\n"
        f"    resource: 'arn:aws:sagemaker:*:mlflow-tracking-server/{name}'\n"
        "    reason: replaced next sprint\n"
        f"    expires: {dt.date.today() + dt.timedelta(days=100)}\n"
    )
    _, doc = run_cli(
        "scan",
        "--account",
        org.accounts["prod"],
        "--region",
        "us-east-1",
        "--format",
        "json",
        "--config",
        str(policy),
    )
    f = next(
        f
        for f in doc["findings"]
        if f["resource_name"] == name and f["check_id"] == "mlflow_s3_owner_verification_enabled"
    )
    assert f["status"] == "MUTED"
    assert f["muted_reason"].startswith("replaced next sprint")


def test_rules_command_lists_every_check(run_cli):
    result, _ = run_cli("rules")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 12
    assert lines[0].split()[:2] in (
        ["mlflow_artifact_bucket_exists", "critical"],
        ["mlflow_artifact_bucket_owner_trusted", "critical"],
    )


def test_report_re_renders_csv_from_json_alone(run_cli, tmp_path):
    out = tmp_path / "scan"
    run_cli("scan", "--region", "us-east-1", "--format", "json", out=out)
    result, _ = run_cli(
        "report",
        str(out / "findings.json"),
        "--format",
        "csv",
        "--output-dir",
        str(tmp_path / "re"),
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "re" / "findings.csv").read_text().startswith("check_id,status")


# --- bad input: one line, exit 2, no traceback, nothing scanned ----------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "--account", "12345678901"], "is not a 12-digit AWS account id"),
        (["scan", "--account", "1234567890123"], "is not a 12-digit AWS account id"),
        (["scan", "--trusted-account", "abc"], "is not a 12-digit AWS account id"),
        (["scan", "--region", "us-east-9"], "unknown region 'us-east-9'"),
        (["scan", "--format", "json,pdf"], "use a comma list of json, csv, html"),
        (["scan", "--fail-on", "urgent"], "'urgent' is not one of"),
        (["scan", "--shard", "3/2"], "is not K/N"),
        (["scan", "--dry-run"], "only apply with --remediate"),
        (["scan", "--profile", "nope"], "could not be found"),
    ],
)
def test_bad_options_exit_2_with_one_line(run_cli, tmp_path, args, message):
    result, doc = run_cli(*args, out=tmp_path / "never")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert doc is None


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["scan", "--shard", "3/2"],
            "Error: Invalid value for '--shard': '3/2' is not K/N with 1 <= K <= N "
            "(see 'mlflow-audit scan --help')",
        ),
        (
            ["scan", "--format", "json,pdf"],
            "Error: Invalid value for '--format': use a comma list of json, csv, html, ocsf, "
            "asff (got 'json,pdf') (see 'mlflow-audit scan --help')",
        ),
        (["scan", "--nope"], "Error: No such option '--nope'. (see 'mlflow-audit scan --help')"),
        (["--nope"], "Error: No such option '--nope'. (see 'mlflow-audit --help')"),
        (["nope"], "Error: No such command 'nope'. (see 'mlflow-audit --help')"),
        (["scan", "--dry-run"], "Error: --dry-run and --yes only apply with --remediate"),
        (
            ["report", "x.json", "--profile", "p"],
            "Error: --profile needs --security-hub or --security-lake",
        ),
    ],
)
def test_a_usage_error_is_one_line_on_stderr_and_exit_2(tmp_path, args, line):
    """The installed command as a process: stderr is the one line, stdout is empty."""
    proc = subprocess.run(
        [CLI, *args], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", line + "\n")


def test_the_bare_command_still_shows_its_help():
    proc = subprocess.run([CLI], capture_output=True, text=True, timeout=60, check=False)
    assert "Commands:" in proc.stdout + proc.stderr and "scan" in proc.stdout + proc.stderr


def test_malformed_config_names_the_line(run_cli, tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("trusted_accounts:\n  - 12345\n")
    result, doc = run_cli("scan", "--config", str(policy), out=tmp_path / "never")
    assert result.exit_code == 2
    assert f"Error: {policy}:2: '12345' is not a 12-digit AWS account id" in result.output
    assert doc is None and not (tmp_path / "never" / "findings.json").exists()


def test_output_dir_that_is_a_file_is_a_config_error(run_cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result, _ = run_cli("scan", "--output-dir", str(blocker / "sub"))
    assert result.exit_code == 2
    assert "is not writable" in result.output
    assert "Traceback" not in result.output


def test_corrupt_findings_file_for_report(run_cli, tmp_path):
    bad = tmp_path / "findings.json"
    bad.write_text("{\n  truncated")
    result, _ = run_cli("report", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:2: not valid JSON" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_rewriting_keeps_previous_report_until_the_new_one_is_complete(run_cli, tmp_path):
    out = tmp_path / "o"
    run_cli("scan", "--region", "us-east-1", "--format", "json", out=out)
    first = json.loads((out / "findings.json").read_text())["run"]["id"]
    run_cli("scan", "--region", "us-east-1", "--format", "json", out=out)
    second = json.loads((out / "findings.json").read_text())["run"]["id"]
    assert first != second
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_broken_aws_config_file_is_one_line_exit_2(run_cli, tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[default\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for args in (["scan"], ["scan", "--region", "us-east-1"]):
        result, doc = run_cli(*args, out=tmp_path / "never")
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and doc is None


def test_unknown_aws_profile_in_the_environment_is_one_line_exit_2(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nope")
    result, _ = run_cli("scan", "--region", "us-east-1", out=tmp_path / "never")
    assert result.exit_code == 2
    assert "could not be found" in result.output


def test_an_unexpected_failure_is_one_line_exit_2_never_a_traceback(run_cli, tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    # the environment failing in a way no code path expects (here: the output writer)
    monkeypatch.setattr("auditor.report.outputs._stage", explode)
    result, _ = run_cli("scan", "--region", "us-east-1", "--format", "json", out=tmp_path / "o")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: unexpected RuntimeError: disk on fire (set MLFLOW_AUDIT_DEBUG=1 for details)"
    )


def test_rejected_credentials_in_an_enabled_region_make_the_scan_incomplete(run_cli, demo_org):
    sim, org = demo_org
    prod = org.accounts["prod"]
    sim.faults.reject_credentials(prod, "us-east-1", "sagemaker")
    try:
        result, doc = run_cli("scan", "--account", prod, "--format", "json", "--fail-on", "none")
    finally:
        sim.faults.clear()
        for denied in org.denied:
            sim.faults.deny(*denied)
    # DescribeRegions said us-east-1 is enabled: this is not "region not enabled"
    assert [(e["region"], e["error_code"]) for e in doc["errors"]] == [
        ("us-east-1", "UnrecognizedClientException")
    ]
    assert doc["run"]["complete"] is False
    assert result.exit_code == 3
