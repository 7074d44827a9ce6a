"""No call that no rule needs: a fact source that no enabled rule reads is not called."""

from __future__ import annotations

import pytest

from auditor.evaluate.integrity import RULE_FACTS
from auditor.evaluate.rules import load_rules, sources_read

# What the prove stage reads of a bucket it owns, and the account-level setting.
CONFIGURATION_READS = {
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetPublicAccessBlock",
    "GetBucketOwnershipControls",
    "GetBucketVersioning",
    "GetObjectLockConfiguration",
}


def _integrity_checks() -> list[str]:
    return sorted(r.id for r in load_rules() if "integrity" in r.sources)


def _configuration_reads(sim) -> int:
    return sum(
        1
        for c in sim.calls
        if c.service == "s3control" or (c.service == "s3" and c.operation in CONFIGURATION_READS)
    )


def _scan_without(run_cli, tmp_path, checks: list[str]) -> dict:
    """``scan --org`` with ``checks`` disabled by a policy file; its findings document."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("checks:\n" + "".join(f"  {c}: {{enabled: false}}\n" for c in checks))
    args = ("scan", "--org", "--quiet", "--processes", "1", "--config", str(policy))
    result, doc = run_cli(*args, out=tmp_path / "off")
    assert result.exit_code in (0, 1, 3), result.output
    return doc


def _statuses(doc: dict, without: list[str] = ()) -> dict:
    """(resource, check) -> status, the checks ``without`` left out."""
    return {
        (f["resource_arn"], f["check_id"]): f["status"]
        for f in doc["findings"]
        if f["check_id"] not in without
    }


def test_each_shipped_integrity_check_reads_the_integrity_source():
    checks = _integrity_checks()
    assert len(checks) == len(RULE_FACTS) == 4
    rules = load_rules()
    assert "integrity" in sources_read(rules)
    assert "integrity" not in sources_read(rules, checks)
    assert "integrity" in sources_read(rules, checks[1:])  # one enabled check is enough


@pytest.mark.slow
def test_no_bucket_configuration_read_when_every_integrity_check_is_disabled(
    demo_org, run_cli, tmp_path
):
    sim, _ = demo_org
    sim.reset_calls()
    result, doc = run_cli("scan", "--org", "--quiet", "--processes", "1", out=tmp_path / "all")
    assert result.exit_code in (0, 1, 3), result.output
    with_checks = _configuration_reads(sim)
    assert with_checks > 0  # the count does see these reads
    assert {f["check_id"] for f in doc["findings"]} >= set(_integrity_checks())

    sim.reset_calls()
    off = _scan_without(run_cli, tmp_path, _integrity_checks())
    assert _configuration_reads(sim) == 0
    assert sim.count(service="s3", operation="HeadBucket") > 0  # ownership is still proven
    assert not {f["check_id"] for f in off["findings"]} & set(_integrity_checks())
    assert _statuses(off) == _statuses(doc, without=_integrity_checks())


# The execution-role checks, named here rather than derived from the code under test.
ROLE_CHECKS = ["mlflow_execution_role_s3_write_scoped", "mlflow_execution_role_trust_scoped"]


def test_only_the_role_checks_read_the_role_source():
    """The core checks' texts mention the role's scope as a mitigation; a mention is not
    a read, or no scan could ever skip the IAM reads."""
    rules = load_rules()
    assert sorted(r.id for r in rules if "role" in r.sources) == ROLE_CHECKS
    assert "role" not in sources_read(rules, ROLE_CHECKS)
    assert "role" in sources_read(rules, ROLE_CHECKS[1:])


@pytest.mark.slow
def test_no_execution_role_read_when_the_role_checks_are_disabled(demo_org, run_cli, tmp_path):
    sim, _ = demo_org
    sim.reset_calls()
    result, doc = run_cli("scan", "--org", "--quiet", "--processes", "1", out=tmp_path / "all")
    assert result.exit_code in (0, 1, 3), result.output
    assert sim.count(service="iam") > 0  # the count does see these reads
    mitigated = [f for f in doc["findings"] if "mitigates this" in f["message"]]
    assert mitigated  # the demo has a server whose role's scope is a mitigation

    sim.reset_calls()
    off = _scan_without(run_cli, tmp_path, ROLE_CHECKS)
    assert sim.count(service="iam") == 0
    assert not {f["check_id"] for f in off["findings"]} & set(ROLE_CHECKS)
    assert _statuses(off) == _statuses(doc, without=ROLE_CHECKS)
    # Unread, the role is claimed as a mitigation nowhere: the text knows no more than
    # the verdict.
    assert not [f for f in off["findings"] if "mitigates this" in f["message"]]
