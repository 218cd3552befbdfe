"""How every `hyperx` command ends in failure: one `error:` line on stderr and an exit code.

The rule (README, "Errors and exit codes"):
- exit code 2, `BadInput`: something the user gave is wrong, an argument, a file or
  its format, a key, or what an argument names (an address with no market, a
  deployment file of another chain); nothing was sent;
- exit code 1, any other error: a failure while running (a node that does not
  answer, a revert, no funds, a timeout).

The line is written as it is, never wrapped or highlighted, so that a log or a
script reads it whole. May import the standard library only.
"""

import os
import sys
from contextlib import contextmanager

BAD_INPUT_EXIT = 2
FAILURE_EXIT = 1


class BadInput(ValueError):
    """Something the user gave is wrong; the message names it and says what is expected."""

    exit_code = BAD_INPUT_EXIT


def exit_code(error: BaseException) -> int:
    """2 for bad input, 1 for anything else (see the module docstring)."""
    return getattr(error, "exit_code", FAILURE_EXIT)


def one_line(text: str) -> str:
    """`text` on one line: a message that quotes a node's answer may hold newlines."""
    return " ".join(str(text).split())


def write_error(message: str) -> None:
    """`error: message` on stderr, red only on a terminal (and without NO_COLOR)."""
    stream = sys.stderr
    colour = stream.isatty() and "NO_COLOR" not in os.environ
    prefix = "\x1b[31merror:\x1b[0m" if colour else "error:"
    stream.write(f"{prefix} {one_line(message)}\n")
    stream.flush()


@contextmanager
def reported(*errors: type[BaseException]):
    """Inside, each of `errors` ends the command: its one line, then its exit code."""
    try:
        yield
    except errors as error:
        write_error(str(error))
        raise SystemExit(exit_code(error)) from None
