"""``deepbench import-fakes``: a folder of images made elsewhere, added to a run as a generator."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark.commands.common import run_dir_option
from generators.imported import import_into_run


@click.command()
@run_dir_option("--run", "Run directory to add the fakes to.")
@click.option("--name", required=True, help="Name of the set in the run, as a generator's.")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace a set of this name, and what was computed from it.")
def import_fakes(run_dir, name, folder, force):
    """Add a folder of images made elsewhere to a run, as a generator beside the run's own."""
    imported = import_into_run(run_dir, name, folder, force)
    resized = imported.source["resized"]
    click.echo(f"{imported.count} images imported as {name} into {imported.fakes}"
               + (f" (resized: {resized})" if resized else ""))
    click.echo(f"next: deepbench detect --run {run_dir} --resume (detectors across all sets), then deepbench "
               f"report --run {run_dir}")
