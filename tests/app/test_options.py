"""auditor.app.options: option values parsed before a run, each error one line."""

from __future__ import annotations

import pytest

from auditor.app import options
from auditor.core.errors import UsageError
from auditor.core.request import ScanRequest


def test_lists_take_both_forms_and_drop_duplicates():
    assert options.accounts(["111111111111,222222222222", "111111111111"]) == [
        "111111111111",
        "222222222222",
    ]
    with pytest.raises(ValueError, match="'12' is not a 12-digit AWS account id"):
        options.accounts(["12"])


def test_a_directory_named_with_a_comma_is_one_path(tmp_path):
    odd = tmp_path / "a,b"
    odd.mkdir()
    assert options.directories([str(odd)]) == [str(odd)]
    with pytest.raises(ValueError, match="is not a directory"):
        options.directories([str(tmp_path / "missing")])


def test_formats_shard_and_topic():
    assert options.formats("JSON, html,json") == ["json", "html"]
    assert options.optional(options.formats)(None) is None
    with pytest.raises(ValueError, match="use a comma list of"):
        options.formats("pdf")
    assert options.shard("2/3") == (2, 3)
    with pytest.raises(ValueError, match="is not K/N"):
        options.shard("4/3")
    with pytest.raises(ValueError, match="FIFO topic"):
        options.topic("arn:aws:sns:us-east-1:111111111111:alerts.fifo")


def test_options_that_cannot_go_together_are_a_usage_error_without_click():
    with pytest.raises(UsageError, match="only apply with --remediate"):
        ScanRequest(dry_run=True)
    with pytest.raises(UsageError, match="--no-history cannot be combined"):
        ScanRequest(no_history=True, fail_on_new=True)
