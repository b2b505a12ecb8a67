"""What every command that runs trials shares at the click layer."""

from __future__ import annotations

import contextlib
import functools
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
    """``--device``: where the tensors live (checked before any work); and how CUDA computes
    (:class:`~snnleak.device.CudaOptions`), in force for the whole command."""

    @functools.wraps(f)
    def command(*args, cuda_graphs, tf32, cudnn_benchmark, channels_last, **kwargs):
        from snnleak.device import CudaOptions, using

        with using(CudaOptions(cuda_graphs, tf32, cudnn_benchmark, channels_last)):
            return f(*args, **kwargs)

    options = [
        click.option(
            "--device",
            default="auto",
            show_default=True,
            metavar="[auto|cpu|cuda|cuda:N]",
            help="auto: cuda when a GPU is available, else cpu.",
        ),
        click.option(
            "--cuda-graphs/--no-cuda-graphs",
            default=True,
            show_default=True,
            help="On a GPU: replay each attack evaluation from a CUDA graph.",
        ),
        click.option(
            "--tf32/--no-tf32",
            default=False,
            show_default=True,
            help="On a GPU: TF32 convolutions and matmuls (default: IEEE fp32).",
        ),
        click.option(
            "--cudnn-benchmark/--no-cudnn-benchmark",
            default=False,
            show_default=True,
            help="On a GPU: let cuDNN time its algorithms and keep the fastest.",
        ),
        click.option(
            "--channels-last/--no-channels-last",
            default=False,
            show_default=True,
            help="On a GPU: batched trials' feature maps channels-last (always on the CPU).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command
