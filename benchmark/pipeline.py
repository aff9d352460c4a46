"""``deepbench run``: the whole benchmark on one data set, stage after stage, into one run directory.

A stage that this version does not have yet is reported as such, and the run goes on to the next, so the
main job always runs to its end and says plainly what it did and did not do.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from benchmark import data
from benchmark.images import ImageDataset
from benchmark.rundir import RunDir
from benchmark.runtime import resolve_device, seed_everything
from detectors.detect import detect
from detectors.detector import DetectorConfig
from generators.generate import generate
from generators.train import Scorer, TrainConfig
from reports.domain import DomainScorer, train_domain_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageOutcome:
    name: str
    status: str  # "done", "not yet available"
    message: str


@dataclass
class RunOutcome:
    run_dir: RunDir
    stages: list[StageOutcome] = field(default_factory=list)


UNBUILT_STAGES = ("report",)
RUN_DETECTORS = ("cnn", "capsule")
RUN_DETECTOR_EPOCHS = 3
RUN_GENERATORS = ("dcgan", "cdcgan")  # the conditional one only where the data has classes
RUN_EPOCHS = 2
SCORE_REALS = 1000


def domain_quality_scorer(train_set: ImageDataset, test_set: ImageDataset) -> Scorer | None:
    """KID on a domain classifier's features against held-out reals: the signal that picks ``best.pt``.

    A data set with one class cannot train that classifier; training then keeps ``last.pt`` only.
    """
    if len(train_set.classes) < 2:
        log.info("one class: no domain classifier, so no quality score; sampling will use last.pt")
        return None
    classifier = train_domain_classifier(train_set)
    reals, _ = test_set.tensors()
    return DomainScorer(classifier, reals[:SCORE_REALS])


def run(dataset: str = data.DEFAULT_DATASET, out: str | os.PathLike = "runs/default", seed: int = 0,
        device: str = "auto", data_root: str | os.PathLike | None = None, download: bool = False,
        epochs: int = RUN_EPOCHS, max_steps: int | None = None, num_samples: int | None = None) -> RunOutcome:
    """Check the data, record the run in ``run.json`` and run every stage this version has.

    ``epochs``, ``max_steps`` and ``num_samples`` shorten the generator stage for quick runs.
    """
    seed_everything(seed)
    torch_device = resolve_device(device)
    splits = {split: data.load(dataset, split, data_root, download) for split in data.SPLITS}
    run_dir = RunDir(Path(out))
    config = {"dataset": dataset, "device": str(torch_device), "data_root": str(data.resolve_root(data_root)),
              "train_images": len(splits["train"]), "test_images": len(splits["test"]),
              "fingerprint": splits["train"].fingerprint}
    run_dir.start("run", config, seed)
    outcome = RunOutcome(run_dir)
    outcome.stages.append(StageOutcome("data", "done", f"{splits['train']!r}; {splits['test']!r}"))
    conditional_ok = len(splits["train"].classes) >= 2
    names = RUN_GENERATORS if conditional_ok else tuple(n for n in RUN_GENERATORS if not n.startswith("c"))
    sets = generate(dataset, names, out, TrainConfig(epochs=epochs, max_steps=max_steps, seed=seed),
                    num_samples=num_samples, device=device, data_root=data_root, download=download,
                    scorer_factory=domain_quality_scorer)
    outcome.stages.append(StageOutcome("generate", "done", "; ".join(
        f"{s.generator}: {s.num_samples} fakes (step {s.step} of {s.trained_steps})" for s in sets)))
    results = detect(out, RUN_DETECTORS, config=DetectorConfig(epochs=RUN_DETECTOR_EPOCHS, seed=seed), device=device,
                     data_root=data_root, download=download)
    outcome.stages.append(StageOutcome("detect", "done", "; ".join(
        f"{r.detector}@{r.train_generator} AUC on {row['eval_set']} {row['auc']:.3f}"
        for r in results for row in r.rows if row["perturbation"] == "none")))
    for name in UNBUILT_STAGES:
        outcome.stages.append(StageOutcome(name, "not yet available", "this stage is not built in this version"))
    run_dir.finish("run")
    return outcome
