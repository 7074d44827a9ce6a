"""report.html: UNKNOWNs that only follow from a FAIL are named under it, and the
UNKNOWN tile counts only those to review (no browser)."""

from __future__ import annotations

import re

from auditor.report.formats.html import render_html

from . import report_docgen


def test_follow_ons_are_named_under_their_root_and_left_out_of_the_tile():
    doc = report_docgen.sample_doc()
    root = next(f for f in doc["findings"] if f["status"] == "FAIL")
    unknown = [f for f in doc["findings"] if f["status"] == "UNKNOWN"]
    assert unknown
    follow = unknown[0]
    follow.update(
        caused_by=root["check_id"],
        resource_arn=root["resource_arn"],
        check_id="mlflow_artifact_bucket_versioning_enabled",
        message="Could not evaluate: the bucket does not exist.",
    )
    page = "".join(render_html(doc))
    tile = re.search(r'tile-UNKNOWN".*?<span class="tile-n">([\d,]+)</span>', page, re.S)
    assert tile is not None and int(tile.group(1).replace(",", "")) == len(unknown) - 1
    assert "+1 following from a FAIL" in page
    assert "1 UNKNOWN following from it:</strong> mlflow_artifact_bucket_versioning_enabled" in page
    # the follow-on is not a static row of its own; the others still are
    assert '<p class="msg">Could not evaluate: the bucket does not exist.</p>' not in page
    assert '"caused_by"' in page  # the findings data carries it for the table
