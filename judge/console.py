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
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from judge.errors import InputError, Problem, shown_name

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
    `every` seconds and at the end (unless it would repeat the last), so a long job in CI is never silent.
    Nothing to do, nothing said."""
    if total == 0:
        yield lambda n: None
        return
    if err.is_terminal:
        with Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=err, transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    done, started, stop, last = [0], time.monotonic(), threading.Event(), [""]

    def line() -> None:
        text = f"{description}: {done[0]}/{total} after {time.monotonic() - started:.0f}s"
        if text != last[0]:
            say(text)
            last[0] = text

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


PROBLEMS_SHOWN_PER_FILE = 20
"""A file with more problems than this has the rest counted, not listed: thousands of lines help nobody."""


def shown_problems(problems: list[Problem]) -> list[str]:
    """Every problem as a line, at most PROBLEMS_SHOWN_PER_FILE per file, then one line counting the rest."""
    lines: list[str] = []
    count: Counter[Path] = Counter()
    for problem in problems:
        count[problem.file] += 1
        if count[problem.file] <= PROBLEMS_SHOWN_PER_FILE:
            lines.append(str(problem))
    lines += [f"{shown_name(file)}: {n - PROBLEMS_SHOWN_PER_FILE:,} more problems in this file ({n:,} in all)"
              for file, n in count.items() if n > PROBLEMS_SHOWN_PER_FILE]
    return lines


def run_cli(group: click.Group) -> None:
    """Run a click group; bad input exits 2 with every problem listed (at most PROBLEMS_SHOWN_PER_FILE a file, the rest
    counted), other failures exit 1."""
    try:
        code = group.main(standalone_mode=False)  # returns, not raises, the code of click.exceptions.Exit
        if isinstance(code, int) and code:
            sys.exit(code)
    except InputError as error:
        for line in shown_problems(error.problems):
            say(line, "error", "red")
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
