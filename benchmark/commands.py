"""The ``deepbench`` commands, one click command each, each calling one library function.

:mod:`benchmark.cli` holds the group and imports this module only when a command runs or shows its help, because
these imports (torch, torchvision, the registries of networks and data sets) take seconds.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click

from benchmark import config, data
from benchmark.errors import DeepbenchError
from benchmark.evaluate import evaluate as evaluate_folders
from benchmark.folders import image_folders
from benchmark.options import click_options, stack, take
from benchmark.rundir import RunDir
from benchmark.runtime import DEVICE_CHOICES, set_strict, set_threads
from benchmark.sources import DATASETS
from benchmark.suite import domain_quality_scorer, run_suite
from detectors.baselines import BASELINES
from detectors.detect import FORMAT_MATCH_CHOICES
from detectors.detect import detect as run_detectors
from detectors.detector import DetectorConfig
from detectors.matching import MATCH_CHOICES
from detectors.networks import NETWORKS
from detectors.perturb import PERTURBATIONS
from generators.generate import generate as generate_sets
from generators.imported import import_into_run
from generators.registry import GENERATORS, GANConfig
from generators.train import TrainConfig
from reports.metrics.fidelity import fid_between as fid_between_folders
from reports.metrics.gam import gam as adversarial_metric
from reports.metrics.gam import gam_lines
from reports.metrics.generator_metrics import FEW_SAMPLES, MetricOptions, recorded_options
from reports.presentation.leaderboard import markdown_tables, update_leaderboard
from reports.presentation.report import export as export_results
from reports.presentation.report import report as make_report
from reports.quiz.app import serve as serve_quiz
from reports.quiz.session import Quiz

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


def run_dir_option(name: str, help: str, required: bool = True):
    """A run directory, as ``name`` (``--out`` where the command creates it, ``--run`` where it reads it) or as
    ``--run-dir``, the same in every command."""
    return click.option(name, "--run-dir", "run_dir", type=click.Path(path_type=Path), required=required, help=help)


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
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Only sample from this checkpoint.")
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


def detector_help() -> str:
    return "Detector to train (repeatable): " + ", ".join(NETWORKS.names()) + ", or timm:MODEL (e.g. timm:resnet18)."


@click.command()
@run_dir_option("--run", "Run directory with fakes.")
@click.option("--detector", "detectors", multiple=True, default=("cnn",), show_default=True, help=detector_help())
@click.option("--train-on", multiple=True, help="Generators whose fakes train the detectors [default: all].")
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
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default="auto", show_default=True,
              help="auto uses CUDA when a GPU is present.")
@data_options
def detect(run_dir, detectors, train_on, eval_fakes, checkpoint, resume, force, format_match, match_statistics,
           perturbations, baselines, seed, device, data_root, download, **options):
    """Train real-vs-fake detectors on a run's fakes and evaluate them across generators and perturbations."""
    if checkpoint is not None:
        detector_config = None if seed is None else DetectorConfig(seed=seed)
    else:
        detector_config = take(DetectorConfig, options, seed=seed or 0)
    extra = {name: Path(path) for name, path in config.parse_pairs(eval_fakes, "--eval-fakes", "other=PATH").items()}
    results = run_detectors(run_dir, detectors, train_on, extra, checkpoint, format_match, detector_config,
                            perturbations or PERTURBATIONS, device, data_root, download, resume=resume, force=force,
                            baselines=tuple(BASELINES.names()) if baselines else (), match_statistics=match_statistics)
    for result in results:
        clean = [row for row in result.rows if row["perturbation"] == "none"]
        scores = ", ".join(f"{row['eval_set']} AUC {row['auc']:.3f} acc {row['accuracy']:.3f}"
                           + ("" if row["protocol"] == clean[0]["protocol"] else f" ({row['protocol']})")
                           for row in clean)
        click.echo(f"{result.detector}@{result.train_generator}: {scores}")
    click.echo(f"results: {Path(run_dir) / 'detectors' / 'eval.csv'}")


