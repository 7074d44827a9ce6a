"""What the product writes for a person: lines on stderr, colour, one yes/no question.

The same rules as the command line's own output: a colour code reaches a terminal only
(a file or a pipe gets the plain text), and every line is flushed at once, so progress
and warnings appear in order with the child processes' output.
"""

from __future__ import annotations

import re
import select
import sys
from typing import TextIO

_ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")
_COLOURS = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36}
_COLOURS["white"] = 37
_RESET = "\033[0m"


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal (a person), not a file or a pipe."""
    try:
        return stream is not None and bool(stream.isatty())
    except Exception:  # a closed or unusual stream is no terminal
        return False


def echo(message: str = "", *, nl: bool = True, err: bool = True) -> None:
    """Write one line (stderr unless ``err=False``); colour codes only to a terminal."""
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # no stream attached (a detached process)
        return
    text = message + "\n" if nl else message
    if text and not is_terminal(stream):
        text = _ANSI.sub("", text)
    if text:
        stream.write(text)
    stream.flush()


def style(text: str, fg: str) -> str:
    """``text`` in a foreground colour (removed again by ``echo`` off a terminal)."""
    return f"\033[{_COLOURS[fg]}m{text}{_RESET}"


class Interrupted(Exception):
    """Ctrl-C or Ctrl-D instead of an answer."""


def _read_line() -> str:
    """One line of stdin; EOFError at its end.

    A blocking read can miss a Ctrl-C that lands between the prompt being written and
    the read starting (the signal is noted, but nothing runs Python until a line comes),
    so stdin is polled: every wait returns to Python, which raises the pending
    KeyboardInterrupt at once.
    """
    stream = sys.stdin
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file: read it as it is
        fd = None
    while fd is not None and not select.select([fd], [], [], 0.1)[0]:
        pass
    line = stream.readline()
    if not line:
        raise EOFError
    return line


def ask_yes_no(question: str) -> bool:
    """``question [y/N]:`` on stderr until the answer is yes or no; Enter is no.

    Raises Interrupted on Ctrl-C or Ctrl-D (end of input).
    """
    prompt = f"{question} [y/N]: "
    while True:
        try:
            echo(prompt, nl=False)
            value = _read_line().lower().strip()
        except (KeyboardInterrupt, EOFError):
            raise Interrupted from None
        if value in ("y", "yes"):
            return True
        if value in ("n", "no", ""):
            return False
        echo("Error: invalid input")
