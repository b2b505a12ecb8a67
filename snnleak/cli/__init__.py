"""The ``snnleak`` command line: a thin click layer over the library.

Errors the user can fix (:class:`~snnleak.errors.SnnleakError`, and click's own usage errors
such as a value outside a ``click.Choice``) are printed as one line, ``error: ...``, with exit
status 2. Ctrl-C exits with 130 and says that rerunning the same command resumes. Nothing else
is caught.
"""

from __future__ import annotations

import sys

import click

from snnleak.cli.attack import attack
from snnleak.cli.bench import bench
from snnleak.cli.data import data
from snnleak.cli.diagnose import diagnose
from snnleak.cli.fl import fl
from snnleak.cli.fused import build_fused
from snnleak.cli.info import demo, info
from snnleak.cli.judge import train_judge
from snnleak.cli.reproduce import presets, reproduce
from snnleak.errors import SnnleakError
from snnleak.hostmem import keep_freed_memory


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SnnleakError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: rerun the same command to resume", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="snnleak")
def cli() -> None:
    """Measure how much private training data leaks from SNN and ANN gradients."""
    keep_freed_memory()  # every command: freed tensors stay in the heap (snnleak.hostmem)


cli.add_command(info)
cli.add_command(demo)
cli.add_command(build_fused)
cli.add_command(bench)
cli.add_command(data)
cli.add_command(train_judge)
cli.add_command(attack)
cli.add_command(reproduce)
cli.add_command(presets)
cli.add_command(diagnose)
cli.add_command(fl)


def main() -> None:
    cli()
