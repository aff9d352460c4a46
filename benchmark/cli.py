"""The ``deepbench`` command line: a thin click layer, each command calling one library function.

Errors a user can fix (:class:`~benchmark.errors.DeepbenchError`) print as one line (exit status 1);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

import click

from benchmark import data, pipeline
from benchmark.errors import DeepbenchError
from benchmark.folders import image_folders
from benchmark.runtime import DEVICE_CHOICES, set_verbosity
from benchmark.sources import DATASETS


class DeepbenchGroup(click.Group):
    """Turns library errors into click's one-line ``Error: ...`` output."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DeepbenchError as error:
            raise click.ClickException(str(error)) from None


def stack(*decorators):
    """Apply click options in the order they are listed, so ``--help`` shows them in that order."""
    return lambda command: functools.reduce(lambda cmd, option: option(cmd), reversed(decorators), command)


seed_and_device = stack(
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for Python, NumPy and torch."),
    click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True,
                 help="auto uses CUDA when a GPU is present."),
)
data_root_option = click.option(
    "--data-root", type=click.Path(path_type=Path), default=None,
    help="Folder holding the data sets [default: $DEEPBENCH_DATA, else ~/.cache/deepbench/data].")
data_options = stack(
    data_root_option,
    click.option("--download", is_flag=True, help="Let torchvision download missing data sets."),
)


def out_option(default: str | None):
    return click.option("--out", type=click.Path(path_type=Path), default=default, required=default is None,
                        show_default=default is not None, help="Run directory, e.g. runs/NAME.")


def dataset_help() -> str:
    return ("Data set spec: " + ", ".join(DATASETS.names()) +
            "; a class subset after a colon (cifar10:dog, mnist:0,1); folder:PATH for an image folder.")


def not_yet_available(command: str, issue: str) -> DeepbenchError:
    return DeepbenchError(f"deepbench {command} is not yet available in this version ({issue} are not built "
                          f"yet); nothing was written")


@click.group(cls=DeepbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(metadata.version("deepbench"), prog_name="deepbench")
@click.option("-v", "--verbose", "verbosity", flag_value=1, help="Debug logging.")
@click.option("-q", "--quiet", "verbosity", flag_value=-1, help="No progress bars; warnings and errors only.")
def main(verbosity: int | None):
    """deepbench: train GANs, build synthetic data sets, and benchmark fake-image detectors on them."""
    set_verbosity(verbosity or 0)


@main.command()
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


@main.command()
@click.option("--dataset", default=data.DEFAULT_DATASET, show_default=True, help=dataset_help())
@click.option("--generator", "generators", multiple=True, help="Generator to train (repeatable).")
@click.option("--epochs", type=int, help="Training epochs.")
@click.option("--lr", type=float, help="Adam learning rate of both networks.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Only sample from this checkpoint.")
@click.option("--num-samples", type=int, help="Fakes to write [default: size of the real test split].")
@click.option("--resume", is_flag=True, help="Continue from the run's last checkpoint.")
@out_option(None)
@seed_and_device
@data_options
def generate(**options):
    """Train generators on a data set and write a synthetic data set of fakes."""
    raise not_yet_available("generate", "the generators")


@main.command()
@click.option("--run", "run_dir", type=click.Path(path_type=Path), required=True, help="Run directory with fakes.")
@click.option("--detector", "detectors", multiple=True, help="Detector to train (repeatable): cnn, capsule, timm:NAME.")
@click.option("--train-on", multiple=True, help="Generators whose fakes train the detectors [default: all].")
@click.option("--eval-fakes", multiple=True, metavar="NAME=PATH", help="Extra folder of fakes to evaluate on.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Evaluate this detector without training.")
@click.option("--format-match", type=click.Choice(["auto", "off"]), default="auto", show_default=True,
              help="Pass fakes through the reals' JPEG settings when the reals are JPEG.")
@seed_and_device
@data_options
def detect(**options):
    """Train real-vs-fake detectors on a run's fakes and evaluate them across generators and perturbations."""
    raise not_yet_available("detect", "the detectors")


@main.command()
@click.option("--run", "run_dir", type=click.Path(path_type=Path), help="Run directory to report on.")
@click.option("--fid-between", nargs=2, type=click.Path(path_type=Path), help="FID/KID/PR between two folders.")
@click.option("--leaderboard", type=click.Path(path_type=Path), help="Folder of result JSONs to tabulate.")
@click.option("--export", type=click.Path(path_type=Path), help="Write the run's results as one JSON.")
@click.option("--check", is_flag=True, help="With --leaderboard: fail when the output file is stale.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file of --leaderboard.")
def report(**options):
    """Compute sample-quality and detection metrics and render the leaderboard (CSV, Markdown, HTML)."""
    raise not_yet_available("report", "the reports")


@main.command()
@click.option("--dataset", default=data.DEFAULT_DATASET, show_default=True, help=dataset_help())
@out_option("runs/default")
@seed_and_device
@data_options
def run(dataset: str, seed: int, device: str, out: Path, data_root: Path | None, download: bool):
    """Run the whole benchmark on one data set: generate, detect, report."""
    outcome = pipeline.run(dataset, out, seed=seed, device=device, data_root=data_root, download=download)
    for stage in outcome.stages:
        click.echo(f"{stage.name:<9} {stage.status}: {stage.message}")
    click.echo(f"run directory: {out}")
