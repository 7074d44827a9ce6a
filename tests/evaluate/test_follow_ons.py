"""Root causes first: an UNKNOWN that only follows from a FAIL of the same resource.

The rules say which facts a FAIL leaves unknowable (``root_cause_of``); the engine links
each UNKNOWN whose every unknown fact such a FAIL explains (``caused_by``) and gives it
no fix of its own; findings.json counts them apart, sorts them after the UNKNOWNs to
review, and the history neither calls them new nor stores them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from auditor.core.artifacts import parse_artifact_store_uri
from auditor.core.errors import ConfigError
from auditor.core.model import MLFLOW_APP, TRACKING_SERVER, BucketProof, Resource
from auditor.evaluate.engine import evaluate_all
from auditor.evaluate.facts import TrustContext, build_facts
from auditor.evaluate.policy import Policy, load_policy
from auditor.evaluate.rules import load_rules, parse_rule
from auditor.history.database import diff_findings, record_run
from auditor.report.document import sort_findings, summarize

OWN, CENTRAL, STRANGER = "111111111111", "222222222222", "999988887777"
TRUSTED = frozenset({OWN, CENTRAL})
TODAY = dt.date(2026, 11, 27)
RULES = load_rules()
# The execution-role checks read no bucket fact: with no role read (these resources name
# none), they are real unknowns, never a bucket's follow-ons.
ROLE_CHECKS = {r.id for r in RULES if r.id.startswith("mlflow_execution_role_")}
EXISTS = "mlflow_artifact_bucket_exists"
OWNER_TRUSTED = "mlflow_artifact_bucket_owner_trusted"
URI_VALID = "mlflow_artifact_store_uri_valid"


def resource(uri="s3://ml-bucket/x", kind=TRACKING_SERVER, verification=False, pinned=None):
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


def findings_for(res, proof, rules=RULES, policy=None, inventoried=TRUSTED):
    uri = parse_artifact_store_uri(res.artifact_store_uri)
    facts = build_facts(res, uri, proof, TrustContext(TRUSTED, frozenset(inventoried)))
    findings, _ = evaluate_all(rules, [facts], policy or Policy(), TODAY)
    return {f["check_id"]: f for f in findings}


def test_the_shipped_root_causes_are_data_of_their_rules():
    roots = {r.id: r.root_cause_of for r in RULES if r.root_cause_of}
    assert set(roots) == {URI_VALID, EXISTS, OWNER_TRUSTED}
    assert all("integrity" in paths for paths in roots.values())


@pytest.mark.parametrize("kind", [TRACKING_SERVER, MLFLOW_APP])
def test_a_missing_bucket_is_the_root_of_every_check_it_leaves_unknown(kind):
    gone = BucketProof(name="ml-bucket", exists=False)
    by_id = findings_for(resource(kind=kind), gone)
    assert by_id[EXISTS]["status"] == "FAIL" and by_id[EXISTS]["caused_by"] is None
    assert ROLE_CHECKS and all(by_id[c]["caused_by"] is None for c in ROLE_CHECKS)
    follow = {c: f for c, f in by_id.items() if f["status"] == "UNKNOWN" and c not in ROLE_CHECKS}
    assert OWNER_TRUSTED in follow and "mlflow_artifact_bucket_not_public" in follow
    for f in follow.values():
        assert f["caused_by"] == EXISTS
        assert f["remediation"]["command"] == "" and f["remediation"]["auto"] is False
        assert EXISTS in f["remediation"]["text"]
        assert "put-public-access-block" not in str(f["remediation"])
    assert all(f["caused_by"] is None for f in by_id.values() if f["status"] != "UNKNOWN")


def test_a_uri_that_names_no_bucket_is_the_root_even_of_bucket_exists():
    by_id = findings_for(resource(uri="https://example.com/x"), None)
    assert by_id[URI_VALID]["status"] == "FAIL"
    unknown = [c for c in by_id.values() if c["status"] == "UNKNOWN"]
    unknown = [f for f in unknown if f["check_id"] not in ROLE_CHECKS]
    assert len(unknown) >= 6
    assert {f["caused_by"] for f in unknown} == {URI_VALID}
    assert by_id[EXISTS]["caused_by"] == URI_VALID


def test_a_foreign_bucket_is_the_root_of_its_configuration_checks():
    foreign = BucketProof(name="ml-bucket", exists=True, owner_account_id=STRANGER)
    by_id = findings_for(resource(pinned=STRANGER), foreign)
    assert by_id[OWNER_TRUSTED]["status"] == "FAIL"
    unknown = [
        f for f in by_id.values() if f["status"] == "UNKNOWN" and f["check_id"] not in ROLE_CHECKS
    ]
    assert unknown and {f["caused_by"] for f in unknown} == {OWNER_TRUSTED}


def test_an_unknown_with_no_failing_root_is_a_real_unknown_with_its_reason():
    # Owned by a trusted account whose configuration this run did not read: nothing
    # FAILs, so the configuration checks are UNKNOWN to review.
    by_id = findings_for(
        resource(), BucketProof(name="ml-bucket", exists=True, owner_account_id=CENTRAL)
    )
    unknown = [f for f in by_id.values() if f["status"] == "UNKNOWN"]
    assert unknown
    for f in unknown:
        assert f["caused_by"] is None
        assert f["message"].startswith("Could not evaluate: ")
        if f["check_id"] not in ROLE_CHECKS:  # a role's fix needs the role's policies
            assert f["remediation"]["command"]  # its own fix is kept
    # Not every trusted account inventoried: owner_trusted itself is UNKNOWN, not a root.
    proof = BucketProof(name="ml-bucket", exists=True, not_owned_by={OWN}, unknown_reason="x")
    by_id = findings_for(resource(), proof, inventoried={OWN})
    assert by_id[OWNER_TRUSTED]["status"] == "UNKNOWN"
    assert all(f["caused_by"] is None for f in by_id.values())


def _rule_data(check_id="user_check", reads=("uri.valid",), **extra):
    return {
        "id": check_id,
        "title": "t",
        "severity": "high",
        "resource_types": [TRACKING_SERVER],
        "reads": list(reads),
        "pass_when": reads[0],
        "message": {"PASS": "a", "FAIL": "b"},
        "risk": "r",
        "fix": {"text": "t", "command": "c"},
        **extra,
    }


def test_only_an_unknown_the_root_fully_explains_is_linked():
    gone = BucketProof(name="ml-bucket", exists=False)
    explained = parse_rule(_rule_data(reads=["integrity.versioning_enabled"]), "user.yaml")
    # namespace_account_id is null for a bucket outside any account namespace: a reason
    # of its own, which the missing bucket does not explain.
    reads = ["integrity.versioning_enabled", "bucket.namespace_account_id"]
    mixed = parse_rule(_rule_data("mixed", reads), "mixed.yaml")
    by_id = findings_for(resource(), gone, rules=[*RULES, explained, mixed])
    assert by_id["user_check"]["caused_by"] == EXISTS
    assert by_id["mixed"]["status"] == "UNKNOWN" and by_id["mixed"]["caused_by"] is None


def test_a_waived_root_still_explains_its_follow_ons(tmp_path):
    arn = resource().arn
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "waivers:\n"
        f"  - check_id: {EXISTS}\n    resource: '{arn}'\n"
        "    reason: being re-created\n"
        f"    expires: {dt.date.today() + dt.timedelta(days=30)}\n"
    )
    gone = BucketProof(name="ml-bucket", exists=False)
    by_id = findings_for(resource(), gone, policy=load_policy(policy, {r.id for r in RULES}))
    assert by_id[EXISTS]["status"] == "MUTED"
    assert by_id[OWNER_TRUSTED]["caused_by"] == EXISTS


@pytest.mark.parametrize(
    "value", ["bucket", ["Bucket.Exists"], [""], [3], ["bucket..exists"]], ids=str
)
def test_root_cause_of_must_list_fact_paths(value):
    with pytest.raises(ConfigError, match="root_cause_of must list fact paths"):
        parse_rule(_rule_data(root_cause_of=value), "bad.yaml")


def _doc_findings():
    gone = BucketProof(name="ml-bucket", exists=False)
    read_elsewhere = BucketProof(name="other-bucket", exists=True, owner_account_id=CENTRAL)
    other = dataclasses.replace(
        resource(uri="s3://other-bucket/x"), name="other", arn=resource().arn + "-2"
    )
    return [
        *findings_for(resource(), gone).values(),
        *findings_for(other, read_elsewhere).values(),
    ]


def test_summary_counts_follow_ons_apart_and_sorts_them_after_real_unknowns():
    findings = _doc_findings()
    follow = sum(1 for f in findings if f["caused_by"])
    real = sum(1 for f in findings if f["status"] == "UNKNOWN" and not f["caused_by"])
    assert follow and real
    summary = summarize(findings, [], True, "high")
    assert summary["by_status"]["UNKNOWN"] == follow + real  # by_status counts statuses
    assert (summary["unknown_follow_on"], summary["unknown_to_review"]) == (follow, real)
    ordered = [f for f in sort_findings(findings) if f["status"] == "UNKNOWN"]
    assert [bool(f["caused_by"]) for f in ordered] == [False] * real + [True] * follow


def test_history_calls_a_follow_on_neither_new_nor_unchanged_and_does_not_store_it(tmp_path):
    findings = list(findings_for(resource(), BucketProof(name="ml-bucket", exists=False)).values())
    follow = [f for f in findings if f["caused_by"]]
    diff = diff_findings(findings, {}, {(OWN, "us-east-1")}, "2026-11-27T02:00:00Z")
    assert diff.count("new") == sum(
        1 for f in findings if f["status"] != "PASS" and not f["caused_by"]
    )
    assert all(diff.changes[(f["check_id"], f["resource_arn"])] is None for f in follow)

    def doc(run_id, started, items):
        return {
            "run": {
                "id": run_id,
                "started_at": started,
                "finished_at": started,
                "accounts": [{"account_id": OWN}],
                "regions": ["us-east-1"],
                "scopes": [{"account_id": OWN, "region": "us-east-1", "status": "scanned"}],
                "complete": True,
            },
            "findings": [dict(f) for f in items],
        }

    db = tmp_path / "history.sqlite"
    # Night 1: not_public was a FAIL of its own; night 2 the bucket is gone, and it
    # follows from that: not new, not resolved, its first_seen carried once.
    was = dict(next(f for f in follow if f["check_id"] == "mlflow_artifact_bucket_not_public"))
    was.update(status="FAIL", caused_by=None)
    record_run(db, doc("r1", "2026-11-26T02:00:00Z", [was]), "k")
    night2 = doc("r2", "2026-11-27T02:00:00Z", findings)
    record_run(db, night2, "k")
    by_id = {f["check_id"]: f for f in night2["findings"]}
    assert by_id[was["check_id"]]["change"] is None
    assert by_id[was["check_id"]]["first_seen"] == "2026-11-26T02:00:00Z"
    assert night2["history"]["resolved"] == []
    # new: the problems of their own (the FAILs, and the role checks' real UNKNOWNs)
    own = sum(1 for f in findings if f["status"] in ("FAIL", "UNKNOWN") and not f["caused_by"])
    assert night2["history"]["new"] == own
    night3 = doc("r3", "2026-11-28T02:00:00Z", findings)
    record_run(db, night3, "k")
    again = {f["check_id"]: f for f in night3["findings"]}[was["check_id"]]
    assert (again["change"], again["first_seen"]) == (None, None)  # not stored: archived once
    assert night3["history"]["new"] == 0
