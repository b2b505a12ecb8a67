"""What every command that runs trials shares at the click layer."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click


@contextlib.contextmanager
def interrupted_hint(out: Path) -> Iterator[None]:
    """On Ctrl-C: say how many trials are safely recorded in ``out`` and that rerunning the same
    command resumes; exit with 130 (128 + SIGINT), as a shell does."""
    try:
        yield
    except KeyboardInterrupt:
        from snnleak.trials.records import read_records

        done = len(read_records(Path(out) / "records.jsonl"))
        click.echo(
            f"\ninterrupted: {done} trials recorded in {Path(out) / 'records.jsonl'}; "
            "rerun the same command to resume",
            err=True,
        )
        sys.exit(130)


def device_option(f):
    """``--device``: where the tensors live (checked before any work)."""
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        metavar="[auto|cpu|cuda|cuda:N]",
        help="auto: cuda when a GPU is available, else cpu.",
    )(f)
