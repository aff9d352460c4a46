"""``deepbench generate``: train generators and write their fakes."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark import data
from benchmark.commands.common import data_options, run_dir_option, seed_and_device
from benchmark.commands.datasets import dataset_help
from benchmark.options import click_options, take
from generators.generate import generate as generate_sets
from generators.registry import GENERATORS, GANConfig
from generators.train import TrainConfig
from reports.metrics.domain import domain_quality_scorer


def generator_help() -> str:
    return "Generator to train (repeatable): " + ", ".join(GENERATORS.names()) + "."


@click.command()
@click.option("--dataset", default=data.DEFAULT_DATASET, show_default=True, help=dataset_help())
@click.option("--generator", "generators", multiple=True, default=("dcgan",), show_default=True,
              help=generator_help())
@run_dir_option("--out", "Run directory to create or resume, e.g. runs/NAME.")
@click.option("--lr", type=float, help="Adam learning rate of both networks (sets --lr-g and --lr-d).")
@click_options(TrainConfig, exclude=("seed",))
@click_options(GANConfig)
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="Only sample from this checkpoint (with --sampling-steps: ddpm's DDIM steps; other options are "
                   "the checkpoint's).")
@click.option("--num-samples", type=int, help="Fakes to write [default: size of the real test split].")
@click.option("--resume", is_flag=True, help="Continue from the run's last checkpoint.")
@click.option("--force", is_flag=True, help="Replace what --out holds (the named generators and what was derived "
                                           "from fakes; the whole run if its data differ) instead of refusing.")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Convert the images to this many channels.")
@click.option("--image-size", type=int, help="Resize the images to this square size (28, 32 or 64).")
@seed_and_device
@data_options
def generate(dataset, generators, run_dir, lr, checkpoint, num_samples, resume, force, channels, image_size, seed,
             device, data_root, download, **options):
    """Train generators on a data set and write a synthetic data set of fakes."""
    rates = {"lr_g": lr, "lr_d": lr} if lr else {}
    train_config = take(TrainConfig, options, seed=seed, **rates)
    gan_config = take(GANConfig, options)
    results = generate_sets(dataset, generators, run_dir, train_config, gan_config, checkpoint, num_samples, resume,
                            device, data_root, download, int(channels) if channels else None, image_size,
                            scorer_factory=domain_quality_scorer, force=force)
    for result in results:
        trained = f"trained {result.trained_steps} steps in {result.seconds:.0f} s, " if result.trained_steps else ""
        click.echo(f"{result.generator}: {trained}{result.num_samples} fakes from {result.checkpoint.name} "
                   f"(step {result.step}) in {result.fakes}")
