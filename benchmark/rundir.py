"""The run directory: the one contract between the generate, detect and report stages.

Each stage reads only what an earlier stage wrote here, so any stage can be re-run, resumed or replaced on
its own. Every file is written through :mod:`benchmark.files` (atomic, with a schema).

Layout (docs/architecture.md has every file)::

    runs/<run>/run.json
    runs/<run>/generators/<gen>/{checkpoints/, samples/, losses.csv, fakes/}
    runs/<run>/detectors/<det>@<gen>/{checkpoint.pt, history.csv, eval.json}
    runs/<run>/metrics/<gen>.json
    runs/<run>/report/
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from benchmark import DISTRIBUTION
from benchmark.data import DataConfig
from benchmark.errors import DeepbenchError
from benchmark.files import path_component, read_json, write_json
from benchmark.versions import code_commit, stage_protocols

RECORDED_PACKAGES = ("torch", "torchvision", "timm", "torch-fidelity", "numpy", "scikit-learn")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages whose behaviour the numbers depend on."""
    versions: dict[str, str | None] = {"python": platform.python_version(), "deepbench": metadata.version(DISTRIBUTION)}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine() -> str:
    """The hardware the numbers were measured on, for timings to mean something."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({platform.machine()}, {torch.get_num_threads()} torch threads), {gpu}"


def now() -> str:
    """The current UTC time in ISO 8601, as run records store it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


LAST_CHECKPOINT, BEST_CHECKPOINT = "last.pt", "best.pt"
UNION = "+"  # in a training set's name, dcgan+vae+ddpm: one detector trained on these generators' fakes at once
DATA_STAGES = ("generate", "import")  # the stages that put fakes in a run, and say which reals they follow
EVALUATION, EVALUATION_TABLE = "eval.json", "eval.csv"


