"""``deepbench report``: a run's report and leaderboard, or the metrics between two folders (``--fid-between``),
two GANs (``--gam``) or the leaderboard of result files (``--leaderboard``).

Each mode imports what it needs when it runs: ``--fid-between`` needs torch-fidelity and nothing of the
report page, the detectors or the generators.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from benchmark.commands.common import data_options, json_option, run_dir_option, seed_and_device
from benchmark.errors import DeepbenchError
from benchmark.files import json_text
from benchmark.options import click_options, take
from reports.metrics.generator_metrics import FEW_SAMPLES, MetricOptions


def fid_between_lines(metrics: dict) -> list[str]:
    """The human form of ``--fid-between``: values to the digits their sample counts support, the counts and the
    weights, a warning when FID is computed on fewer than 2,048 samples, and the FID on the last line."""
    real, fake = metrics["samples_real"], metrics["samples_fake"]
    lines = [f"samples: {real} real, {fake} fake; weights {metrics['weights_file']} "
             f"(sha256 {str(metrics['weights_sha256'])[:12]})",
             f"KID: {metrics['kid_mean']:.4f} ± {metrics['kid_std']:.4f} (unbiased at any sample count)",
             f"precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}, density "
             f"{metrics['density']:.3f}, coverage {metrics['coverage']:.3f}"]
    if metrics["inception_score_mean"] is None:
        lines.append(f"IS: not computed: {metrics['inception_score_missing']}")
    else:
        lines.append(f"IS: {metrics['inception_score_mean']:.2f} ± {metrics['inception_score_std']:.2f}")
    if min(real, fake) < FEW_SAMPLES:
        lines.append(f"warning: FID on fewer than the usual {FEW_SAMPLES:,} samples is biased upward; compare it "
                     f"only with FIDs at the same counts ({real}/{fake}), or compare KID")
    return [*lines, f"FID: {metrics['fid']:.2f}"]


def given_on_command_line(names) -> set[str]:
    """Those of the running command's parameters ``names`` that were typed rather than left at their defaults."""
    context = click.get_current_context()
    return {name for name in names if context.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE}


def describe_options(options) -> str:
    return ", ".join(f"{name}={value}" for name, value in dataclasses.asdict(options).items())


@click.command()
@run_dir_option("--run", "Run directory to report on.", required=False)
@click_options(MetricOptions, exclude=("seed",))
@click.option("--export", type=click.Path(path_type=Path), help="Also write the run's results to this JSON.")
@click.option("--compare", type=click.Path(path_type=Path, exists=True, dir_okay=False), metavar="FILE",
              help="Fail when the run's figures moved beyond their tolerance from those of a committed results "
                   "FILE (e.g. benchmark/results/quick.json), listing them.")
@click.option("--fid-between", nargs=2, type=click.Path(path_type=Path), metavar="DIR_A DIR_B",
              help="FID, KID and precision/recall of the images in DIR_B against those in DIR_A.")
@click.option("--gam", nargs=2, type=click.Path(path_type=Path), metavar="GEN_A GEN_B",
              help="Generative adversarial metric of two GANs trained on the same data (generator folders, "
                   "runs/R/generators/NAME): each discriminator judges the test reals and the other's fakes.")
@click.option("--leaderboard", type=click.Path(path_type=Path), metavar="DIR",
              help="Render the leaderboard from the result JSONs in DIR (into -o).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file of --leaderboard.")
@click.option("--findings", type=click.Path(path_type=Path), metavar="DIR",
              help="With --leaderboard: also render the findings pages DIR/*.md from their templates DIR/*.md.j2.")
@click.option("--check", is_flag=True, help="With --leaderboard: fail when the -o file (or a findings page) is stale "
                                            "instead of writing.")
@json_option
@seed_and_device
@data_options
def report(run_dir, export, compare, fid_between, gam, leaderboard, output, findings, check, as_json, seed, device,
           data_root, download, **options):
    """Compute sample-quality and detection metrics and render the leaderboard (CSV, Markdown, HTML)."""
    metric_options = take(MetricOptions, options, seed=seed)
    modes = [name for name, value in (("--run", run_dir), ("--fid-between", fid_between), ("--gam", gam),
                                      ("--leaderboard", leaderboard)) if value]
    if len(modes) != 1:
        raise DeepbenchError(f"pass exactly one of --run, --fid-between, --gam and --leaderboard (got "
                             f"{', '.join(modes) or 'none'})")
    if (check or findings) and not leaderboard or leaderboard and output is None:
        raise DeepbenchError("--check and --findings go with --leaderboard, and --leaderboard needs -o FILE")
    if (export or compare) and not run_dir:
        raise DeepbenchError("--export and --compare need --run: they write or check that run's results")
    if as_json and not (fid_between or gam):
        raise DeepbenchError("--json goes with --fid-between and --gam (and with deepbench evaluate); a run's "
                             "results are JSON already: --export FILE")
    if leaderboard:
        from reports.presentation.leaderboard import update_leaderboard

        update_leaderboard(leaderboard, output, check)
        click.echo(f"{output} is up to date" if check else f"wrote {output}")
        if findings:
            from reports.presentation.findings import update_findings

            pages = update_findings(findings, leaderboard, check)
            click.echo(f"{len(pages)} findings pages in {findings} " + ("are up to date" if check else "written"))
    elif fid_between:
        from reports.metrics.fidelity import fid_between as fid_between_folders

        metrics = fid_between_folders(*fid_between, max_real=metric_options.num_samples, device=device, seed=seed,
                                      download=download)
        click.echo(json_text(metrics) if as_json else "\n".join(fid_between_lines(metrics)))
    elif gam:
        from reports.metrics.gam import gam as adversarial_metric
        from reports.metrics.gam import gam_lines

        result = adversarial_metric(*gam, device=device, data_root=data_root, download=download, seed=seed)
        click.echo(json_text(result) if as_json else "\n".join(gam_lines(result)))
    else:
        from benchmark.rundir import RunDir
        from reports.metrics.generator_metrics import recorded_options
        from reports.presentation.leaderboard import markdown_tables
        from reports.presentation.report import export as export_results
        from reports.presentation.report import report as make_report

        asked = metric_options
        metric_options = recorded_options(RunDir(run_dir), asked, given_on_command_line(
            field.name for field in dataclasses.fields(MetricOptions)))
        if metric_options != asked:
            click.echo(f"metrics as this run's last report computed them: {describe_options(metric_options)} "
                       f"(pass --num-samples, --inception/--no-inception or --seed to recompute them)")
        result = make_report(run_dir, metric_options, device, data_root, download)
        click.echo(markdown_tables(result.results))
        if export:
            click.echo(f"results: {export_results(run_dir, export)}")
        click.echo(f"report: {result.index}")
        click.echo(result.times.line())
        if compare:
            from reports.presentation.reproduction import check_reproduction

            check_reproduction(result.results, compare, run_dir)
            click.echo(f"{run_dir} reproduces {compare} within its tolerances")
