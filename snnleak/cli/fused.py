"""``snnleak build-fused``: build the fused library ahead of first use (optionally with CUDA)."""

from __future__ import annotations

import click


@click.command("build-fused")
@click.option(
    "--cuda/--no-cuda",
    default=None,
    help="Include the CUDA kernels (default: when a GPU and CUDA toolkit are here). "
    "Building with --cuda needs no GPU: CI uses it to compile csrc/cuda/.",
)
@click.option("--verbose", is_flag=True, help="Show the compiler output.")
def build_fused(cuda: bool | None, verbose: bool) -> None:
    """Compile csrc/ into the keyed cache (no-op when already built) and say where it is."""
    from snnleak.fused import build

    with_cuda = build.want_cuda() if cuda is None else cuda
    lib = build.jit_build(with_cuda, verbose=verbose)
    click.echo(f"fused library ({'cpu+cuda' if with_cuda else 'cpu'}): {lib}")
