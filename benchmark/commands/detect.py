"""``deepbench detect``: train and evaluate real-vs-fake detectors on a run's fakes; the detection protocol's
options, which ``deepbench evaluate`` shares."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark import config
from benchmark.commands.common import data_options, run_dir_option
from benchmark.options import click_options, take
from benchmark.runtime import DEVICE_CHOICES
from detectors.baselines import BASELINES
from detectors.detect import FORMAT_MATCH_CHOICES
from detectors.detect import detect as run_detectors
from detectors.detector import DetectorConfig
from detectors.learning_curve import parse_fractions
from detectors.matching import MATCH_CHOICES
from detectors.networks import NETWORKS
from detectors.perturb import PERTURBATIONS

baselines_option = click.option(
    "--baselines/--no-baselines", default=True, show_default=True,
    help="Also fit the trivial-statistics baselines (" + ", ".join(BASELINES.names()) + ") on each training set.")


format_match_option = click.option(
    "--format-match", type=click.Choice(FORMAT_MATCH_CHOICES), default="auto", show_default=True,
    help="Pass fakes through the reals' JPEG settings when the reals are JPEG files.")
match_statistics_option = click.option(
    "--match-statistics", type=click.Choice(MATCH_CHOICES), default="auto", show_default=True,
    help="auto: also evaluate on fakes given the reals' pixel-value statistics (the headline protocol) and train "
         "on fakes half of which are so matched; off: the fakes as written only.")


def detector_help() -> str:
    return "Detector to train (repeatable): " + ", ".join(NETWORKS.names()) + ", or timm:MODEL (e.g. timm:resnet18)."


@click.command()
@run_dir_option("--run", "Run directory with fakes.")
@click.option("--detector", "detectors", multiple=True, default=("cnn",), show_default=True, help=detector_help())
@click.option("--train-on", multiple=True, help="Generators whose fakes train the detectors, each alone, or a union "
                                                "dcgan+vae+ddpm trained on at once [default: every generator].")
@click.option("--eval-fakes", multiple=True, metavar="NAME=PATH",
              help="Extra folder of fakes to evaluate on (any size: resized, bilinear antialiased).")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Evaluate this detector without training.")
@click.option("--resume", is_flag=True, help="Keep finished detectors and continue interrupted ones.")
@click.option("--force", is_flag=True, help="Retrain detectors whose folders exist, replacing them; with "
                                           "--checkpoint, replace the evaluation it would overwrite.")
@format_match_option
@match_statistics_option
@click.option("--perturbation", "perturbations", multiple=True, type=click.Choice(PERTURBATIONS),
              help="Evaluate under these perturbations (repeatable) [default: all].")
@click_options(DetectorConfig, exclude=("seed",))
@baselines_option
@click.option("--seed", type=int, default=None,
              help="Seed of training and of the fakes' train/val/test split [default: 0; with --checkpoint, the "
                   "detector's own, which is the only one accepted].")
@click.option("--seeds", callback=lambda ctx, param, value: config.parse_seeds(value, "--seeds"), default=None,
              metavar="N,N,...", help="Train each detector once per training seed (e.g. 0,1,2) on the same split; "
                                      "tables then give the mean and the across-seed interval.")
@click.option("--learning-curve", callback=lambda ctx, param, value: parse_fractions(value, "--learning-curve"),
              default=None, metavar="F,F,...",
              help="Also train each detector (its first seed) on these nested shares of its training set (e.g. "
                   "0.125,0.25,0.5) and record its held-out AUC against the number of training fakes.")
@click.option("--leave-one-family-out", is_flag=True,
              help="Also train, for each generator family of the run, one detector on every other family's fakes "
                   "(evaluated on the held-out family's, as on every set).")
@click.option("--generator-orders", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also train on the first 1, 2, ... generators of this many seeded orders of the run's "
                   "generators: held-out AUC against the number of training generators.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True,
              help="auto uses CUDA when a GPU is present.")
@data_options
def detect(run_dir, detectors, train_on, eval_fakes, checkpoint, resume, force, format_match, match_statistics,
           perturbations, baselines, seed, seeds, learning_curve, leave_one_family_out, generator_orders, device,
           data_root, download, **options):
    """Train real-vs-fake detectors on a run's fakes and evaluate them across generators and perturbations."""
    if checkpoint is not None:
        detector_config = None if seed is None else DetectorConfig(seed=seed)
    else:
        detector_config = take(DetectorConfig, options, seed=seed or 0)
    extra = {name: Path(path) for name, path in config.parse_pairs(eval_fakes, "--eval-fakes", "other=PATH").items()}
    results = run_detectors(run_dir, detectors, train_on, extra, checkpoint, format_match, detector_config,
                            perturbations or PERTURBATIONS, device, data_root, download, resume=resume, force=force,
                            baselines=tuple(BASELINES.names()) if baselines else (), match_statistics=match_statistics,
                            seeds=seeds, learning_curve=learning_curve, leave_one_family_out=leave_one_family_out,
                            generator_orders=generator_orders)
    for result in results:
        clean = [row for row in result.rows if row["perturbation"] == "none"]
        scores = ", ".join(f"{row['eval_set']} AUC {row['auc']:.3f} acc {row['accuracy']:.3f}"
                           + ("" if row["protocol"] == clean[0]["protocol"] else f" ({row['protocol']})")
                           for row in clean)
        click.echo(f"{result.files.name}: {scores}")
    click.echo(f"results: {Path(run_dir) / 'detectors' / 'eval.csv'}")
