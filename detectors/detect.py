"""``deepbench detect``: train detectors on a run's fakes and evaluate each on every held-out set.

For every detector and every training generator A: train on A's fakes against real training images,
then evaluate on held-out reals against the held-out fakes of **every** generator of the run (the
cross-generator matrix) and of any extra folder of fakes, clean and under each perturbation.

Format matching: when the real images are JPEG files (the CIFAR-10 folder of the shared data is), a
detector trained against lossless PNG fakes learns "JPEG or not". By default the fakes then go through
the reals' JPEG quality and chroma subsampling, for training and evaluation alike; ``format_match="off"``
keeps them lossless, and each ``eval.json`` records which was used.

Resuming: while a detector trains, ``detectors/<det>@<gen>/training.pt`` holds its state after the last
finished epoch; ``checkpoint.pt`` replaces it when training ends. A folder holding either is never
overwritten silently: ``resume=True`` keeps finished detectors (they are evaluated again, not retrained) and
continues interrupted ones, each only if it was trained with the same options; ``force=True`` retrains them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from benchmark import data, distributed
from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST, load_fakes
from benchmark.images import RESIZE_METHOD, ImageDataset
from benchmark.rundir import RunDir, load_checkpoint, write_csv
from benchmark.runtime import resolve_device, seed_everything
from detectors.detector import Detector, DetectorConfig, refuse_other_options, training_options
from detectors.evaluate import evaluate, write_evaluation
from detectors.perturb import PERTURBATIONS, JpegSettings, folder_jpeg_settings, match_format
from detectors.sets import LabelledImages, fake_split, held_out_set, training_sets

log = logging.getLogger(__name__)
FORMAT_MATCH_CHOICES = ("auto", "off")
CHECKPOINT, TRAINING_STATE = "checkpoint.pt", "training.pt"
DETECTOR_FILES = (CHECKPOINT, TRAINING_STATE, "history.csv", "eval.json", "eval.csv")  # what force replaces


@dataclass
class DetectResult:
    detector: str
    train_generator: str
    folder: Path
    rows: list[dict]


def real_jpeg_settings(dataset: ImageDataset) -> JpegSettings | None:
    """The reals' JPEG settings when they are JPEG files; None for lossless or in-memory data."""
    paths = getattr(dataset, "paths", None)
    return folder_jpeg_settings(paths) if paths else None


def detect(run_dir: str | os.PathLike, detectors: tuple[str, ...] = ("cnn",), train_on: tuple[str, ...] = (),
           eval_fakes: dict[str, Path] | None = None, checkpoint: str | os.PathLike | None = None,
           format_match: str = "auto", config: DetectorConfig | None = None,
           perturbations: tuple[str, ...] = PERTURBATIONS, device: str = "auto",
           data_root: str | os.PathLike | None = None, download: bool = False, resume: bool = False,
           force: bool = False) -> list[DetectResult]:
    """Train (or, with ``checkpoint``, load) detectors and evaluate them; returns every evaluation's rows.

    Detectors an earlier call left are an error unless ``resume`` keeps (and continues) or ``force`` retrains them.
    """
    if format_match not in FORMAT_MATCH_CHOICES:
        raise DeepbenchError(f"--format-match must be one of {', '.join(FORMAT_MATCH_CHOICES)}, got {format_match!r}")
    _check_flags(checkpoint, resume, force)
    config = config or DetectorConfig()
    seed_everything(config.seed)
    torch_device = resolve_device(device)
    run = RunDir(Path(run_dir))
    generated = run.generate_config()
    generators = [g for g in run.generators() if (run.fakes(g) / MANIFEST).exists()]
    if not generators:
        raise DeepbenchError(f"{run.root} has no fakes; run deepbench generate --out {run.root} first")
    unknown = sorted(set(train_on) - set(generators))
    if unknown:
        raise DeepbenchError(f"--train-on {', '.join(unknown)}: no such generator in {run.root}; "
                             f"it has {', '.join(generators)}")
    folders = {} if checkpoint is not None else {
        run.detector(name.replace(":", "-"), generator): name for generator in train_on or generators
        for name in detectors}
    _check_existing(list(folders), resume, force)
    first = data.load(f"folder:{run.fakes(generators[0])}", "train")
    shape = {"channels": first.channels, "image_size": first.image_size}
    wanted = training_options(asdict(config), shape["channels"], shape["image_size"][0])
    finished = _resumable(folders, wanted, torch_device) if resume else {}
    if distributed.is_main():
        run.start("detect", {"detectors": list(detectors), "train_on": list(train_on), "format_match": format_match,
                             "eval_fakes": {k: str(v) for k, v in (eval_fakes or {}).items()},
                             "checkpoint": str(checkpoint or ""), "detector": asdict(config),
                             "perturbations": list(perturbations)}, config.seed)
    data_root = data_root or generated.get("data_root")  # by default, the reals the generators were trained on
    real_train = data.load(generated["dataset"], "train", data_root, download, **shape)
    real_test = data.load(generated["dataset"], "test", data_root, download, **shape)
    found = real_jpeg_settings(real_train)  # recorded even when matching is off, so eval.json says what it skipped
    settings = found if format_match == "auto" else None
    matching = {"mode": format_match, "reals": str(found) if found else "lossless", "applied": settings is not None}
    if settings is not None:
        log.warning("the real images are %s; the fakes pass through the same JPEG settings (--format-match off "
                    "to keep them lossless)", settings)
    fakes = {g: match_format(load_fakes(run.fakes(g), **shape)[0], settings) for g in generators}
    real_test_images, _ = real_test.tensors()
    eval_sets = {g: held_out_set(real_test_images, fake_split(f, "test", config.seed), config.seed)
                 for g, f in fakes.items()}
    for name, folder in (eval_fakes or {}).items():
        extra = data.load(f"folder:{folder}", "train", channels=shape["channels"], image_size=shape["image_size"])
        images, _ = extra.tensors()
        if settings is not None and real_jpeg_settings(extra) is None:
            images = match_format(images, settings)
        eval_sets[name] = held_out_set(real_test_images, images, config.seed)
        matching[f"eval_fakes:{name}"] = f"resized to {shape['image_size']} by {RESIZE_METHOD}"
    results = []
    if checkpoint is not None:
        detector = Detector.load(checkpoint, torch_device)
        label = Path(checkpoint).parent.name.partition("@")[2] or "checkpoint"
        results.append(_evaluate_into(run, detector, label, eval_sets, perturbations, matching, config.seed))
    else:
        real_train_images, _ = real_train.tensors()
        for generator in train_on or generators:
            train_set, val_set = training_sets(real_train_images, fakes[generator], config.seed)
            for name in detectors:
                folder = run.detector(name.replace(":", "-"), generator)
                if folder in finished:
                    detector = finished[folder]
                else:
                    detector = Detector(name, shape["channels"], shape["image_size"][0], config, torch_device,
                                        download)
                    _fit_into(folder, detector, train_set, val_set, force)
                results.append(_evaluate_into(run, detector, generator, eval_sets, perturbations, matching,
                                              config.seed))
    if distributed.is_main():
        write_summary(run)
        run.finish("detect")
    return results


