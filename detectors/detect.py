"""``deepbench detect``: train detectors on a run's fakes and evaluate each on every held-out set.

For every detector and every training generator A: train on A's fakes against real training images,
then evaluate on held-out reals against the held-out fakes of **every** generator of the run (the
cross-generator matrix) and of any extra folder of fakes, clean and under each perturbation.

Format matching: when the real images are JPEG files (the CIFAR-10 folder of the shared data is), a
detector trained against lossless PNG fakes learns "JPEG or not". By default the fakes then go through
the reals' JPEG quality and chroma subsampling, for training and evaluation alike; ``format_match="off"``
keeps them lossless, and each ``eval.json`` records which was used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from benchmark import data
from benchmark.errors import DeepbenchError
from benchmark.images import RESIZE_METHOD, ImageDataset
from benchmark.rundir import RunDir, write_csv
from benchmark.runtime import resolve_device, seed_everything
from detectors.detector import Detector, DetectorConfig
from detectors.evaluate import evaluate, write_evaluation
from detectors.perturb import PERTURBATIONS, JpegSettings, folder_jpeg_settings, match_format
from detectors.sets import LabelledImages, fake_split, held_out_set, training_sets

log = logging.getLogger(__name__)
FORMAT_MATCH_CHOICES = ("auto", "off")


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


def load_fakes(run: RunDir, generator: str, channels: int, image_size: tuple[int, int]) -> torch.Tensor:
    folder = run.fakes(generator)
    if not (folder / "manifest.csv").exists():
        raise DeepbenchError(f"{folder} has no manifest.csv; run deepbench generate --out {run.root} first")
    images, _ = data.load(f"folder:{folder}", "train").tensors()
    if (images.shape[1], tuple(images.shape[2:])) != (channels, tuple(image_size)):
        raise DeepbenchError(f"fakes in {folder} are {tuple(images.shape[1:])}, the reals ({channels}, "
                             f"{image_size[0]}, {image_size[1]}); generate them again from this data set")
    return images


def detect(run_dir: str | os.PathLike, detectors: tuple[str, ...] = ("cnn",), train_on: tuple[str, ...] = (),
           eval_fakes: dict[str, Path] | None = None, checkpoint: str | os.PathLike | None = None,
           format_match: str = "auto", config: DetectorConfig | None = None,
           perturbations: tuple[str, ...] = PERTURBATIONS, device: str = "auto",
           data_root: str | os.PathLike | None = None, download: bool = False) -> list[DetectResult]:
    """Train (or, with ``checkpoint``, load) detectors and evaluate them; returns every evaluation's rows."""
    if format_match not in FORMAT_MATCH_CHOICES:
        raise DeepbenchError(f"--format-match must be one of {', '.join(FORMAT_MATCH_CHOICES)}, got {format_match!r}")
    config = config or DetectorConfig()
    seed_everything(config.seed)
    torch_device = resolve_device(device)
    run = RunDir(Path(run_dir))
    generated = run.generate_config()
    generators = [g for g in run.generators() if (run.fakes(g) / "manifest.csv").exists()]
    if not generators:
        raise DeepbenchError(f"{run.root} has no fakes; run deepbench generate --out {run.root} first")
    unknown = sorted(set(train_on) - set(generators))
    if unknown:
        raise DeepbenchError(f"--train-on {', '.join(unknown)}: no such generator in {run.root}; "
                             f"it has {', '.join(generators)}")
    run.start("detect", {"detectors": list(detectors), "train_on": list(train_on), "format_match": format_match,
                         "eval_fakes": {k: str(v) for k, v in (eval_fakes or {}).items()},
                         "checkpoint": str(checkpoint or ""), "detector": asdict(config),
                         "perturbations": list(perturbations)}, config.seed)
    first = data.load(f"folder:{run.fakes(generators[0])}", "train")
    shape = {"channels": first.channels, "image_size": first.image_size}
    data_root = data_root or generated.get("data_root")  # by default, the reals the generators were trained on
    real_train = data.load(generated["dataset"], "train", data_root, download, **shape)
    real_test = data.load(generated["dataset"], "test", data_root, download, **shape)
    found = real_jpeg_settings(real_train)  # recorded even when matching is off, so eval.json says what it skipped
    settings = found if format_match == "auto" else None
    matching = {"mode": format_match, "reals": str(found) if found else "lossless", "applied": settings is not None}
    if settings is not None:
        log.warning("the real images are %s; the fakes pass through the same JPEG settings (--format-match off "
                    "to keep them lossless)", settings)
    fakes = {g: match_format(load_fakes(run, g, **shape), settings) for g in generators}
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
                detector = Detector(name, shape["channels"], shape["image_size"][0], config, torch_device, download)
                detector.fit(train_set.images, train_set.labels, val_set.images, val_set.labels)
                folder = run.detector(name.replace(":", "-"), generator)
                detector.save(folder / "checkpoint.pt")
                write_csv(folder / "history.csv", detector.history)
                results.append(_evaluate_into(run, detector, generator, eval_sets, perturbations, matching,
                                              config.seed))
    write_summary(run)
    run.finish("detect")
    return results


def _evaluate_into(run: RunDir, detector: Detector, generator: str, eval_sets: dict[str, LabelledImages],
                   perturbations, matching: dict, seed: int) -> DetectResult:
    rows = evaluate(detector, eval_sets, perturbations, seed)
    folder = run.detector(detector.name.replace(":", "-"), generator)
    write_evaluation(folder, detector.name, generator, rows, detector.threshold, matching)
    return DetectResult(detector.name, generator, folder, rows)


def write_summary(run: RunDir) -> Path:
    """``detectors/eval.csv``: every detector's rows in one flat table."""
    frames = [pd.read_csv(path) for path in sorted((run.root / "detectors").glob("*/eval.csv"))]
    return write_csv(run.root / "detectors" / "eval.csv", pd.concat(frames, ignore_index=True))
