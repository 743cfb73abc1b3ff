"""What every ``gainnet`` command group shares: consoles, one-line errors, common options.

Any :class:`~gainnet.errors.GainnetError` a command raises (and a file-system error on a path
the user gave) is printed as one line on stderr, markup shown literally, with exit code 2:
never a traceback, whichever command or sub-command raised it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from gainnet.errors import GainnetError

out = Console(width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True)
#: file-system errors on paths the user gave (read-only folders, missing files)
USER_OS_ERRORS = (PermissionError, FileNotFoundError, IsADirectoryError, NotADirectoryError)
#: the most torch threads a command accepts
MAX_THREADS = 256

ThreadsOption = Annotated[
    int,
    typer.Option("--threads", min=1, max=MAX_THREADS, help="torch threads (1 is best on 2 cores)"),
]


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (or its class name if it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def report_error(exc: BaseException) -> None:
    """Print ``exc`` as one line on stderr."""
    err.print(f"[red]error:[/red] {escape(one_line(exc))}", soft_wrap=True, highlight=False)


def fail(exc: BaseException) -> typer.Exit:
    """Report ``exc`` and raise exit code 2 (``raise fail(exc)`` reads well too)."""
    report_error(exc)
    raise typer.Exit(code=2)


class ErrorsAsOneLine(TyperGroup):
    """A command group whose commands' gainnet and file-system errors become one line."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (GainnetError, *USER_OS_ERRORS) as exc:
            report_error(exc)
            raise typer.Exit(code=2) from None


def new_app(**kwargs) -> typer.Typer:
    """A ``typer.Typer`` with gainnet's error handling (every command group uses it)."""
    return typer.Typer(
        cls=ErrorsAsOneLine,
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        **kwargs,
    )


def print_json(value: object) -> None:
    """Print ``value`` as strict, indented JSON on stdout (``gainnet.reports.json_text``)."""
    from gainnet.reports import json_text

    print(json_text(value))