@dataclass(frozen=True)
class DetectorFiles:
    """The files of one detector folder, ``detectors/<det>@<gen>/``."""

    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def checkpoint(self) -> Path:
        """The trained detector, written when training ends."""
        return self.folder / "checkpoint.pt"

    @property
    def training_state(self) -> Path:
        """The state after the last finished epoch, which ``--resume`` continues; gone once training ends."""
        return self.folder / "training.pt"

    @property
    def history(self) -> Path:
        return self.folder / "history.csv"

    @property
    def evaluation(self) -> Path:
        return self.folder / EVALUATION

    @property
    def evaluation_table(self) -> Path:
        return self.folder / EVALUATION_TABLE

    @property
    def learning_curve(self) -> Path:
        """AUC against the number of training fakes (``detectors.learning_curve``), when one was asked for."""
        return self.folder / "learning-curve.json"

    def baseline(self, protocol: str) -> Path:
        """A trivial-statistics baseline fitted under ``protocol``."""
        return self.folder / f"{protocol}-baseline.json"

    def trained(self) -> tuple[Path, ...]:
        """What retraining replaces (``--force``)."""
        return (self.checkpoint, self.training_state, self.history, self.evaluation, self.evaluation_table,
                self.learning_curve)


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory; creating the object touches nothing on disk."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def suite_record(self) -> Path:
        """What ``deepbench run`` records of the suite experiment this run belongs to."""
        return self.root / "suite.json"

    def generator(self, name: str) -> Path:
        return self.root / "generators" / path_component(name, "generator name")

    def checkpoints(self, generator: str) -> Path:
        return self.generator(generator) / "checkpoints"

    def last_checkpoint(self, generator: str) -> Path:
        """The latest training state, which ``--resume`` continues from."""
        return self.checkpoints(generator) / LAST_CHECKPOINT

    def best_checkpoint(self, generator: str) -> Path:
        """The best-scoring checkpoint on training data, which fakes are sampled from."""
        return self.checkpoints(generator) / BEST_CHECKPOINT

    def samples(self, generator: str) -> Path:
        return self.generator(generator) / "samples"

    def fakes(self, generator: str) -> Path:
        return self.generator(generator) / "fakes"

    def detector(self, detector: str, generator: str) -> DetectorFiles:
        path_component(detector, "detector name")
        return DetectorFiles(self.root / "detectors" / f"{detector}@{path_component(generator, 'generator name')}")

    def detectors(self) -> list[DetectorFiles]:
        """The detector folders that hold an evaluation, sorted by name."""
        return [DetectorFiles(path.parent) for path in sorted((self.root / "detectors").glob(f"*/{EVALUATION}"))]

    @property
    def detection_table(self) -> Path:
        """Every detector's evaluation rows in one CSV."""
        return self.root / "detectors" / EVALUATION_TABLE

    @property
    def quiz_answers(self) -> Path:
        """The answers of people to ``deepbench quiz``; it only grows."""
        return self.root / "quiz" / "answers.csv"

    def metrics(self, generator: str) -> Path:
        return self.root / "metrics" / f"{path_component(generator, 'generator name')}.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def generators(self) -> list[str]:
        """Names of the generators that have a folder in this run, sorted."""
        folder = self.root / "generators"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def discard(self, generators: list[str] | None = None) -> None:
        """Delete the named generators and everything derived from any fakes (detectors, metrics, report);
        ``None`` deletes the whole run. Only the run's own files and folders are touched (``--force``)."""
        derived = [self.root / "detectors", self.report, self.suite_record]
        if generators is None:
            doomed = [self.root / "generators", self.root / "metrics", self.run_json, *derived]
        else:
            doomed = [*(self.generator(g) for g in generators), *(self.metrics(g) for g in generators), *derived]
        for path in doomed:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def start(self, command: str, config: dict[str, Any], seed: int) -> dict[str, Any]:
        """Record a stage's start in ``run.json``, keeping earlier stages' records of the same run."""
        record = self.read_record() if self.run_json.exists() else {"stages": []}
        record.pop("schema", None)
        record["stages"].append({"command": command, "config": config, "seed": seed,
                                 "versions": package_versions(), "protocols": stage_protocols(command),
                                 "commit": code_commit(), "machine": machine(), "started": now(), "finished": None})
        write_json(self.run_json, record, "run")
        return record

    def finish(self, command: str) -> dict[str, Any]:
        """Stamp the end time of the latest unfinished ``command`` stage in ``run.json``."""
        record = self.read_record()
        record.pop("schema")
        open_stages = [s for s in record["stages"] if s["command"] == command and s["finished"] is None]
        if not open_stages:
            raise DeepbenchError(f"{self.run_json} has no unfinished {command!r} stage; it was changed meanwhile")
        open_stages[-1]["finished"] = now()
        write_json(self.run_json, record, "run")
        return record

    def generate_config(self, required: bool = True) -> dict[str, Any]:
        """The latest generate (or import) stage's config: the data set spec, data root and image shape the
        fakes follow; ``{}`` when there is none and it is not ``required``."""
        stages = [s for s in self.read_record()["stages"] if s["command"] in DATA_STAGES]
        if not stages and not required:
            return {}
        if not stages:
            raise DeepbenchError(f"{self.run_json} records no generate stage; run deepbench generate --out "
                                 f"{self.root} first")
        return stages[-1]["config"]

    def data_config(self, data_root: str | os.PathLike | None = None, download: bool = False) -> DataConfig:
        """The reals the run's fakes follow (the latest generate or import stage's data set, shape and data
        root); ``data_root``, when given, replaces the recorded one."""
        config = self.generate_config()
        return DataConfig(config["dataset"], data_root or config.get("data_root"), download, config.get("channels"),
                          config.get("image_size"))

    def detect_seed(self) -> int:
        """The seed that split the fakes for the latest ``detect`` (0, the default, before any detect)."""
        stages = [s for s in self.read_record()["stages"] if s["command"] == "detect"]
        return int(stages[-1]["config"]["detector"]["seed"]) if stages else 0

    def read_record(self) -> dict[str, Any]:
        """``run.json``, validated."""
        record = read_json(self.run_json, "run")
        if not isinstance(record.get("stages"), list):
            raise DeepbenchError(f"{self.run_json} has no 'stages' list; delete it or use a new --out")
        return record
