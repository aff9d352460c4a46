"""``deepbench datasets``: the data set specs and which are on disk."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark import data
from benchmark.commands.common import data_root_option
from benchmark.folders import image_folders
from benchmark.sources import DATASETS


def dataset_help() -> str:
    return ("Data set spec: " + ", ".join(DATASETS.names()) +
            "; a class subset after a colon (cifar10:dog, mnist:0,1); folder:PATH for an image folder.")


@click.command()
@data_root_option
def datasets(data_root: Path | None):
    """List the data set specs and which are found on disk."""
    root = data.resolve_root(data_root)
    click.echo(f"data root: {root}")
    for name in DATASETS.names():
        if name == "folder":
            continue
        location = DATASETS.get(name).locate(root)
        status = "found" if location.exists() else "missing"
        click.echo(f"  {name:<14} {status:<8} {location}  {DATASETS.summary(name)}")
    click.echo(f"  {'folder:PATH':<14} {'':<8} {DATASETS.summary('folder')}")
    for folder in image_folders(root):
        click.echo(f"  {'folder':<14} found    {folder}  use --dataset folder:{folder}")
