"""auditor.core.textsafe.visible: the one function every human-facing output uses."""

import pytest

from auditor.core.textsafe import visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain s3://bucket/prefix", "plain s3://bucket/prefix"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("nul\x00bel\x07del\x7f", "nul\\x00bel\\x07del\\x7f"),
        ("csi\x9b", "csi\\x9b"),  # C1 control
        ("gpj.\u202eexe", "gpj.\\u202eexe"),  # RIGHT-TO-LEFT OVERRIDE
        ("a\u2066b\u2069c\u200bd\ufeff", "a\\u2066b\\u2069c\\u200bd\\ufeff"),
        ("line\nbreak\u2028", "line\\x0abreak\\u2028"),
        ("ünïcødé ok", "ünïcødé ok"),
    ],
)
def test_visible(raw, shown):
    assert visible(raw) == shown


def test_newlines_can_be_kept_for_multi_line_cells():
    assert visible("a\nb\r", keep_newlines=True) == "a\nb\\x0d"
