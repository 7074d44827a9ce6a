import datetime as dt
from pathlib import Path

import pytest

from auditor.core.errors import ConfigError
from auditor.evaluate.policy import load_policy
from auditor.evaluate.rules import load_rules

CHECKS = {"mlflow_artifact_bucket_exists", "mlflow_s3_owner_verification_enabled"}


def write(tmp_path, text):
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    return p


def test_full_policy_loads(tmp_path):
    p = write(
        tmp_path,
        """\
trusted_accounts:
  - "012345678901"
  - 444455556666
checks:
  mlflow_artifact_bucket_exists:
    severity: HIGH
  mlflow_s3_owner_verification_enabled:
    enabled: false
waivers:
  - check_id: mlflow_artifact_bucket_exists
    resource: "arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/legacy-*"
    reason: decommissioning in December
    expires: 2026-12-31
""",
    )
    policy = load_policy(p, CHECKS)
    assert policy.trusted_accounts == ["012345678901", "444455556666"]
    assert policy.severities == {"mlflow_artifact_bucket_exists": "high"}
    assert policy.disabled_checks == {"mlflow_s3_owner_verification_enabled"}
    (w,) = policy.waivers
    assert w.line == 10 and w.expires == dt.date(2026, 12, 31)
    arn = "arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/legacy-7"
    assert w.matches("mlflow_artifact_bucket_exists", arn)
    assert not w.matches("mlflow_s3_owner_verification_enabled", arn)
    assert not w.matches("mlflow_artifact_bucket_exists", arn.replace("legacy", "prod"))


def test_waiver_is_in_force_through_its_expiry_day(tmp_path):
    p = write(
        tmp_path,
        """\
waivers:
  - {check_id: "*", resource: "arn:*", reason: r, expires: 2026-11-27}
""",
    )
    policy = load_policy(p, CHECKS)
    arn = "arn:aws:sagemaker:us-east-1:1:mlflow-tracking-server/x"
    active, expired = policy.waiver_for("mlflow_artifact_bucket_exists", arn, dt.date(2026, 11, 27))
    assert active is not None and expired is None
    active, expired = policy.waiver_for("mlflow_artifact_bucket_exists", arn, dt.date(2026, 11, 28))
    assert active is None and expired is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trusted_acounts: []\n", "policy.yaml:1: unknown key 'trusted_acounts'"),
        ("trusted_accounts:\n  - 12345\n", "policy.yaml:2: '12345' is not a 12-digit"),
        ("trusted_accounts: 111111111111\n", "policy.yaml:1: trusted_accounts must be a list"),
        ("checks:\n  no_such_check: {enabled: false}\n", "policy.yaml:2: unknown check id"),
        (
            "checks:\n  mlflow_artifact_bucket_exists: {severity: urgent}\n",
            "policy.yaml:2: unknown severity 'urgent'",
        ),
        (
            "waivers:\n  - check_id: mlflow_artifact_bucket_exists\n    resource: x\n"
            "    expires: 2027-01-01\n",
            "policy.yaml:2: waiver has no 'reason'",
        ),
        (
            "waivers:\n  - check_id: mlflow_artifact_bucket_exists\n    resource: x\n"
            "    reason: r\n",
            "policy.yaml:2: waiver has no 'expires'",
        ),
        (
            "waivers:\n  - {check_id: mlflow_artifact_bucket_exists, resource: x, reason: r,\n"
            "     expires: next week}\n",
            "is not a date",
        ),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_configuration_errors_name_the_line(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_policy(p, CHECKS)
    assert message in str(info.value.message)
    assert "\n" not in info.value.message


def test_unreadable_policy_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.yaml", CHECKS)


def test_the_shipped_example_policy_has_no_waiver_expired_or_too_far_ahead():
    """docs/policy.example.yaml is copied by users: a waiver in it that has expired (or
    lies beyond max_waiver_days) would teach a policy that does not work. Today's date,
    so the example cannot rot silently."""
    today = dt.datetime.now(dt.UTC).date()
    example = Path(__file__).resolve().parents[2] / "docs" / "policy.example.yaml"
    policy = load_policy(example, {r.id for r in load_rules()}, today=today)
    assert policy.waivers
    latest = today + dt.timedelta(days=policy.max_waiver_days)
    for waiver in policy.waivers:
        assert not waiver.expired(today), f"{example}:{waiver.line}: expired {waiver.expires}"
        assert waiver.expires <= latest, f"{example}:{waiver.line}: beyond max_waiver_days"
