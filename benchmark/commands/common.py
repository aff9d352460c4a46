"""Options that several commands share, declared once: seed and device, data source, run directory, JSON output."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark.options import stack
from benchmark.runtime import DEVICE_CHOICES, set_strict

seed_and_device = stack(
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for Python, NumPy and torch."),
    click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True,
                 help="auto uses CUDA when a GPU is present."),
)
data_root_option = click.option(
    "--data-root", type=click.Path(path_type=Path), default=None,
    help="Folder holding the data sets [default: $DEEPBENCH_DATA, else ~/.cache/deepbench/data].")
strict_option = click.option(
    "--strict", is_flag=True, expose_value=False, callback=lambda ctx, param, value: set_strict(value),
    help="Stop on an unreadable image in a folder data set [default: skip it with a warning that counts them].")
data_options = stack(
    data_root_option,
    strict_option,
    click.option("--download", is_flag=True,
                 help="Allow downloads: missing data sets (torchvision), pretrained timm weights."),
)
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON object (every value with its sample counts and the weights' hash) "
                                "instead of tables.")


def run_dir_option(name: str, help: str, required: bool = True):
    """A run directory, as ``name`` (``--out`` where the command creates it, ``--run`` where it reads it) or as
    ``--run-dir``, the same in every command."""
    return click.option(name, "--run-dir", "run_dir", type=click.Path(path_type=Path), required=required, help=help)
