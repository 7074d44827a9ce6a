"""`mlflow-audit scan --org` over the simulated organisation: every planted case."""

from __future__ import annotations

import csv

import pytest

from tests.e2e.conftest import verdicts

VERIF = "mlflow_s3_owner_verification_enabled"
MATCH = "mlflow_s3_expected_owner_matches_bucket"
EXISTS = "mlflow_artifact_bucket_exists"
TRUSTED = "mlflow_artifact_bucket_owner_trusted"
URI = "mlflow_artifact_store_uri_valid"
NS = "mlflow_artifact_bucket_account_namespace"

# Planted case -> expected status per check (None: the check does not apply).
EXPECTED = {
    "compliant": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "compliant-namespace": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="PASS")
    ),
    "verification-disabled": (
        dict(VERIF="FAIL", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "legacy-server": (
        dict(VERIF="FAIL", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "missing-bucket": (
        dict(VERIF="PASS", MATCH="UNKNOWN", EXISTS="FAIL", TRUSTED="UNKNOWN", URI="PASS", NS="FAIL")
    ),
    "missing-namespace-bucket": (
        dict(VERIF="PASS", MATCH="UNKNOWN", EXISTS="FAIL", TRUSTED="UNKNOWN", URI="PASS", NS="PASS")
    ),
    "sniped-verified": (
        dict(VERIF="PASS", MATCH="UNKNOWN", EXISTS="PASS", TRUSTED="FAIL", URI="PASS", NS="FAIL")
    ),
    "sniped-unverified": (
        dict(VERIF="FAIL", MATCH="UNKNOWN", EXISTS="PASS", TRUSTED="FAIL", URI="PASS", NS="FAIL")
    ),
    "central-bucket": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "wrong-pinned-owner": (
        dict(VERIF="PASS", MATCH="FAIL", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "partner-bucket": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="FAIL", URI="PASS", NS="FAIL")
    ),
    "https-virtual-hosted": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "https-path-style": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "bad-uri": (
        dict(
            VERIF="PASS",
            MATCH="UNKNOWN",
            EXISTS="UNKNOWN",
            TRUSTED="UNKNOWN",
            URI="FAIL",
            NS="UNKNOWN",
        )
    ),
    "stuck-updating": (
        dict(VERIF="FAIL", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "markup": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "mgmt-compliant": (
        dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "app-compliant": (
        dict(VERIF=None, MATCH=None, EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
    "app-sniped": (
        dict(VERIF=None, MATCH=None, EXISTS="PASS", TRUSTED="FAIL", URI="PASS", NS="FAIL")
    ),
    "app-missing-bucket": (
        dict(VERIF=None, MATCH=None, EXISTS="FAIL", TRUSTED="UNKNOWN", URI="PASS", NS="FAIL")
    ),
    # The artifact store integrity cases (auditor.sim.demo_integrity): prod's own buckets,
    # sound for ownership; each fails exactly one integrity check (INTEGRITY below).
    **{
        case: dict(VERIF="PASS", MATCH="PASS", EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
        for case in (
            "integrity-public",
            "integrity-foreign-writer",
            "integrity-unversioned",
            "integrity-compliant",
        )
    },
    "app-integrity-acls-enabled": (
        dict(VERIF=None, MATCH=None, EXISTS="PASS", TRUSTED="PASS", URI="PASS", NS="FAIL")
    ),
}

PUBLIC = "mlflow_artifact_bucket_not_public"
WRITERS = "mlflow_artifact_bucket_no_foreign_writers"
ACLS = "mlflow_artifact_bucket_acls_disabled"
VERSIONING = "mlflow_artifact_bucket_versioning_enabled"
INTEGRITY_CHECKS = (PUBLIC, WRITERS, ACLS, VERSIONING)
# Planted case -> the one integrity check it fails (None: passes all four). The buckets
# of cases not listed here are not owned by a readable audited account (sniped, missing,
# the partner's, no bucket at all): every integrity check is UNKNOWN for them.
INTEGRITY = {
    "integrity-public": PUBLIC,
    "integrity-foreign-writer": WRITERS,
    "app-integrity-acls-enabled": ACLS,
    "integrity-unversioned": VERSIONING,
    "integrity-compliant": None,
    # the compliant ownership cases run their buckets well (versioned, private)
    **dict.fromkeys(
        (
            "compliant",
            "compliant-namespace",
            "central-bucket",
            "https-virtual-hosted",
            "https-path-style",
            "mgmt-compliant",
            "app-compliant",
        )
    ),
    # the other own buckets of the ownership cases were created without versioning
    **dict.fromkeys(
        (
            "verification-disabled",
            "legacy-server",
            "wrong-pinned-owner",
            "stuck-updating",
            "markup",
        ),
        VERSIONING,
    ),
}
CHECKS = {
    "VERIF": VERIF,
    "MATCH": MATCH,
    "EXISTS": EXISTS,
    "TRUSTED": TRUSTED,
    "URI": URI,
    "NS": NS,
}


@pytest.fixture(scope="module")
def org_scan(demo_org, tmp_path_factory):
    """One `scan --org` over the demo organisation (module-scoped: it is the slow part)."""
    import json

    from click.testing import CliRunner

    from auditor.cli import main

    sim, org = demo_org
    key, secret = sim.credentials_for(org.management_account_id)
    out = tmp_path_factory.mktemp("org-scan")
    env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    result = CliRunner(env=env).invoke(
        main,
        ["scan", "--org", "--output-dir", str(out), "--format", "json,csv"],
        catch_exceptions=False,
    )
    return result, json.loads((out / "findings.json").read_text()), out, org


def resource_name(org, case):
    return org.case(case).resource_name


def test_every_planted_case_gets_exactly_the_expected_verdicts(org_scan):
    _result, doc, _, org = org_scan
    got = verdicts(doc)
    for case, expected in EXPECTED.items():
        name = resource_name(org, case)
        for key, check in CHECKS.items():
            want = expected[key]
            if want is None:
                assert (name, check) not in got, (case, check)
            else:
                assert got.get((name, check)) == want, (case, check, got.get((name, check)))


def test_every_integrity_check_fails_only_on_its_planted_case(org_scan):
    """Each integrity check FAILs its planted case and PASSes the compliant ones; a bucket
    that cannot be read as its owner is UNKNOWN with the reason, never a guess."""
    _result, doc, _, org = org_scan
    got = verdicts(doc)
    for case in EXPECTED:
        name = resource_name(org, case)
        for check in INTEGRITY_CHECKS:
            if case not in INTEGRITY:
                want = "UNKNOWN"
            else:
                want = "FAIL" if INTEGRITY[case] == check else "PASS"
            assert got.get((name, check)) == want, (case, check, got.get((name, check)))


def test_the_foreign_writer_finding_quotes_the_offending_statement(org_scan):
    _result, doc, _, org = org_scan
    name = resource_name(org, "integrity-foreign-writer")
    (finding,) = [
        f for f in doc["findings"] if f["resource_name"] == name and f["check_id"] == WRITERS
    ]
    calls = {e["call"] for e in finding["evidence"]}
    assert "s3:GetBucketPolicy" in calls
    assert any(org.external_account_id in str(e) for e in finding["evidence"])
    assert "aws s3api" in finding["remediation"]["command"]
    assert finding["remediation"]["auto"] is False


def test_no_compliant_resource_gets_a_fail_except_the_advisory_namespace_check(org_scan):
    _, doc, _, org = org_scan
    compliant = {
        resource_name(org, c)
        for c in (
            "compliant",
            "compliant-namespace",
            "central-bucket",
            "https-virtual-hosted",
            "https-path-style",
            "mgmt-compliant",
            "app-compliant",
        )
    }
    for f in doc["findings"]:
        if f["resource_name"] in compliant and f["check_id"] != NS:
            assert f["status"] == "PASS", f


def test_the_denied_region_is_an_error_and_the_run_is_incomplete(org_scan):
    result, doc, _, org = org_scan
    assert doc["run"]["complete"] is False
    (err,) = doc["errors"]
    assert err["account_id"] == org.accounts["dev"]
    assert err["region"] == "eu-west-1"
    assert err["operation"] == "sagemaker:ListMlflowTrackingServers"
    assert err["error_code"] == "AccessDeniedException"
    scope = next(
        s
        for s in doc["run"]["scopes"]
        if s["account_id"] == org.accounts["dev"] and s["region"] == "eu-west-1"
    )
    assert scope["status"] == "error"
    # the server in the denied scope is not reported as if it were fine
    assert "dev-eu" not in {f["resource_name"] for f in doc["findings"]}
    # FAILs at or above high win over incompleteness: exit 1
    assert result.exit_code == 1
    assert doc["summary"]["exit_code"] == 1


def test_accounts_are_every_active_org_account_and_members_are_assumed(org_scan):
    _, doc, _, org = org_scan
    accounts = {a["account_id"]: a for a in doc["run"]["accounts"]}
    assert set(accounts) == {org.management_account_id, *org.accounts.values()}
    assert accounts[org.management_account_id]["access"] == "caller"
    for member in org.accounts.values():
        assert accounts[member]["access"] == "assume-role"
    assert doc["run"]["stats"]["assume_role_calls"] == len(org.accounts)
    # the organisation's accounts are trusted; the attacker and partner are not
    assert org.external_account_id not in doc["run"]["trusted_accounts"]
    assert set(org.accounts.values()) <= set(doc["run"]["trusted_accounts"])


def test_owner_proofs_are_recorded_as_evidence(org_scan):
    _, doc, _, org = org_scan
    by = {(f["resource_name"], f["check_id"]): f for f in doc["findings"]}
    central = by[(resource_name(org, "central-bucket"), TRUSTED)]
    assert central["actual_owner"] == org.accounts["shared-services"]
    assert any(
        e["call"] == "s3:ListBuckets"
        and e["answer"] == "listed"
        and e["as_account"] == org.accounts["shared-services"]
        for e in central["evidence"]
    )
    partner = by[(resource_name(org, "partner-bucket"), TRUSTED)]
    assert partner["actual_owner"] == org.partner_account_id
    probe = [e for e in partner["evidence"] if e["params"].get("ExpectedBucketOwner")]
    assert probe and probe[-1]["answer"] == "200 OK"
    sniped = by[(resource_name(org, "sniped-verified"), TRUSTED)]
    assert sniped["actual_owner"] is None
    assert any(e["answer"].startswith("403") for e in sniped["evidence"])
    ns = by[(resource_name(org, "compliant-namespace"), TRUSTED)]
    assert ns["actual_owner"] == org.accounts["prod"]


def test_fix_commands_fail_closed(org_scan):
    _, doc, _, org = org_scan
    by = {(f["resource_name"], f["check_id"]): f for f in doc["findings"]}
    sniped = by[(resource_name(org, "sniped-unverified"), TRUSTED)]["remediation"]
    assert f"--s3-bucket-owner-account-id {org.accounts['prod']}" in sniped["command"]
    assert org.external_account_id not in sniped["command"]
    wrong = by[(resource_name(org, "wrong-pinned-owner"), MATCH)]["remediation"]
    assert f"--s3-bucket-owner-account-id {org.accounts['shared-services']}" in wrong["command"]


def test_csv_matches_json_and_neutralises_formulas(org_scan):
    _, doc, out, org = org_scan
    with open(out / "findings.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(doc["findings"])
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    markup = [r for r in rows if r["resource_name"] == resource_name(org, "markup")]
    # AWS strings are data: kept verbatim (escaping is the HTML renderer's job)
    assert markup
    assert all(r["artifact_store_uri"] == org.case("markup").artifact_store_uri for r in markup)
    assert "<script>alert(1)</script>" in markup[0]["artifact_store_uri"]


def test_summary_counts_add_up(org_scan):
    _, doc, _, _ = org_scan
    s = doc["summary"]
    assert s["total"] == len(doc["findings"]) == sum(s["by_status"].values())
    assert sum(s["fail_by_severity"].values()) == s["by_status"]["FAIL"]
    assert s["resources"] == len(EXPECTED)


def test_regions_without_mlflow_are_coverage_not_errors(org_scan):
    """The demo's regions without MLflow (servers and Apps separately) are recorded as
    "not offered" per resource type, with no error from them and a complete-able scan."""
    _, doc, _, org = org_scan
    coverage = doc["run"]["coverage"]
    assert coverage["mlflow-tracking-server"]["not_offered"] == sorted(
        org.mlflow_not_offered["server"]
    )
    assert coverage["mlflow-app"]["not_offered"] == sorted(org.mlflow_not_offered["app"])
    no_mlflow = set(org.mlflow_not_offered["app"])
    assert not [e for e in doc["errors"] if e["region"] in no_mlflow]
    for scope in doc["run"]["scopes"]:
        if scope["region"] in no_mlflow:
            assert scope["status"] == "scanned"
            assert "mlflow-app" in scope["not_offered"]
