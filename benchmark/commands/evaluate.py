"""``deepbench evaluate``: score folders of fakes made anywhere."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark import config
from benchmark.commands.common import data_options, json_option, run_dir_option, seed_and_device
from benchmark.commands.detect import baselines_option, format_match_option, match_statistics_option
from benchmark.evaluate import evaluate as evaluate_folders
from benchmark.files import json_text
from benchmark.options import click_options, take
from detectors.baselines import BASELINES
from detectors.detector import DetectorConfig
from detectors.networks import NETWORKS
from detectors.perturb import PERTURBATIONS
from reports.metrics.generator_metrics import MetricOptions
from reports.presentation.leaderboard import markdown_tables


@click.command()
@click.option("--reals", required=True, help="Data set spec of the real images the fakes imitate (as --dataset of "
                                             "generate: mnist, cifar10:dog, folder:PATH with train/ and test/, ...).")
@click.option("--fakes", "fakes", multiple=True, required=True, metavar="NAME=DIR",
              help="A folder of fakes (PNG, JPEG, WebP...; class folders allowed), imported as generator NAME "
                   "(repeatable). Other sizes are resized to the reals', antialiased, and recorded.")
@run_dir_option("--out", "Run directory to create, e.g. runs/NAME.")
@click.option("--detector", "detectors", multiple=True,
              help="Train this detector on each fake set (repeatable): " + ", ".join(NETWORKS.names()) +
                   ", or timm:MODEL [default: none].")
@click.option("--with-detectors", type=click.Path(path_type=Path), metavar="RUN",
              help="Also evaluate the trained detectors of run RUN on the fakes, without retraining.")
@baselines_option
@format_match_option
@match_statistics_option
@click.option("--perturbation", "perturbations", multiple=True, type=click.Choice(PERTURBATIONS),
              help="Evaluate under these perturbations (repeatable) [default: all].")
@click_options(DetectorConfig, exclude=("seed",))
@click_options(MetricOptions, exclude=("seed",))
@click.option("--channels", type=click.Choice(["1", "3"]), help="Convert the reals (and so the fakes) to this many "
                                                                "channels.")
@click.option("--image-size", type=int, help="Resize the reals (and so the fakes) to this square size.")
@click.option("--force", is_flag=True, help="Replace fake sets of these names (and what was computed from them) "
                                           "in --out instead of refusing.")
@json_option
@seed_and_device
@data_options
def evaluate(reals, fakes, run_dir, detectors, with_detectors, baselines, format_match, match_statistics, perturbations,
             channels, image_size, force, as_json, seed, device, data_root, download, **options):
    """Score folders of fakes made anywhere: sample quality, detectors trained on them or taken from a run."""
    folders = config.parse_pairs(fakes, "--fakes", "mine=path/to/images")
    detector_config, metric_options = take(DetectorConfig, options, seed=seed), take(MetricOptions, options, seed=seed)
    result = evaluate_folders(reals, folders, run_dir, detectors, with_detectors, detector_config, metric_options,
                              perturbations or PERTURBATIONS, tuple(BASELINES.names()) if baselines else (),
                              int(channels) if channels else None, image_size, force, device, data_root, download,
                              format_match=format_match, match_statistics=match_statistics)
    if as_json:
        click.echo(json_text({**result.results, "report": str(result.index)}))
        return
    click.echo(markdown_tables(result.results))
    click.echo(f"report: {result.index}")