def _check_flags(checkpoint: str | os.PathLike | None, resume: bool, force: bool) -> None:
    """Contradictory options fail before anything is read or written."""
    if resume and force:
        raise DeepbenchError("--resume keeps existing detectors and --force retrains them; pass one of them")
    if checkpoint is not None and (resume or force):
        raise DeepbenchError("--checkpoint only evaluates the given detector and trains none; drop --resume/--force")


def _check_existing(folders: list[Path], resume: bool, force: bool) -> None:
    """Refuse, before any training, to overwrite what an earlier run left: keeping or replacing it is a choice."""
    existing = [f for f in folders if (f / CHECKPOINT).exists() or (f / TRAINING_STATE).exists()]
    if existing and not (resume or force):
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise DeepbenchError(f"{existing[0]} exists{more}; pass --resume to keep finished detectors and continue "
                             f"interrupted ones, or --force to retrain them")


def _resumable(folders: dict[Path, str], wanted: dict, device: torch.device) -> dict[Path, Detector]:
    """The finished detectors, loaded, after checking that every saved one was trained with ``wanted`` options.

    Interrupted trainings are checked here too (``fit`` checks them again), so that a mismatch late in the
    list fails before the first detector trains rather than after hours of work.
    """
    finished = {}
    for folder, name in folders.items():
        if (folder / CHECKPOINT).exists():
            detector = Detector.load(folder / CHECKPOINT, device)
            refuse_other_options(folder / CHECKPOINT, detector.options(), wanted)
            finished[folder] = detector
        elif (folder / TRAINING_STATE).exists():
            state = load_checkpoint(folder / TRAINING_STATE, f"detector-training:{name}")
            saved = training_options(state["config"], state["channels"], state["image_size"])
            refuse_other_options(folder / TRAINING_STATE, saved, wanted)
    return finished


def _fit_into(folder: Path, detector: Detector, train_set: LabelledImages, val_set: LabelledImages,
             force: bool) -> None:
    """Train with a state in ``training.pt`` after each epoch, removed once ``checkpoint.pt`` marks the end.

    With ``force``, the folder's old results go first: none of them may outlive the detector retrained here.
    """
    main = distributed.is_main()
    if force and main:
        for name in DETECTOR_FILES:
            (folder / name).unlink(missing_ok=True)
    distributed.barrier()  # no rank may find the training state that --force is deleting
    state_path = folder / TRAINING_STATE
    detector.fit(train_set.images, train_set.labels, val_set.images, val_set.labels, state_path=state_path)
    if main:
        write_csv(folder / "history.csv", detector.history)  # before the checkpoint: a finished detector has both
        detector.save(folder / CHECKPOINT)
        state_path.unlink()


def _evaluate_into(run: RunDir, detector: Detector, generator: str, eval_sets: dict[str, LabelledImages],
                   perturbations, matching: dict, seed: int) -> DetectResult:
    rows = evaluate(detector, eval_sets, perturbations, seed)
    folder = run.detector(detector.name.replace(":", "-"), generator)
    if distributed.is_main():
        write_evaluation(folder, detector.name, generator, rows, detector.threshold, matching)
    return DetectResult(detector.name, generator, folder, rows)


def write_summary(run: RunDir) -> Path:
    """``detectors/eval.csv``: every detector's rows in one flat table."""
    frames = [pd.read_csv(path) for path in sorted((run.root / "detectors").glob("*/eval.csv"))]
    return write_csv(run.root / "detectors" / "eval.csv", pd.concat(frames, ignore_index=True))
