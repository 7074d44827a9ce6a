"""Control and bidirectional characters in an AWS string never reach the terminal, the
CSV or the HTML report: they are shown escaped, while findings.json keeps the exact value
(the CLI as its own process on a real pseudo-terminal)."""

from __future__ import annotations

import pytest

from tests.e2e.served import read, spawn_in_pty

pytestmark = pytest.mark.slow


def test_control_and_bidi_characters_never_reach_terminal_csv_or_html(served, tmp_path):
    nasty = (
        "s3://evil-\u202egpj.exe/\x1b[2J\x1b[31mRED\x1b]8;;http://x.example/\x07link\x1b]8;;\x07/p"
    )
    sm = served.client("sagemaker")
    name = "ctl-chars"
    sm.create_mlflow_tracking_server(
        TrackingServerName=name,
        ArtifactStoreUri=nasty,
        RoleArn=f"arn:aws:iam::{served.info['management_account_id']}:role/MlflowTrackingServerRole",
        S3BucketOwnerVerification=False,
    )
    try:
        out = tmp_path / "out"
        run = spawn_in_pty(
            served,
            "scan",
            "--region",
            "us-east-1",
            "--remediate",
            "--dry-run",
            "--no-history",
            "--output-dir",
            str(out),
        )
        run.read_until(b"wrote ")
        assert run.wait(timeout=120) in (0, 1, 3)
        doc = read(out)
        f = next(f for f in doc["findings"] if f["resource_name"] == name)
        assert f["artifact_store_uri"] == nasty  # findings.json keeps the exact value
        csv = (out / "findings.csv").read_bytes()
        html = (out / "report.html").read_bytes()
        for raw in (b"\x1b", b"\x07", b"\x00", "\u202e".encode()):
            assert raw not in csv, raw
            assert raw not in html, raw
        # The terminal (the dry-run plan table) has our own colours, never these:
        for raw in (b"\x1b[2J", b"\x1b[31mRED", b"\x1b]8", b"\x07", "\u202e".encode()):
            assert raw not in run.output, raw
        assert b"\\x1b[2J" in csv and b"\\u202e" in csv
        assert b"\\x1b[2J" in html
        assert b"\\x1b[2J" in run.output  # shown, not interpreted
    finally:
        sm.delete_mlflow_tracking_server(TrackingServerName=name)
