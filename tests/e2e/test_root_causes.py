"""Signal, not noise, through the CLI on the simulated organisation.

- Root causes first: every UNKNOWN that only follows from a FAIL of its resource names
  it (``caused_by``), has no fix, is counted apart, is never new, is never sent to
  Security Hub and is OCSF Suppressed; the terminal shows it under its root.
- One decision for the fix: every planted case's findings pin exactly what
  ``--remediate --dry-run`` plans for that server, or pin nothing when nothing is planned.
- Say what was written: ``--remediate --yes`` prints the plan's table with each outcome,
  says what it waits for, and ``run.finished_at`` includes the writes.
- Worst first: the terminal's new FAILs by severity, every critical and high named.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.remediate.apply import JOURNAL_NAME
from auditor.report.formats import asff
from auditor.sim import build_demo_org, simulated_aws

REGION = "us-east-1"
PIN = re.compile(r"--s3-bucket-owner-account-id (\S+)")
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


@pytest.fixture
def fresh(monkeypatch):
    """An organisation of its own: remediation changes it."""
    with simulated_aws() as sim:
        org = build_demo_org(sim, regions=(REGION,))
        key, secret = sim.credentials_for(org.management_account_id)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        yield sim, org


def scan(out, *extra):
    args = ["scan", "--org", "--region", REGION, "--output-dir", str(out), *extra]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result, json.loads((out / "findings.json").read_text())


def test_every_fix_pins_exactly_what_the_dry_run_plans(fresh, tmp_path):
    _, org = fresh
    result, doc = scan(tmp_path / "out", "--no-history", "--remediate", "--dry-run")
    assert "<ACCOUNT" not in (tmp_path / "out" / "findings.json").read_text()
    assert "<ACCOUNT" not in result.stderr
    plans = {r["resource_arn"]: r for r in doc["remediations"]}
    by_arn: dict[str, list[dict]] = {}
    for f in doc["findings"]:
        by_arn.setdefault(f["resource_arn"], []).append(f)
    walked = 0
    for case in org.cases:
        findings = by_arn.get(case.resource_arn)
        if not findings:  # a case in a region this run was denied
            continue
        walked += 1
        pinned = {m for f in findings for m in PIN.findall(f["remediation"]["command"])}
        plan = plans.get(case.resource_arn)
        if pinned:
            assert plan is not None and plan["status"] == "planned", case.name
            assert pinned == {plan["after"]["S3BucketOwnerAccountId"]}, case.name
            for f in findings:
                if PIN.search(f["remediation"]["command"]):
                    assert f["remediation"]["command"] == plan["command"], case.name
                    assert f["remediation"]["auto"] is True
        elif plan is not None:  # nothing pinned: nothing planned, and the plan says why
            assert plan["status"] == "skipped" and plan["command"] == "", case.name
            assert plan["reason"], case.name
    assert walked >= 20
    partner = org.case("partner-bucket")
    trusted = next(
        f
        for f in by_arn[partner.resource_arn]
        if f["check_id"] == "mlflow_artifact_bucket_owner_trusted"
    )
    assert trusted["status"] == "FAIL"
    assert f"pinned to {partner.account_id}" in trusted["remediation"]["text"]
    assert org.partner_account_id not in trusted["remediation"]["command"]
    assert plans[partner.resource_arn]["after"]["S3BucketOwnerAccountId"] == partner.account_id
    bad = plans[org.case("bad-uri").resource_arn]
    assert bad["status"] == "skipped" and bad["command"] == "" and "URI" in bad["reason"]


def test_follow_ons_are_linked_counted_apart_suppressed_and_not_new(fresh, tmp_path):
    _, org = fresh
    history = ["--history", str(tmp_path / "history.sqlite")]
    formats = ["--format", "json,ocsf,asff"]
    result, doc = scan(tmp_path / "n1", *history, *formats)
    findings = doc["findings"]
    every_unknown = [f for f in findings if f["status"] == "UNKNOWN"]
    # The demo's one real unknown: the execution roles of dev, whose IAM reads are denied
    # (nothing FAILs that explains them). Every other UNKNOWN follows from a FAIL.
    real = [f for f in every_unknown if not f["caused_by"]]
    assert real and {f["account_id"] for f in real} == {org.accounts["dev"]}
    assert all(f["check_id"].startswith("mlflow_execution_role_") for f in real)
    unknown = [f for f in every_unknown if f["caused_by"]]
    assert len(unknown) >= 20
    failing = {(f["resource_arn"], f["check_id"]) for f in findings if f["status"] == "FAIL"}
    for f in unknown:  # each follow-on names a FAIL of its own resource
        assert (f["resource_arn"], f["caused_by"]) in failing, f
        assert f["remediation"]["command"] == "" and f["remediation"]["auto"] is False
        assert f["change"] is None
    summary = doc["summary"]
    assert summary["by_status"]["UNKNOWN"] == len(every_unknown)
    assert summary["unknown_follow_on"] == len(unknown)
    assert summary["unknown_to_review"] == len(real)
    assert f"{len(real)} UNKNOWN (+{len(unknown)} following from a FAIL)" in result.stderr
    problems = [f for f in findings if f["status"] != "PASS" and not f["caused_by"]]
    assert doc["history"]["new"] == len(problems)
    # none of them is sent to Security Hub; OCSF keeps them, suppressed
    sent = {r["Id"] for r in json.loads((tmp_path / "n1" / "findings.asff.json").read_text())}
    assert sent == {asff.finding_id(f["check_id"], f["resource_arn"]) for f in problems}
    ocsf = json.loads((tmp_path / "n1" / "findings.ocsf.json").read_text())
    suppressed = {r["finding_info"]["uid"] for r in ocsf if r["status"] == "Suppressed"}
    assert {asff.finding_id(f["check_id"], f["resource_arn"]) for f in unknown} <= suppressed
    # shown under their root on the terminal
    missing = org.case("missing-bucket")
    lines = result.stderr.splitlines()
    root = next(
        n
        for n, line in enumerate(lines)
        if "mlflow_artifact_bucket_exists" in line and missing.resource_name in line
    )
    assert re.match(r"\s+\+ \d+ UNKNOWN following from it: ", lines[root + 1])
    # the second night: nothing new, the follow-ons not either
    _, doc2 = scan(tmp_path / "n2", *history, *formats)
    assert doc2["history"]["new"] == 0 and doc2["history"]["resolved"] == []
    assert all(f["change"] is None for f in doc2["findings"] if f["caused_by"])


def test_the_terminal_names_every_critical_and_high_worst_first(fresh, tmp_path):
    result, doc = scan(tmp_path / "out", "--history", str(tmp_path / "h.sqlite"))
    fails = [f for f in doc["findings"] if f["status"] == "FAIL"]
    lines = result.stderr.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("new FAIL(s)"))
    listed = [
        line.split()
        for line in lines[start + 1 :]
        if line.startswith("  ") and line.split()[0] in SEVERITY_RANK
    ]
    ranks = [SEVERITY_RANK[words[0]] for words in listed]
    assert ranks == sorted(ranks)  # worst first
    for f in fails:
        if f["severity"] in ("critical", "high"):
            assert [f["severity"], f["check_id"]] in [w[:2] for w in listed], f["check_id"]
            assert any(
                w[:2] == [f["severity"], f["check_id"]] and w[3] == f["resource_name"]
                for w in listed
            )
    hidden = len(fails) - len(listed)
    if hidden:
        assert f"... and {hidden} more: " in result.stderr


def test_remediate_yes_shows_each_outcome_waits_aloud_and_times_the_writes(fresh, tmp_path):
    out = tmp_path / "out"
    result, doc = scan(out, "--no-history", "--remediate", "--yes", "--stable-wait", "1")
    rem = {r["resource_name"]: r for r in doc["remediations"]}
    verified = [n for n, r in rem.items() if r["status"] == "verified"]
    assert len(verified) == 5
    err = result.stderr
    head = next(
        n
        for n, line in enumerate(err.splitlines())
        if line.startswith("remediation: ") and "5 verified" in line
    )
    table = err.splitlines()[head:]
    assert sorted(table[0].removeprefix("remediation: ").split(", ")) == [
        "2 skipped",
        "5 verified",
    ]
    assert table[1].split() == ["SERVER", "ACCOUNT/REGION", "STATUS", "CHANGE", "WHY"]
    for name in verified:
        row = next(line for line in table if line.split()[0] == name)
        assert " verified " in row and "->" in row
    stuck = next(line for line in table if line.split()[0] == "stuck-updating")
    assert " skipped " in stuck and "no change" in stuck
    assert re.search(
        r"remediation: waiting up to 1s for stuck-updating \(\d{12}/us-east-1\) "
        r"to leave Updating",
        err,
    )
    finished = dt.datetime.strptime(doc["run"]["finished_at"], "%Y-%m-%dT%H:%M:%SZ")
    journal = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    last = max(dt.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ") for e in journal)
    assert finished >= last.replace(microsecond=0)
