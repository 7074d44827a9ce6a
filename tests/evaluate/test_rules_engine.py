"""The shipped rules over facts records built by the facts stage (no AWS involved)."""

import datetime as dt

import pytest

from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.errors import ConfigError
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Resource
from auditor.evaluate.engine import evaluate_all
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.policy import Policy
from auditor.evaluate.rules import load_rules, parse_rule

OWN = "111111111111"
CENTRAL = "222222222222"
OTHER_MEMBER = "333333333333"
STRANGER = "999988887777"
TODAY = dt.date(2026, 11, 27)
RULES = load_rules()


def server(uri="s3://ml-bucket/x", verification=True, pinned=None, kind=TRACKING_SERVER):
    return Resource(
        resource_type=kind,
        account_id=OWN,
        region="us-east-1",
        name="srv",
        arn=f"arn:aws:sagemaker:us-east-1:{OWN}:mlflow-tracking-server/srv",
        artifact_store_uri=uri,
        status="Created",
        s3_bucket_owner_verification=verification if kind == TRACKING_SERVER else None,
        s3_bucket_owner_account_id=pinned,
    )


def verdicts(
    resource,
    proof,
    trusted=(OWN, CENTRAL, OTHER_MEMBER),
    inventoried=(OWN, CENTRAL, OTHER_MEMBER),
    policy=None,
):
    uri = parse_artifact_store_uri(resource.artifact_store_uri)
    trust = TrustContext(frozenset(trusted), frozenset(inventoried))
    facts = build_facts(resource, uri, proof, trust)
    findings, _ = evaluate_all(RULES, [facts], policy or Policy(), TODAY)
    return {f["check_id"]: (f["status"], f["severity"]) for f in findings}, findings


def owned(name, owner, inventoried=(OWN, CENTRAL, OTHER_MEMBER)):
    return BucketProof(
        name=name, exists=True, owner_account_id=owner, not_owned_by=set(inventoried) - {owner}
    )


def test_compliant_server_passes_every_ownership_check():
    v, _ = verdicts(server(), owned("ml-bucket", OWN))
    assert v["mlflow_s3_owner_verification_enabled"] == ("PASS", "high")
    assert v["mlflow_s3_expected_owner_matches_bucket"] == ("PASS", "high")
    assert v["mlflow_artifact_bucket_exists"] == ("PASS", "critical")
    assert v["mlflow_artifact_bucket_owner_trusted"] == ("PASS", "critical")
    assert v["mlflow_artifact_store_uri_valid"] == ("PASS", "medium")
    assert v["mlflow_artifact_bucket_account_namespace"] == ("FAIL", "low")


def test_absent_verification_is_a_failure_not_unknown():
    v, findings = verdicts(server(verification=None), owned("ml-bucket", OWN))
    assert v["mlflow_s3_owner_verification_enabled"] == ("FAIL", "high")
    msg = next(
        f["message"] for f in findings if f["check_id"] == "mlflow_s3_owner_verification_enabled"
    )
    assert "predates the setting" in msg


def test_missing_bucket_fails_exists_and_leaves_owner_checks_unknown():
    proof = BucketProof(
        name="ml-bucket",
        exists=False,
        not_owned_by={OWN, CENTRAL},
        unknown_reason="the bucket does not exist",
    )
    v, findings = verdicts(server(), proof)
    assert v["mlflow_artifact_bucket_exists"] == ("FAIL", "critical")
    assert v["mlflow_s3_expected_owner_matches_bucket"][0] == "UNKNOWN"
    assert v["mlflow_artifact_bucket_owner_trusted"][0] == "UNKNOWN"
    unknown = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_owner_trusted")
    assert "does not exist" in unknown["message"]
    assert unknown["actual_owner"] is None


def test_missing_bucket_in_trusted_namespace_is_high_not_critical():
    name = f"ml-{OWN}-us-east-1-an"
    proof = BucketProof(name=name, exists=False, namespace_account_id=OWN)
    v, _ = verdicts(server(uri=f"s3://{name}/x"), proof)
    assert v["mlflow_artifact_bucket_exists"] == ("FAIL", "high")
    assert v["mlflow_artifact_bucket_account_namespace"] == ("PASS", "low")


def test_missing_bucket_in_untrusted_namespace_stays_critical():
    name = f"ml-{STRANGER}-us-east-1-an"
    proof = BucketProof(name=name, exists=False, namespace_account_id=STRANGER)
    v, _ = verdicts(server(uri=f"s3://{name}/x"), proof)
    assert v["mlflow_artifact_bucket_exists"] == ("FAIL", "critical")


