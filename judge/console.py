"""What both CLIs share: a stderr console, progress bars, and errors shown as messages, not tracebacks."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from judge.errors import InputError

err = Console(stderr=True)


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields advance(n). Silent when stderr is not a terminal."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, disable=not err.is_terminal, transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def run_cli(group: click.Group) -> None:
    """Run a click group; bad input exits 2 with every problem listed, other failures exit 1."""
    try:
        code = group.main(standalone_mode=False)  # returns, not raises, the code of click.exceptions.Exit
        if isinstance(code, int) and code:
            sys.exit(code)
    except InputError as error:
        for problem in error.problems:
            err.print(f"[red]error[/red] {problem}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the last line of defence of a CLI
        if os.environ.get("LEADERBOARD_DEBUG"):
            raise
        err.print(f"[red]error[/red] {type(error).__name__}: {error}", markup=True, highlight=False, soft_wrap=True)
        err.print("(set LEADERBOARD_DEBUG=1 for the traceback)")
        sys.exit(1)
