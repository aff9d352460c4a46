"""``deepbench evaluate``: folders of fakes made anywhere, scored as deepbench scores its own.

Each ``--fakes NAME=DIR`` is imported into a new run as generator ``NAME`` (:mod:`generators.imported`),
against the reals of a data spec; then the usual stages run on the run: ``detect`` trains detectors on each
imported set (held-out splits, validation-only selection, format and statistics matching, robust
augmentation) and/or evaluates the trained detectors of another run on them without retraining, and
``report`` computes the sample-quality figures and writes the page and the leaderboard tables. The run is an
ordinary run directory: its ``run.json`` records an ``import`` stage where a GAN run records ``generate``.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmark import data
from benchmark.errors import DeepbenchError
from benchmark.rundir import RunDir
from detectors.baselines import BASELINES
from detectors.detect import detect
from detectors.detector import DetectorConfig
from detectors.perturb import PERTURBATIONS
from generators.generate import claim_out
from generators.imported import import_fakes, refuse_existing, source_description
from reports.metrics.generator_metrics import MetricOptions
from reports.presentation.report import Report, report


def evaluate(reals: str, fakes: dict[str, str | os.PathLike], out: str | os.PathLike,
             detectors: tuple[str, ...] = (), with_detectors: str | os.PathLike | None = None,
             detector_config: DetectorConfig | None = None, metric_options: MetricOptions | None = None,
             perturbations: tuple[str, ...] = PERTURBATIONS, baselines: tuple[str, ...] = tuple(BASELINES.names()),
             channels: int | None = None,
             image_size: int | None = None, force: bool = False, device: str = "auto",
             data_root: str | os.PathLike | None = None, download: bool = False,
             progress: bool | None = None, format_match: str = "auto", match_statistics: str = "auto") -> Report:
    """Import ``fakes`` (name -> folder) into the run ``out`` against the reals of spec ``reals``, train
    ``detectors`` on each set (beside the trivial-statistics ``baselines``), evaluate the detectors of run
    ``with_detectors`` on them, and report. ``format_match`` and ``match_statistics`` choose the protocols, as
    for :func:`detectors.detect.detect`: imported fakes are judged by the same rules as a GAN's."""
    if not fakes:
        raise DeepbenchError("pass at least one --fakes NAME=DIR")
    detector_config = detector_config or DetectorConfig()
    trained = _trained_detectors(with_detectors)
    real_data = data.DataConfig(reals, data_root, download, channels, image_size)
    real_train = real_data.load("train")
    real_data.load("test")  # detection and report need it
    sources = {name: source_description(name, Path(folder), real_train.image_size) for name, folder in fakes.items()}
    run = RunDir(Path(out))
    config = {**real_data.record(real_train), "generators": list(fakes), "checkpoint": "", "sources": sources}
    refuse_existing(run, list(fakes), force)
    claim_out(run, config, resume=False, force=force)  # every argument was checked before this first write
    run.start("import", config, detector_config.seed)
    for name, folder in fakes.items():
        import_fakes(run, name, Path(folder), real_train.channels, real_train.image_size, force, sources[name])
    run.finish("import")
    options = {"perturbations": perturbations, "device": device, "data_root": data_root, "download": download,
               "format_match": format_match, "match_statistics": match_statistics}
    if detectors:
        detect(run.root, detectors, config=detector_config, force=force, baselines=baselines, **options)
    for checkpoint in trained:
        detect(run.root, checkpoint=checkpoint, force=force, baselines=(), **options)
    return report(run.root, metric_options, device, data_root, download, progress)


def _trained_detectors(run_dir: str | os.PathLike | None) -> list[Path]:
    """The checkpoints of the learned detectors of run ``run_dir`` (``--with-detectors``)."""
    if run_dir is None:
        return []
    checkpoints = [files.checkpoint for files in RunDir(Path(run_dir)).detectors() if files.checkpoint.is_file()]
    if not checkpoints:
        raise DeepbenchError(f"--with-detectors {run_dir}: no trained detector there (detectors/*/checkpoint.pt); "
                             f"pass a run that deepbench detect trained detectors in")
    return checkpoints
