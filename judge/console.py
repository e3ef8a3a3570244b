"""What both CLIs share: stderr messages, progress (a bar, or plain lines off a terminal), tables, and errors
shown as messages, not tracebacks.

Messages and tables that hold anything a user wrote (file names, ids, dialogue text) go through `say` and
`show`, which never read it as rich markup: an id like `[/x]` is printed as it is instead of failing."""
from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import click
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from judge.errors import InputError

err = Console(stderr=True)
PIPED_WIDTH = 160
"""Width of tables written to a file or pipe, where rich would otherwise assume 80 columns."""


def _plain(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console that never reads strings as markup, PIPED_WIDTH wide when not on a terminal."""
    console = Console(stderr=stderr, file=file, markup=False, highlight=False)
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console


_PLAIN = {False: _plain(), True: _plain(stderr=True)}


def say(message: str, label: str = "", style: str = "") -> None:
    """A message on stderr, optionally after a styled label ('error', 'warning'); the message is never markup."""
    text = Text.assemble((label, style), " ", message) if label else Text(message)
    err.print(text, highlight=False, soft_wrap=True)


def show(renderable: RenderableType, stderr: bool = False) -> None:
    """A table (or other renderable) on stdout or stderr; its strings are never read as markup."""
    _PLAIN[stderr].print(renderable)


def as_text(renderable: RenderableType) -> str:
    """A table (or other renderable) as plain text, to write to a file; its strings are never read as markup."""
    console = _plain(file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()


PLAIN_PROGRESS_SECONDS = 10.0
"""How often progress is logged as a plain line when stderr is not a terminal (CI logs, files)."""


@contextmanager
def progress(description: str, total: int, every: float = PLAIN_PROGRESS_SECONDS) -> Iterator[Callable[[int], None]]:
    """Progress on stderr; yields advance(n). A bar on a terminal; otherwise a plain line at the start, every
    `every` seconds and at the end, so a long job in CI is never silent."""
    if err.is_terminal:
        with Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=err, transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    done, started, stop = [0], time.monotonic(), threading.Event()

    def line() -> None:
        say(f"{description}: {done[0]}/{total} after {time.monotonic() - started:.0f}s")

    def tick() -> None:
        while not stop.wait(every):
            line()

    line()
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield lambda n: done.__setitem__(0, done[0] + n)
    finally:
        stop.set()
        ticker.join()
        line()


def run_cli(group: click.Group) -> None:
    """Run a click group; bad input exits 2 with every problem listed, other failures exit 1."""
    try:
        code = group.main(standalone_mode=False)  # returns, not raises, the code of click.exceptions.Exit
        if isinstance(code, int) and code:
            sys.exit(code)
    except InputError as error:
        for problem in error.problems:
            say(str(problem), "error", "red")
        sys.exit(2)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        say("aborted")
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the last line of defence of a CLI
        if os.environ.get("LEADERBOARD_DEBUG"):
            raise
        say(f"{type(error).__name__}: {error}", "error", "red")
        say("(set LEADERBOARD_DEBUG=1 for the traceback)")
        sys.exit(1)