def test_sniped_bucket_unproven_owner_fails_by_exclusion_when_all_trusted_inventoried():
    proof = BucketProof(
        name="ml-bucket",
        exists=True,
        not_owned_by={OWN, CENTRAL, OTHER_MEMBER},
        unknown_reason="owned outside the audited set",
    )
    v, findings = verdicts(server(), proof)
    assert v["mlflow_artifact_bucket_owner_trusted"] == ("FAIL", "critical")
    # The match check fails only on a proven owner; refuting the expected one is not
    # proving who owns it
    assert v["mlflow_s3_expected_owner_matches_bucket"][0] == "UNKNOWN"
    match = next(f for f in findings if f["check_id"] == "mlflow_s3_expected_owner_matches_bucket")
    assert f"it is not {OWN}" in match["message"]
    f = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_owner_trusted")
    assert f["actual_owner"] is None
    assert "outside the trusted set" in f["message"]


def test_unproven_owner_is_unknown_when_a_trusted_account_was_not_inventoried():
    proof = BucketProof(
        name="ml-bucket",
        exists=True,
        not_owned_by={OWN},
        unknown_reason="owned outside the audited set",
    )
    v, _ = verdicts(server(), proof, trusted=(OWN, CENTRAL), inventoried=(OWN,))
    assert v["mlflow_artifact_bucket_owner_trusted"][0] == "UNKNOWN"
    assert v["mlflow_s3_expected_owner_matches_bucket"][0] == "UNKNOWN"


def test_proven_untrusted_owner_fails_owner_trusted():
    v, findings = verdicts(server(pinned=STRANGER), owned("ml-bucket", STRANGER))
    assert v["mlflow_artifact_bucket_owner_trusted"] == ("FAIL", "critical")
    assert v["mlflow_s3_expected_owner_matches_bucket"] == ("PASS", "high")
    f = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_owner_trusted")
    assert f["actual_owner"] == STRANGER
    # the fix never pins the untrusted owner, and never replaces a pin S3 proves correct
    # while the run cannot tell whether that owner is in the Organization
    # (nothing is pinned, as --remediate would pin nothing: no command, the text says why)
    assert "--s3-bucket-owner-account-id" not in f["remediation"]["command"]
    assert STRANGER not in f["remediation"]["command"]
    assert "No account is pinned automatically" in f["remediation"]["text"]
    assert f"--trusted-account {STRANGER}" in f["remediation"]["text"]
    assert f["remediation"]["auto"] is False


def test_proven_untrusted_owner_that_is_not_the_pin_fails_closed_to_the_own_account():
    _, findings = verdicts(server(verification=False), owned("ml-bucket", STRANGER))
    f = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_owner_trusted")
    assert f"--s3-bucket-owner-account-id {OWN}" in f["remediation"]["command"]
    assert f["remediation"]["auto"] is True


def test_a_server_that_already_fails_closed_is_not_offered_the_applied_fix_again():
    _, findings = verdicts(server(verification=True), owned("ml-bucket", STRANGER))
    f = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_owner_trusted")
    assert f["remediation"]["auto"] is False
    assert "--artifact-store-uri" in f["remediation"]["command"]
    assert "already fails closed" in f["remediation"]["text"]
    assert "outage" in f["message"]


def test_wrong_pinned_owner_fails_match_and_fix_pins_proven_trusted_owner():
    v, findings = verdicts(server(pinned=OTHER_MEMBER), owned("ml-bucket", CENTRAL))
    assert v["mlflow_s3_expected_owner_matches_bucket"] == ("FAIL", "high")
    assert v["mlflow_artifact_bucket_owner_trusted"] == ("PASS", "critical")
    f = next(f for f in findings if f["check_id"] == "mlflow_s3_expected_owner_matches_bucket")
    assert f["expected_owner"] == OTHER_MEMBER and f["actual_owner"] == CENTRAL
    assert f"--s3-bucket-owner-account-id {CENTRAL}" in f["remediation"]["command"]
    assert f["remediation"]["auto"] is True


def test_invalid_uri_fails_uri_check_and_everything_bucket_related_is_unknown():
    v, findings = verdicts(server(uri="https://example.com/artifacts"), None)
    assert v["mlflow_artifact_store_uri_valid"] == ("FAIL", "medium")
    for check in (
        "mlflow_artifact_bucket_exists",
        "mlflow_artifact_bucket_owner_trusted",
        "mlflow_s3_expected_owner_matches_bucket",
        "mlflow_artifact_bucket_account_namespace",
    ):
        assert v[check][0] == "UNKNOWN", check
    f = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_exists")
    assert "names no S3 bucket" in f["message"]
    assert f["remediation"]["auto"] is False


def test_apps_get_no_verification_or_expected_owner_check():
    v, _ = verdicts(server(kind=MLFLOW_APP), owned("ml-bucket", OWN))
    assert "mlflow_s3_owner_verification_enabled" not in v
    assert "mlflow_s3_expected_owner_matches_bucket" not in v
    assert v["mlflow_artifact_bucket_owner_trusted"] == ("PASS", "critical")