@click.command()
@run_dir_option("--run", "Run directory to report on.", required=False)
@click_options(MetricOptions, exclude=("seed",))
@click.option("--export", type=click.Path(path_type=Path), help="Also write the run's results to this JSON.")
@click.option("--fid-between", nargs=2, type=click.Path(path_type=Path), metavar="DIR_A DIR_B",
              help="FID, KID and precision/recall of the images in DIR_B against those in DIR_A.")
@click.option("--gam", nargs=2, type=click.Path(path_type=Path), metavar="GEN_A GEN_B",
              help="Generative adversarial metric of two GANs trained on the same data (generator folders, "
                   "runs/R/generators/NAME): each discriminator judges the test reals and the other's fakes.")
@click.option("--leaderboard", type=click.Path(path_type=Path), metavar="DIR",
              help="Render the leaderboard from the result JSONs in DIR (into -o).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file of --leaderboard.")
@click.option("--check", is_flag=True, help="With --leaderboard: fail when the -o file is stale instead of writing.")
@json_option
@seed_and_device
@data_options
def report(run_dir, export, fid_between, gam, leaderboard, output, check, as_json, seed, device, data_root, download,
           **options):
    """Compute sample-quality and detection metrics and render the leaderboard (CSV, Markdown, HTML)."""
    metric_options = take(MetricOptions, options, seed=seed)
    modes = [name for name, value in (("--run", run_dir), ("--fid-between", fid_between), ("--gam", gam),
                                      ("--leaderboard", leaderboard)) if value]
    if len(modes) != 1:
        raise DeepbenchError(f"pass exactly one of --run, --fid-between, --gam and --leaderboard (got "
                             f"{', '.join(modes) or 'none'})")
    if check and not leaderboard or leaderboard and output is None:
        raise DeepbenchError("--check goes with --leaderboard, and --leaderboard needs -o FILE")
    if export and not run_dir:
        raise DeepbenchError("--export needs --run: it writes that run's results")
    if as_json and not (fid_between or gam):
        raise DeepbenchError("--json goes with --fid-between and --gam (and with deepbench evaluate); a run's "
                             "results are JSON already: --export FILE")
    if leaderboard:
        update_leaderboard(leaderboard, output, check)
        click.echo(f"{output} is up to date" if check else f"wrote {output}")
    elif fid_between:
        metrics = fid_between_folders(*fid_between, max_real=metric_options.num_samples, device=device, seed=seed,
                                      download=download)
        click.echo(json.dumps(metrics) if as_json else "\n".join(fid_between_lines(metrics)))
    elif gam:
        result = adversarial_metric(*gam, device=device, data_root=data_root, download=download, seed=seed)
        click.echo(json.dumps(result) if as_json else "\n".join(gam_lines(result)))
    else:
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
        click.echo(json.dumps({**result.results, "report": str(result.index)}, default=str))
        return
    click.echo(markdown_tables(result.results))
    click.echo(f"report: {result.index}")


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


@click.command()
@run_dir_option("--run", "Run directory to quiz on.")
@click.option("--port", type=int, default=8765, show_default=True, help="Port of the page (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other machines take the quiz.")
@click.option("--rounds", type=int, default=40, show_default=True,
              help="Images per session: half reals, half fakes shared by the generators.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the first session's order; each later session takes the next seed.")
@data_options
def quiz(run_dir, port, host, rounds, seed, data_root, download):
    """Serve a "real or fake?" page that measures how well people spot each generator's fakes."""
    questions = Quiz(run_dir, rounds, seed, data_root, download)
    server = serve_quiz(questions, host, port)
    click.echo(f"quiz on http://{host}:{server.server_port}/ (answers go to {questions.answers_file}); "
               f"Ctrl-C stops it")
    server.serve_forever()  # returns on Ctrl-C, with the socket closed
    click.echo(f"quiz stopped; answers are in {questions.answers_file}")


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
