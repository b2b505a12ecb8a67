"""``snnleak bench ...``: benchmarks, side by side in one process, reported as ratios."""

from __future__ import annotations

from pathlib import Path

import click

from snnleak.attacks.config import ATTACKS, LINE_SEARCHES, MODELS
from snnleak.cli.common import device_option
from snnleak.neurons import BACKENDS


@click.group()
def bench() -> None:
    """Benchmarks (speed is measured here, never in tests)."""


def out_option(files: str):
    """The ``--out`` folder of a bench command, which writes ``files`` there."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help=f"Folder for {files}.",
    )


@bench.command()
@out_option("bench.json")
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
    for name, why in results["meta"]["left_out"].items():
        click.echo(f"left out {name}: {why}", err=True)
    click.echo(f"\nwrote {write_json_atomic(out_dir / 'bench.json', results)}")
    click.echo(f"wrote {chart(results, out_dir / 'bench.png')}")


def _list(kind, value: str) -> tuple:
    try:
        return tuple(kind(v) for v in value.split(",") if v.strip())
    except ValueError as err:
        raise click.BadParameter(f"a comma-separated list, such as 1,16,64 ({err})") from None


@bench.command()
@out_option("bench_attacks.json and bench_attacks.png")
@click.option(
    "--attack",
    "attacks",
    default="idlg",
    show_default=True,
    help=f"Attacks, comma-separated, of: {', '.join(ATTACKS)}.",
)
@click.option(
    "--trials",
    "ks",
    default="1,16",
    show_default=True,
    help="The numbers of trials run together (K), comma-separated: 1,16,64,256.",
)
@click.option(
    "--samples",
    type=click.IntRange(0),
    default=0,
    help="Trials per point [default: the largest K].",
)
@click.option("--model", type=click.Choice(MODELS), default="snn", show_default=True)
@click.option("--dataset", default="digits", show_default=True)
@click.option("--backend", type=click.Choice(tuple(BACKENDS)), default="fused", show_default=True)
@click.option("--line-search", type=click.Choice(LINE_SEARCHES), default="none", show_default=True)
@click.option("--iterations", type=click.IntRange(1), default=3, show_default=True)
@click.option("--max-iter", type=click.IntRange(1), default=20, show_default=True)
@click.option("--timesteps", type=click.IntRange(1), default=20, show_default=True)
@click.option("--rounds", type=click.IntRange(1), default=2, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
@device_option
def attacks(out_dir: Path, attacks: str, ks: str, **kwargs) -> None:
    """Trials per hour against K, the trials run together: the scaling curve."""
    from snnleak.bench.attacks import AttackBenchConfig, chart, markdown, run
    from snnleak.io import write_json_atomic

    names = _list(str, attacks)
    unknown = [a for a in names if a not in ATTACKS]
    if unknown:
        raise click.BadParameter(
            f"unknown attack {', '.join(unknown)}; choose of {', '.join(ATTACKS)}",
            param_hint="--attack",
        )
    cfg = AttackBenchConfig(attacks=names, ks=_list(int, ks), **kwargs)
    result = run(cfg, progress=lambda line: click.echo(line, err=True))
    click.echo(markdown(result))
    click.echo(f"\nwrote {write_json_atomic(out_dir / 'bench_attacks.json', result)}")
    click.echo(f"wrote {chart(result, out_dir / 'bench_attacks.png')}")


@bench.command("accelerate")
@out_option("bench_accelerate.json")
@click.option("--model", required=True, help="Your model: path/to/file.py:factory.")
@click.option("--dataset", default="digits", show_default=True)
@click.option("--timesteps", type=click.IntRange(1), default=8, show_default=True)
@click.option("--rounds", type=click.IntRange(1), default=15, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
def accelerate_(out_dir: Path, **kwargs) -> None:
    """Your model as written and accelerated (snnleak.accelerate), side by side: one
    gradient-matching evaluation each, and what was done with each neuron."""
    from snnleak.bench.accelerate import AccelerateBenchConfig, markdown, run
    from snnleak.io import write_json_atomic

    result = run(AccelerateBenchConfig(**kwargs))
    click.echo(markdown(result))
    click.echo(f"\nwrote {write_json_atomic(out_dir / 'bench_accelerate.json', result)}")
