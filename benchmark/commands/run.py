"""``deepbench run``: a benchmark suite end to end."""

from __future__ import annotations

import time
from pathlib import Path

import click

from benchmark import config
from benchmark.commands.common import data_options
from benchmark.runtime import DEVICE_CHOICES, set_threads
from benchmark.suite import run_suite
from reports.presentation.leaderboard import markdown_tables


def suite_help() -> str:
    return f"Built-in suite ({', '.join(config.suite_names())}) or a TOML file."


@click.command()
@click.option("--suite", "suite_name", default="quick", show_default=True, help=suite_help())
@click.option("--out", type=click.Path(path_type=Path), help="Output folder [default: runs/<suite>].")
@click.option("--resume", is_flag=True, help="Finish an interrupted run: skip finished stages, continue the rest.")
@click.option("--force", is_flag=True, help="Start the suite's experiments again, deleting their earlier runs.")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Run only these experiments of the suite [default: all].")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME=SPEC",
              help="Replace a data set of the suite, e.g. cifar10=folder:../shared/data/cifar10-jpeg.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Set an option in every experiment, over the suite's value (repeatable): an experiment key "
                   "(num_samples=500, detectors=cnn,capsule) or TABLE.FIELD of the train, gan, detector and "
                   "metrics tables (train.epochs=1, metrics.num_samples=1000), named as the options of generate, "
                   "detect and report.")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True,
              help="auto uses CUDA when a GPU is present.")
@data_options
def run(suite_name: str, out: Path | None, resume: bool, force: bool, experiments: tuple[str, ...],
        datasets: tuple[str, ...], settings: tuple[str, ...], device: str, data_root: Path | None, download: bool):
    """Run a benchmark suite end to end: generate, detect and report for each experiment."""
    started = time.perf_counter()
    loaded = config.load_suite(suite_name, config.parse_overrides(datasets), config.parse_settings(settings))
    suite = config.select_experiments(loaded, experiments)
    if suite.threads is not None and click.get_current_context().find_root().params.get("threads") is None:
        set_threads(suite.threads)  # the suite's figures are reproducible at its thread count
    outcome = run_suite(suite, out or Path("runs") / suite.name, resume, device, data_root, download, force)
    for experiment in outcome.experiments:
        done = ", ".join(experiment.ran) or "nothing"
        skipped = f" (finished earlier: {', '.join(experiment.skipped)})" if experiment.skipped else ""
        click.echo(f"## {experiment.experiment.name}: ran {done}{skipped}\n")
        click.echo(markdown_tables(experiment.report.results))
        click.echo(f"report: {experiment.report.index}\n")
    click.echo(f"leaderboard: {outcome.leaderboard}")
    click.echo(f"suite {suite.name} took {time.perf_counter() - started:.0f} s")
