"""auditor.core.terminal: what a person sees without click (the Lambda's path has none)."""

from __future__ import annotations

import io

import pytest

from auditor.core import terminal


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_reaches_a_terminal_and_never_a_file_or_pipe(monkeypatch):
    pipe, tty = io.StringIO(), Tty()
    monkeypatch.setattr("sys.stderr", pipe)
    terminal.echo(terminal.style("2 critical", fg="red"))
    monkeypatch.setattr("sys.stderr", tty)
    terminal.echo(terminal.style("2 critical", fg="red"))
    assert pipe.getvalue() == "2 critical\n"
    assert tty.getvalue() == "\x1b[31m2 critical\x1b[0m\n"


def test_echo_writes_stdout_when_asked_and_can_leave_the_line_open(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    terminal.echo("{}", nl=False, err=False)
    terminal.echo("\rscanning", nl=False)
    assert (out.getvalue(), err.getvalue()) == ("{}", "\rscanning")


@pytest.mark.parametrize(
    ("typed", "answer"), [("y\n", True), ("YES\n", True), ("n\n", False), ("\n", False)]
)
def test_the_question_takes_yes_or_no_and_enter_is_no(monkeypatch, typed, answer):
    err = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    monkeypatch.setattr("sys.stderr", err)
    assert terminal.ask_yes_no("Apply these changes?") is answer
    assert err.getvalue().startswith("Apply these changes? [y/N]: ")


def test_the_question_asks_again_after_a_wrong_answer(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("maybe\ny\n"))
    monkeypatch.setattr("sys.stderr", err)
    assert terminal.ask_yes_no("Go?") is True
    assert "Error: invalid input" in err.getvalue()


def test_end_of_input_is_an_interruption_not_a_no(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with pytest.raises(terminal.Interrupted):
        terminal.ask_yes_no("Go?")
