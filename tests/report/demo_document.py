"""A realistic findings document for the integration renderers: the demo organisation's.

Built once per test session by running ``mlflow-audit demo`` (the real scan of the
simulated organisation) and then given a history block, as a second night would have:
one finding fixed (PASS now), one resource gone, one resolved entry of a scope the run
did not read (which must never be closed). Every UNKNOWN of the demo follows from a FAIL
of its resource (``caused_by``); one is made a real unknown (S3 denied).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from click.testing import CliRunner


@lru_cache(maxsize=1)
def _demo() -> dict[str, Any]:
    from auditor.cli import main

    with TemporaryDirectory() as out:
        result = CliRunner().invoke(main, ["demo", "--output-dir", out, "--format", "json"])
        assert result.exit_code in (0, 1), result.output
        return json.loads((Path(out) / "findings.json").read_text())


def demo_document() -> dict[str, Any]:
    doc = copy.deepcopy(_demo())
    findings = doc["findings"]
    passing = next(f for f in findings if f["status"] == "PASS")
    failing = [f for f in findings if f["status"] == "FAIL"]
    for n, f in enumerate(failing):
        f["change"] = "new" if n % 2 == 0 else "unchanged"
    real = next(f for f in findings if f["status"] == "UNKNOWN" and f["caused_by"])
    real["caused_by"] = None
    real["message"] = "Could not evaluate: s3:GetBucketPolicy was denied (AccessDenied)."
    gone = dict(failing[0], resource_name="deleted-server", now=None, status="FAIL")
    gone["resource_arn"] = failing[0]["resource_arn"].rsplit("/", 1)[0] + "/deleted-server"
    unread = dict(gone, account_id="999999999999", region="ap-south-1", now=None)
    unread["resource_arn"] = "arn:aws:sagemaker:ap-south-1:999999999999:mlflow-tracking-server/x"
    keep = (
        "check_id",
        "status",
        "severity",
        "account_id",
        "region",
        "resource_type",
        "resource_name",
        "resource_arn",
        "message",
        "now",
    )
    doc["history"] = {
        "database": "out/history.sqlite",
        "scope_key": "org:123456789012|regions:*|shard:-",
        "previous_run_id": "2026-11-26T02-00-04Z-a1b2c3",
        "previous_started_at": "2026-11-26T02:00:04Z",
        "new": sum(1 for f in findings if f.get("change") == "new"),
        "unchanged": sum(1 for f in findings if f.get("change") == "unchanged"),
        "not_rechecked": 0,
        "resolved": [
            {**{k: passing.get(k) for k in keep}, "status": "FAIL", "now": "PASS"},
            {k: gone.get(k) for k in keep},
            {k: unread.get(k) for k in keep},
        ],
    }
    doc["run"]["expired_waivers"] = [
        {
            "check_id": "mlflow_artifact_bucket_exists",
            "resource": "arn:aws:sagemaker:*",
            "reason": "migration",
            "expires": "2026-11-01",
        }
    ]
    return doc
