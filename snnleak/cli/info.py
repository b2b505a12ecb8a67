"""``snnleak info`` and ``snnleak demo``."""

from __future__ import annotations

import click

from snnleak.neurons import BACKENDS, NeuronParams


@click.command()
def info() -> None:
    """Library versions and the neuron backends available here."""
    from snnleak.info import backend_status, fused_status_line, package_versions

    click.echo("versions:")
    for name, version in package_versions().items():
        click.echo(f"  {name:<13} {version or 'not installed'}")
    click.echo("neuron backends:")
    for name, status in backend_status().items():
        state = "available" if status["available"] else f"unavailable: {status['reason']}"
        click.echo(f"  {name:<10} {state}  ({status['description']})")
    click.echo(f"fused library: {fused_status_line()}")


@click.command()
@click.option("--kind", type=click.Choice(["if", "lif"]), default="if", show_default=True)
@click.option(
    "--backend", type=click.Choice(sorted(BACKENDS)), default="reference", show_default=True
)
@click.option("--tau", type=float, default=2.0, show_default=True)
@click.option("--threshold", "v_threshold", type=float, default=1.0, show_default=True)
@click.option("--soft-reset", is_flag=True, help="Subtract the threshold instead of resetting.")
@click.option("--detach-reset", is_flag=True)
@click.option("--steps", type=click.IntRange(1, 64), default=8, show_default=True)
def demo(kind, backend, tau, v_threshold, soft_reset, detach_reset, steps) -> None:
    """Drive one neuron with a ramp of inputs: spikes, membrane and surrogate gradients."""
    from snnleak.demo import neuron_demo

    params = NeuronParams(
        kind=kind,
        tau=tau,
        v_threshold=v_threshold,
        v_reset=None if soft_reset else 0.0,
        detach_reset=detach_reset,
    )
    rows = neuron_demo(params, backend, steps)
    click.echo(f"{params} on backend {backend!r}")
    for name, values in rows.items():
        click.echo(f"  {name:<15} " + " ".join(f"{v:7.4f}" for v in values))
