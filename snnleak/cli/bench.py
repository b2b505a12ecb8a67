"""``snnleak bench ...``: benchmarks, side by side in one process, reported as ratios."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.attacks.config import MODELS, TRIAL_BATCHED_ATTACKS
from snnleak.cli.common import device_option
from snnleak.neurons import BACKENDS


@click.group()
def bench() -> None:
    """Benchmarks (speed is measured here, never in tests)."""


@bench.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for bench.json.",
)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=15, show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=3, show_default=True)
@click.option("--timesteps", type=click.IntRange(1), default=20, show_default=True)
@click.option(
    "--batch",
    "op_batch",
    type=click.IntRange(1),
    default=32,
    show_default=True,
    help="Batch of the neuron-op case.",
)
@device_option
@click.option("--no-memory", is_flag=True, help="Skip the peak-memory measurement.")
def kernels(
    out_dir: Path,
    threads: int,
    repeats: int,
    warmup: int,
    timesteps: int,
    op_batch: int,
    device: str,
    no_memory: bool,
) -> None:
    """DLG step and neuron op on every backend, the ratios against their targets and the peak
    memory: prints the tables, writes OUT/bench.json and OUT/bench.png."""
    from snnleak.bench.kernel_report import chart, markdown
    from snnleak.bench.kernels import KernelBenchConfig, run
    from snnleak.io import write_json_atomic

    cfg = KernelBenchConfig(
        timesteps=timesteps,
        op_batch=op_batch,
        threads=threads,
        repeats=repeats,
        warmup=warmup,
        device=device,
        memory=not no_memory,
    )
    results = run(cfg)
    click.echo(markdown(results))
    click.echo(f"\nwrote {write_json_atomic(out_dir / 'bench.json', results)}")
    click.echo(f"wrote {chart(results, out_dir / 'bench.png')}")


@bench.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for bench_attacks.json.",
)
@click.option(
    "--attack", type=click.Choice(TRIAL_BATCHED_ATTACKS), default="dlg", show_default=True
)
@click.option("--model", type=click.Choice(MODELS), default="snn", show_default=True)
@click.option("--dataset", default="mnist-5k", show_default=True)
@click.option("--backend", type=click.Choice(tuple(BACKENDS)), default="fused", show_default=True)
@click.option("--trials", type=click.IntRange(1), default=8, show_default=True)
@click.option("--iterations", type=click.IntRange(1), default=3, show_default=True)
@click.option("--timesteps", type=click.IntRange(1), default=20, show_default=True)
@click.option("--rounds", type=click.IntRange(1), default=2, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
def attacks(out_dir: Path, **kwargs) -> None:
    """Trials per hour, batched against solo, side by side."""
    from snnleak.bench.attacks import AttackBenchConfig, markdown, run
    from snnleak.io import write_json_atomic

    result = run(AttackBenchConfig(**kwargs))
    click.echo(markdown(result))
    click.echo(f"\nwrote {write_json_atomic(out_dir / 'bench_attacks.json', result)}")