def test_policy_disables_checks_overrides_severity_and_waives():
    from auditor.evaluate.policy import Waiver

    policy = Policy(
        disabled_checks={"mlflow_artifact_bucket_account_namespace"},
        severities={"mlflow_s3_owner_verification_enabled": "critical"},
        waivers=[
            Waiver(
                "mlflow_artifact_bucket_exists",
                "arn:aws:sagemaker:*/srv",
                "being rebuilt",
                dt.date(2026, 11, 27),
                3,
            )
        ],
    )
    proof = BucketProof(name="ml-bucket", exists=False, unknown_reason="gone")
    v, findings = verdicts(server(verification=False), proof, policy=policy)
    assert "mlflow_artifact_bucket_account_namespace" not in v
    assert v["mlflow_s3_owner_verification_enabled"] == ("FAIL", "critical")
    assert v["mlflow_artifact_bucket_exists"][0] == "MUTED"
    muted = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_exists")
    assert muted["muted_reason"].startswith("being rebuilt")


def test_evidence_of_bucket_checks_comes_from_the_proof():
    from auditor.core.model import Evidence

    proof = owned("ml-bucket", CENTRAL)
    proof.evidence.append(Evidence("s3:ListBuckets", CENTRAL, "listed", {}, "owns it"))
    _, findings = verdicts(server(pinned=CENTRAL), proof)
    f = next(f for f in findings if f["check_id"] == "mlflow_artifact_bucket_owner_trusted")
    assert f["evidence"][-1]["call"] == "s3:ListBuckets"
    assert f["evidence"][-1]["as_account"] == CENTRAL


def test_rule_validation_names_the_file():
    with pytest.raises(ConfigError, match="bad.yaml: rule is missing"):
        parse_rule({"id": "x"}, "bad.yaml")
    base = {
        "id": "x",
        "title": "t",
        "severity": "high",
        "resource_types": ["mlflow-app"],
        "reads": ["uri.valid"],
        "pass_when": "uri.valid ==",
        "message": {"PASS": "a", "FAIL": "b"},
        "risk": "r",
        "fix": {"text": "t", "command": "c"},
    }
    with pytest.raises(ConfigError, match="not valid JMESPath"):
        parse_rule(base, "bad.yaml")


def test_user_rules_dir_adds_a_check(tmp_path):
    (tmp_path / "custom.yaml").write_text(
        "id: custom_prefix_set\ntitle: Artifact prefix is set\nseverity: info\n"
        "resource_types: [mlflow-tracking-server]\nreads: [uri.valid]\n"
        'pass_when: "uri.style == \'s3\'"\nmessage:\n  PASS: "ok {{ resource.name }}"\n  FAIL: "no"\n'
        "risk: none\nfix: {text: t, command: c}\n"
    )
    rules = load_rules([tmp_path])
    assert "custom_prefix_set" in {r.id for r in rules}
    with pytest.raises(ConfigError, match="duplicate check id"):
        load_rules([tmp_path, tmp_path])


def _rule(**changes):
    base = {
        "id": "x",
        "title": "t",
        "severity": "high",
        "resource_types": ["mlflow-app"],
        "reads": ["uri.valid"],
        "pass_when": "uri.valid",
        "message": {"PASS": "a", "FAIL": "b"},
        "risk": "r",
        "fix": {"text": "t", "command": "c"},
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reads": []}, "reads must list the facts"),
        ({"severity": [1]}, "unknown severity"),
        ({"references": 5}, "references must be a list"),
        ({"fix": {"text": "t", "command": "c", "auto": "false"}}, "fix.auto must be true or false"),
        ({"message": {"PASS": "{{ nope.attr }}", "FAIL": "b"}}, "rule fails on a sample resource"),
        ({"pass_when": "abs(resource.name) > `1`"}, "rule fails on a sample resource"),
        (
            {"message": {"PASS": "{{ resource.__class__.__mro__ }}", "FAIL": "b"}},
            "rule fails on a sample resource",
        ),
    ],
)
def test_broken_rules_fail_at_load_time_naming_the_file(changes, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_rule(_rule(**changes), "custom.yaml")
    assert str(info.value.message).startswith("custom.yaml: ")


def test_a_condition_that_reaches_an_undeclared_null_is_unknown_not_fail():
    from auditor.evaluate.engine import evaluate

    rule = parse_rule(
        _rule(
            resource_types=["mlflow-tracking-server"],
            reads=["uri.valid"],
            pass_when="bucket.owner_trusted",
        ),
        "r.yaml",
    )
    proof = BucketProof(name="ml-bucket", exists=False, unknown_reason="gone")
    uri = parse_artifact_store_uri("s3://ml-bucket/x")
    facts = build_facts(server(), uri, proof, TrustContext(frozenset({OWN}), frozenset({OWN})))
    status, _, message = evaluate(rule, facts)
    assert status == "UNKNOWN" and "not known" in message
