"""The demo organisation's ASFF findings imported into the simulated Security Hub, two nights."""

from __future__ import annotations

from collections import Counter

import pytest

from auditor.integrations.securityhub import import_findings, summary_lines
from auditor.report.formats import asff
from auditor.report.formats.common import scanned_scopes
from auditor.sim import securityhub as sim_hub
from auditor.sim import simulated_aws
from tests.report.demo_document import demo_document

SEVERITIES = {"critical", "high", "medium", "low", "info"}


@pytest.fixture
def sim():
    sim_hub.reset()
    with simulated_aws() as s:
        yield s
    sim_hub.reset()


def clients(sim):
    cache = {}

    def client_for(account, region):
        if (account, region) not in cache:
            cache[account, region] = sim.session_for(account, region).client("securityhub")
        return cache[account, region]

    return client_for


def stored(client_for, scopes):
    out = {}
    for account, region in scopes:
        for page in client_for(account, region).get_paginator("get_findings").paginate():
            for f in page["Findings"]:
                out[f["Id"]] = f
    return out


def test_two_nights_update_the_same_ids_and_archive_exactly_the_resolved(sim):
    night1 = demo_document()
    night1.pop("history")
    records1 = asff.render(night1)
    scopes = {(r["AwsAccountId"], r["Region"]) for r in records1}
    assert len({a for a, _ in scopes}) >= 2  # findings across member accounts
    client_for = clients(sim)
    for account, region in scopes:
        client_for(account, region).enable_security_hub()
    first = import_findings(records1, client_for, scanned=scanned_scopes(night1))
    assert (first["imported"], first["failed"], first["skipped"]) == (len(records1), 0, 0)
    per_account = Counter(r["AwsAccountId"] for r in records1)
    imported = Counter()
    for s in first["scopes"]:
        imported[s["account_id"]] += s["imported"]
    assert imported == per_account  # each account imported exactly its own findings

    night2 = demo_document()  # same findings, plus history: one fixed, one deleted
    night2["run"].update(started_at="2026-12-02T02:00:00Z", finished_at="2026-12-02T02:00:09Z")
    records2 = asff.render(night2)
    second = import_findings(records2, client_for, scanned=scanned_scopes(night2))
    assert second["failed"] == 0
    hub = stored(client_for, scopes | {(r["AwsAccountId"], r["Region"]) for r in records2})
    assert len(hub) == len({r["Id"] for r in records1} | {r["Id"] for r in records2})
    ids2 = {r["Id"] for r in records2}
    archived = {i for i, f in hub.items() if f["RecordState"] == "ARCHIVED"}
    assert archived == {r["Id"] for r in records2 if r["RecordState"] == "ARCHIVED"}
    assert len(archived) == 2
    updated = {f["UpdatedAt"] for i, f in hub.items() if i in {r["Id"] for r in records2}}
    # The demo document has no first_seen: as far as it knows each import creates the
    # finding, so UpdatedAt is CreatedAt, this night's start (later than night 1's).
    assert updated == {"2026-12-02T02:00:00Z"}
    assert all(f["CreatedAt"] == f["UpdatedAt"] for f in hub.values() if f["Id"] in ids2)
    active = [f for f in hub.values() if f["RecordState"] == "ACTIVE"]
    for f in active:  # WARNING never pages as HIGH or CRITICAL; the rule's severity is kept
        if f["Compliance"]["Status"] == "WARNING":
            assert f["Severity"]["Label"] == "INFORMATIONAL"
            assert f["ProductFields"]["mlflow-audit/RuleSeverity"] in SEVERITIES
    assert any(f["Compliance"]["Status"] == "WARNING" for f in active)
    for i in archived:
        assert hub[i]["Description"].startswith("Resolved: ")
    lines = summary_lines(second)
    assert lines[0].startswith(f"security hub: {len(records2)} imported, 0 failed")


def test_an_account_without_credentials_or_hub_is_reported_not_raised(sim):
    doc = demo_document()
    records = asff.render(doc)
    scopes = sorted({(r["AwsAccountId"], r["Region"]) for r in records})
    base = clients(sim)
    broken = scopes[0][0]

    def client_for(account, region):
        if account == broken:
            raise RuntimeError("cannot assume MlflowAuditRole")
        return base(account, region)

    for account, region in scopes[1:]:
        if account != broken:
            base(account, region).enable_security_hub()
    result = import_findings(records, client_for)
    by_account = {s["account_id"]: s for s in result["scopes"]}
    assert by_account[broken]["status"] == "failed"
    assert by_account[broken]["error"]["code"] == "RuntimeError"
    others = [s for s in result["scopes"] if s["account_id"] != broken]
    assert others and all(s["status"] == "imported" for s in others)
    assert any(broken in line and "failed" in line for line in summary_lines(result))
