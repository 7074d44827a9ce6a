from auditor.core.model import ProgressSnapshot
from auditor.report.console import TerminalProgress


def test_progress_is_silent_without_a_terminal(capsys):
    TerminalProgress(enabled=False)(ProgressSnapshot(1, 2, 3, 0))
    assert capsys.readouterr().err == ""


def test_progress_rewrites_one_line_and_throttles(capsys):
    progress = TerminalProgress(enabled=True, interval_s=3600)
    progress(ProgressSnapshot(1, 3, 5, 0))
    progress(ProgressSnapshot(2, 3, 6, 0))  # within the interval: skipped
    progress(ProgressSnapshot(3, 3, 9, 1))  # the last scope is always shown
    progress.close()
    err = capsys.readouterr().err
    assert err.count("\r") == 2
    assert "1/3 scopes, 5 resources described, 0 errors" in err
    assert "3/3 scopes, 9 resources described, 1 errors" in err
    assert "2/3" not in err
    assert err.endswith("\n")
