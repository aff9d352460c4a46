"""``deepbench run``: every experiment of a suite, generate -> detect -> report, resumable at any point.

Each experiment is a run directory ``<out>/<experiment>``. A stage that finished is recorded in that folder's
``suite.json`` with the options that decide its results; ``--resume`` skips a recorded stage whose options are
unchanged and continues the others where they stopped (generators from their last checkpoint, metrics from
their cache). Options that changed are refused rather than mixed into old results. The suite ends with the
leaderboard of all its experiments in ``<out>/leaderboard.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from benchmark import distributed
from benchmark.config import Experiment, Suite, check_seeds
from benchmark.errors import DeepbenchError
from benchmark.files import read_json, write_json, write_text
from benchmark.options import refuse_resume_with_force
from benchmark.rundir import RunDir
from benchmark.runtime import progress_bar
from detectors.detect import detect
from detectors.detector import DetectorConfig
from detectors.learning_curve import check_fractions
from generators.generate import generate
from generators.registry import GANConfig
from generators.train import TrainConfig
from reports.metrics.domain import domain_quality_scorer
from reports.metrics.generator_metrics import MetricOptions
from reports.presentation.leaderboard import render_leaderboard
from reports.presentation.report import Report, report

log = logging.getLogger(__name__)
STAGES = ("generate", "detect", "report")
STATE_KIND = "suite-state"


@dataclass
class ExperimentOutcome:
    experiment: Experiment
    run_dir: RunDir
    ran: list[str] = field(default_factory=list)  # stages computed now
    skipped: list[str] = field(default_factory=list)  # stages finished by an earlier run
    report: Report | None = None


@dataclass
class SuiteOutcome:
    suite: Suite
    out: Path
    experiments: list[ExperimentOutcome]
    leaderboard: Path


def options_hash(options: dict) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()


class StageState:
    """``suite.json`` of one experiment: which stages finished, under which options."""

    def __init__(self, run: RunDir):
        self.path = run.suite_record
        self.done = read_json(self.path, STATE_KIND)["stages"] if self.path.exists() else {}

    def finished(self, stage: str, options: dict) -> bool:
        if stage not in self.done:
            return False
        if self.done[stage] != options_hash(options):
            raise DeepbenchError(f"{self.path.parent} was run with other {stage} options than the suite's now; "
                                 f"use a new --out, or --force to run that experiment again from scratch")
        return True

    def record(self, stage: str, options: dict) -> None:
        self.done[stage] = options_hash(options)
        if distributed.is_main():
            write_json(self.path, {"stages": self.done}, STATE_KIND)


@dataclass(frozen=True)
class StageConfigs:
    train: TrainConfig
    gan: GANConfig
    detector: DetectorConfig
    metrics: MetricOptions
    detector_seeds: tuple[int, ...] = ()  # the detector table's ``seeds``: one detector per training seed
    learning_curve: tuple[float, ...] = ()  # the detector table's ``learning_curve``: shares of the training set
    leave_one_family_out: bool = False  # the detector table's: one detector per held-out generator family
    generator_orders: int = 0  # the detector table's: orders of the more-generators curve


DETECTOR_RUN_KEYS = ("seeds", "learning_curve", "leave_one_family_out", "generator_orders")  # detector-table keys
# that ask detect for more detectors rather than set a DetectorConfig field
STAGE_CLASSES = {"train": TrainConfig, "gan": GANConfig, "detector": DetectorConfig, "metrics": MetricOptions}


def stage_configs(experiment: Experiment) -> StageConfigs:
    """Each stage's config object from the suite's tables; a key that the class lacks is a one-line error that
    names the keys it has (``seed`` is the experiment's, the same for every stage)."""
    detector = dict(experiment.detector)
    where = f"experiment {experiment.name!r}: detector"
    seeds = check_seeds(detector.pop("seeds", []), f"{where} seeds")
    fractions = check_fractions(detector.pop("learning_curve", []), f"{where} learning_curve")
    leave_out, orders = detector.pop("leave_one_family_out", False), detector.pop("generator_orders", 0)
    if not isinstance(leave_out, bool):
        raise DeepbenchError(f"{where} leave_one_family_out takes true or false, got {leave_out!r}")
    if not isinstance(orders, int) or isinstance(orders, bool) or orders < 0:
        raise DeepbenchError(f"{where} generator_orders takes a non-negative integer, got {orders!r}")
    for table, config_class in STAGE_CLASSES.items():
        extra = set(DETECTOR_RUN_KEYS) if table == "detector" else set()
        known = {option.name for option in fields(config_class)} - {"seed"} | extra
        unknown = sorted(set(getattr(experiment, table)) - known)
        if unknown:
            raise DeepbenchError(f"experiment {experiment.name!r}: unknown {table} option {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(known))}")
    seed = {"seed": experiment.seed}
    return StageConfigs(TrainConfig(**{**experiment.train, **seed}), GANConfig(**experiment.gan),
                        DetectorConfig(**{**detector, **seed}),
                        MetricOptions(**{**experiment.metrics, **seed}), seeds, fractions, leave_out, orders)


def run_suite(suite: Suite, out: str | os.PathLike, resume: bool = False, device: str = "auto",
              data_root: str | os.PathLike | None = None, download: bool = False,
              force: bool = False) -> SuiteOutcome:
    """Run (or, with ``resume``, finish) every experiment; then write ``<out>/leaderboard.md``.

    An experiment folder that already holds something is refused unless ``resume`` (finish it, if its
    options are unchanged) or ``force`` (delete the experiment's run and start it again).
    """
    refuse_resume_with_force(resume, force, "finishes the run in --out", "starts it again")
    out = Path(out)
    started = [e.name for e in suite.experiments if (out / e.name).exists() and any((out / e.name).iterdir())]
    if started and not (resume or force):
        raise DeepbenchError(f"{out} already holds {', '.join(started)}; pass --resume to finish that run, "
                             f"--force to start it again, or use a new --out")
    configs = [stage_configs(e) for e in suite.experiments]  # every table checked before hours of work
    for name in started if force and distributed.is_main() else ():
        RunDir(out / name).discard()
    distributed.barrier()  # the deletions are done before any rank reads the runs
    outcomes = []
    with progress_bar(total=len(suite.experiments) * len(STAGES), desc=f"suite {suite.name}", unit="stage") as bar:
        for experiment, config in zip(suite.experiments, configs, strict=True):
            outcomes.append(run_experiment(experiment, config, out, device, data_root, download, bar.update))
    results = [outcome.report.results for outcome in outcomes]
    leaderboard = out / "leaderboard.md"
    if distributed.is_main():
        write_text(leaderboard, render_leaderboard(results))
    return SuiteOutcome(suite, out, outcomes, leaderboard)


def run_experiment(experiment: Experiment, config: StageConfigs, out: Path, device: str, data_root,
                   download: bool, advance: Callable[[], object]) -> ExperimentOutcome:
    """The three stages of one experiment, each skipped when ``suite.json`` says it finished."""
    run = RunDir(out / experiment.name)
    state, outcome = StageState(run), ExperimentOutcome(experiment, run)
    root = experiment.data_root or data_root
    perturbations = {"perturbations": experiment.perturbations} if experiment.perturbations else {}
    stages = {
        "generate": lambda: generate(
            experiment.dataset, experiment.generators, run.root, config.train, config.gan,
            num_samples=experiment.num_samples, resume=True, device=device, data_root=root, download=download,
            channels=experiment.channels, image_size=experiment.image_size, scorer_factory=domain_quality_scorer),
        "detect": lambda: detect(run.root, experiment.detectors, config=config.detector, device=device,
                                 data_root=root, download=download, resume=True,
                                 match_statistics=experiment.match_statistics, seeds=config.detector_seeds,
                                 learning_curve=config.learning_curve,
                                 leave_one_family_out=config.leave_one_family_out,
                                 generator_orders=config.generator_orders, **perturbations),
        "report": lambda: report(run.root, config.metrics, device, root, download),
    }
    for stage in STAGES:
        options = experiment.stage_config(stage)
        if stage == "detect" and not experiment.detectors:
            pass
        elif state.finished(stage, options):
            outcome.skipped.append(stage)
        else:
            log.info("%s: %s", experiment.name, stage)
            result = stages[stage]()
            if stage == "report":
                outcome.report = result
            state.record(stage, options)
            outcome.ran.append(stage)
        advance()
    if outcome.report is None:  # finished earlier: every metric is cached, so this only renders the files again
        outcome.report = stages["report"]()
    return outcome
