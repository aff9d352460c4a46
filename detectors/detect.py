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

import functools
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from benchmark import data, distributed
from benchmark.config import check_seeds
from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST
from benchmark.files import load_checkpoint, write_csv
from benchmark.options import refuse_resume_with_force
from benchmark.rundir import DetectorFiles, RunDir
from benchmark.runtime import resolve_device, seed_everything
from benchmark.versions import PROTOCOLS
from detectors.baselines import BASELINES, StatisticsBaseline
from detectors.detector import Detector, DetectorConfig, augment, refuse_other_options, training_options
from detectors.evaluate import evaluate, write_evaluation
from detectors.formats import real_jpeg_settings
from detectors.generalisation import protocol_training_sets
from detectors.learning_curve import check_fractions, learning_curve
from detectors.matching import MATCH_CHOICES
from detectors.perturb import PERTURBATIONS
from detectors.protocols import DetectionSets, assemble_sets
from detectors.sets import UNION, LabelledImages, canonical_union, union_members

log = logging.getLogger(__name__)
FORMAT_MATCH_CHOICES = ("auto", "off")


@dataclass
class DetectResult:
    detector: str
    train_generator: str
    files: DetectorFiles
    rows: list[dict]


def detect(run_dir: str | os.PathLike, detectors: tuple[str, ...] = ("cnn",), train_on: tuple[str, ...] = (),
           eval_fakes: dict[str, Path] | None = None, checkpoint: str | os.PathLike | None = None,
           format_match: str = "auto", config: DetectorConfig | None = None,
           perturbations: tuple[str, ...] = PERTURBATIONS, device: str = "auto",
           data_root: str | os.PathLike | None = None, download: bool = False, resume: bool = False,
           force: bool = False, baselines: tuple[str, ...] = tuple(BASELINES.names()),
           match_statistics: str = "auto", seeds: tuple[int, ...] = (),
           learning_curve: tuple[float, ...] = (), leave_one_family_out: bool = False,
           generator_orders: int = 0) -> list[DetectResult]:
    """Train (or, with ``checkpoint``, load) detectors and evaluate them; returns every evaluation's rows.

    ``train_on`` names the training sets, each a generator or a union ``a+b+c`` of generators, whose detectors
    train on every member's training fakes at once (as many of each) and are evaluated on every held-out set;
    by default every generator alone. ``leave_one_family_out`` and ``generator_orders`` add the unions of the
    field's generalisation protocols (:mod:`detectors.generalisation`).

    ``seeds`` trains each detector once per training seed (initial weights, batch order, augmentation) on the
    same split of the fakes, the split of ``config.seed``, so that the spread across them measures what
    retraining alone changes; without it, one detector trains with ``config``'s own training seed.
    ``learning_curve`` (shares of the training set, e.g. 0.125, 0.25, 0.5) also trains the first seed's detector
    on those nested subsets and records its in-distribution AUC against the number of training fakes
    (:mod:`detectors.learning_curve`).

    Detectors an earlier call left are an error unless ``resume`` keeps (and continues) or ``force`` retrains
    them. Each training generator also gets the trivial-statistics ``baselines``, fitted on the same images.
    With ``checkpoint``, the fakes are split with the seed the detector was trained with (its training fakes
    never reach the held-out set); a ``config`` with another seed is refused.
    """
    if format_match not in FORMAT_MATCH_CHOICES:
        raise DeepbenchError(f"--format-match must be one of {', '.join(FORMAT_MATCH_CHOICES)}, got {format_match!r}")
    if match_statistics not in MATCH_CHOICES:
        raise DeepbenchError(f"--match-statistics must be one of {', '.join(MATCH_CHOICES)}, got {match_statistics!r}")
    _check_flags(checkpoint, resume, force)
    seeds, learning_curve = check_seeds(seeds, "--seeds"), check_fractions(learning_curve, "--learning-curve")
    torch_device = resolve_device(device)
    loaded = None if checkpoint is None else Detector.load(checkpoint, torch_device)
    if loaded is not None and config is not None and config.seed != loaded.config.seed:
        raise DeepbenchError(f"{checkpoint} was trained with seed {loaded.config.seed}, whose split decides which "
                             f"fakes are held out; drop --seed or pass --seed {loaded.config.seed}")
    config = loaded.config if loaded is not None else config or DetectorConfig()
    seed_everything(config.seed)
    run = RunDir(Path(run_dir))
    reals = run.data_config(data_root, download)  # by default, the reals the generators were trained on
    if config.flip is None:  # recorded resolved, so a run says whether it flipped
        config = replace(config, flip=data.flip_invariant(reals.dataset))
    trainings = [config] if not seeds else [replace(config, training_seed=seed) for seed in seeds]
    generators = [g for g in run.generators() if (run.fakes(g) / MANIFEST).exists()]
    if not generators:
        raise DeepbenchError(f"{run.root} has no fakes; run deepbench generate --out {run.root} first")
    unknown = sorted({member for name in train_on for member in union_members(name)} - set(generators))
    if unknown:
        raise DeepbenchError(f"--train-on {', '.join(unknown)}: no such generator in {run.root}; "
                             f"it has {', '.join(generators)} (a union: {UNION.join(generators[:2])})")
    asked = [canonical_union(name) for name in train_on or generators]
    added = protocol_training_sets(generators, leave_one_family_out, generator_orders, config.seed)
    training_names = list(dict.fromkeys(asked + added))
    for name in baselines:
        BASELINES.get(name)  # an unknown name fails before anything is read
    label = None if checkpoint is None else Path(checkpoint).parent.name.partition("@")[2] or "checkpoint"
    if loaded is not None:
        _check_evaluation_target(run.detector(loaded.name.replace(":", "-"), label), force)
    folders = {} if checkpoint is not None else {  # the files of each detector to train, its name and options
        detector_files(run, name, generator, training): (name, training) for generator in training_names
        for name in detectors for training in trainings}
    _check_existing(list(folders), resume, force)
    first = data.load(f"folder:{run.fakes(generators[0])}", "train")
    shape = {"channels": first.channels, "image_size": first.image_size}
    finished = _resumable(folders, shape, torch_device) if resume else {}
    if distributed.is_main():
        run.start("detect", {"detectors": list(detectors), "train_on": list(train_on), "format_match": format_match,
                             "eval_fakes": {k: str(v) for k, v in (eval_fakes or {}).items()},
                             "checkpoint": str(checkpoint or ""), "detector": asdict(config),
                             "seeds": [training.weights_seed for training in trainings],
                             "learning_curve": list(learning_curve), "leave_one_family_out": leave_one_family_out,
                             "generator_orders": generator_orders,
                             "perturbations": list(perturbations), "baselines": list(baselines),
                             "match_statistics": match_statistics}, config.seed)
    reals = reals.shaped(**shape)
    real_train, real_test = reals.load("train"), reals.load("test")
    found = real_jpeg_settings(real_train)  # recorded even when matching is off, so eval.json says what it skipped
    settings = found if format_match == "auto" else None
    matching = {"mode": format_match, "reals": str(found) if found else "lossless", "applied": settings is not None}
    if settings is not None:
        log.warning("the real images are %s; the fakes pass through the same JPEG settings (--format-match off "
                    "to keep them lossless)", settings)
    real_train_images, _ = real_train.tensors()
    real_test_images, _ = real_test.tensors()
    sets = assemble_sets(run, generators, eval_fakes or {}, real_train_images, real_test_images, shape, settings,
                         match_statistics, config.seed)
    matching.update(sets.resized)
    context = {"format_match": matching, "statistics_match": {"mode": match_statistics, **sets.matches},
               "split_seed": config.seed, "held_out_sha256": sets.held_out}
    validation = {generator: sets.training(generator)[1] for generator in generators}
    evaluation = functools.partial(_evaluate_into, run, eval_sets=sets.eval_sets, validation=validation,
                                   context=context, seed=config.seed)
    results = []
    if loaded is not None:
        results.append(evaluation(loaded, label, run.detector(loaded.name.replace(":", "-"), label),
                                  perturbations=perturbations))
    else:
        for generator in training_names:
            train_set, val_set = sets.training(generator)
            for name in detectors:
                for index, training in enumerate(trainings):
                    files = detector_files(run, name, generator, training)
                    make = functools.partial(Detector, name, shape["channels"], shape["image_size"][0], training,
                                             torch_device, download)
                    if files in finished:
                        detector = finished[files]
                    else:
                        detector = make()
                        _fit_into(files, detector, train_set, val_set, force)
                    curve = None if index or not learning_curve or UNION in generator else functools.partial(
                        _curve, files, make, training_options(asdict(training), shape["channels"],
                                                              shape["image_size"][0]),
                        train_set, val_set, sets, generator, learning_curve, config.seed)
                    results.append(evaluation(detector, generator, files, perturbations=perturbations,
                                              curve=curve))
            for kind in baselines:  # seconds each: refitted on every call rather than resumed
                results.append(_baseline_into(run, kind, generator, sets, context, config))
    if distributed.is_main():
        write_summary(run)
        run.finish("detect")
    return results


def _check_flags(checkpoint: str | os.PathLike | None, resume: bool, force: bool) -> None:
    """Contradictory options fail before anything is read or written."""
    refuse_resume_with_force(resume, force, "keeps existing detectors", "retrains them")
    if checkpoint is not None and resume:
        raise DeepbenchError("--checkpoint only evaluates the given detector and trains none; drop --resume")


def _check_evaluation_target(files: DetectorFiles, force: bool) -> None:
    """Evaluating a checkpoint never silently replaces the results a trained detector's folder already holds."""
    if files.evaluation.exists() and not force:
        raise DeepbenchError(f"{files.evaluation} exists; pass --force to replace it with this evaluation, or "
                             f"evaluate into another run")


def _check_existing(folders: list[DetectorFiles], resume: bool, force: bool) -> None:
    """Refuse, before any training, to overwrite what an earlier run left: keeping or replacing it is a choice."""
    existing = [f.folder for f in folders if f.checkpoint.exists() or f.training_state.exists()]
    if existing and not (resume or force):
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise DeepbenchError(f"{existing[0]} exists{more}; pass --resume to keep finished detectors and continue "
                             f"interrupted ones, or --force to retrain them")


def detector_files(run: RunDir, name: str, generator: str, config: DetectorConfig) -> DetectorFiles:
    """``detectors/<det>@<gen>``, or ``<det>-seed<N>@<gen>`` for a training seed other than the split's."""
    seed = "" if config.weights_seed == config.seed else f"-seed{config.weights_seed}"
    return run.detector(name.replace(":", "-") + seed, generator)


def _resumable(folders: dict[DetectorFiles, tuple[str, DetectorConfig]], shape: dict,
               device: torch.device) -> dict[DetectorFiles, Detector]:
    """The finished detectors, loaded, after checking that every saved one was trained with its folder's options
    (its name and training config in ``folders``) at this run's image ``shape``.

    Interrupted trainings are checked here too (``fit`` checks them again), so that a mismatch late in the
    list fails before the first detector trains rather than after hours of work.
    """
    finished = {}
    for files, (name, config) in folders.items():
        wanted = training_options(asdict(config), shape["channels"], shape["image_size"][0])
        if files.checkpoint.exists():
            detector = Detector.load(files.checkpoint, device)
            refuse_other_options(files.checkpoint, detector.options(), wanted)
            finished[files] = detector
        elif files.training_state.exists():
            state = load_checkpoint(files.training_state, f"detector-training:{name}")
            saved = training_options(state["config"], state["channels"], state["image_size"])
            refuse_other_options(files.training_state, saved, wanted)
    return finished


def _fit_into(files: DetectorFiles, detector: Detector, train_set: LabelledImages, val_set: LabelledImages,
             force: bool) -> None:
    """Train with a state in ``training.pt`` after each epoch, removed once ``checkpoint.pt`` marks the end.

    With ``force``, the folder's old results go first: none of them may outlive the detector retrained here.
    """
    main = distributed.is_main()
    if force and main:
        for path in files.trained():
            path.unlink(missing_ok=True)
    distributed.barrier()  # no rank may find the training state that --force is deleting
    detector.fit(train_set.images, train_set.labels, val_set.images, val_set.labels, state_path=files.training_state)
    if main:
        write_csv(files.history, detector.history)  # before the checkpoint: a finished detector has both
        detector.save(files.checkpoint)
        files.training_state.unlink()


def _evaluate_into(run: RunDir, detector, generator: str, files: DetectorFiles,
                   eval_sets: dict[str, dict[str, LabelledImages]], validation: dict[str, LabelledImages],
                   perturbations, context: dict, seed: int, curve=None) -> DetectResult:
    """Evaluate under every protocol: the headline one (matched when on) under every perturbation, the raw one
    on clean images beside it; then, given ``curve``, the learning curve that ends at this detector.

    ``validation_auc`` is the mean AUC over every generator's validation split, the same sets for every detector
    of the run: what may choose between detectors (the quiz's best), where each one's own validation AUC, on its
    own generator's fakes, would favour the easiest generator and the held-out figures would choose on what
    they report.
    """
    aucs = {name: float(roc_auc_score(sets.labels.numpy(), detector.decision_function(sets.images)))
            for name, sets in validation.items()}
    rows = []
    for protocol, sets in eval_sets.items():
        chosen = perturbations if protocol == next(iter(eval_sets)) else ("none",)
        rows += [{**row, "protocol": protocol} for row in evaluate(detector, sets, chosen, seed)]
    points = {}
    if curve is not None:
        full = next(row for row in rows if row["eval_set"] == generator and row["perturbation"] == "none")
        points["learning_curve"] = curve({"row": full, "training": detector.training})
    if distributed.is_main():
        write_evaluation(files, detector.name, generator, rows, {
            "threshold": detector.threshold, "calibration": list(detector.calibration),
            "detector_config": detector.options(), "training_seed": detector.config.weights_seed,
            "training": detector.training, "validation_auc": float(np.mean(list(aucs.values()))),
            "validation_aucs": aucs, "protocols": {"detection": detector.protocol},
            "parameters": sum(parameter.numel() for parameter in detector.network.parameters()), **points, **context})
    return DetectResult(detector.name, generator, files, rows)


def _curve(files: DetectorFiles, make, options: dict, train_set: LabelledImages, val_set: LabelledImages,
           sets: DetectionSets, generator: str, fractions: tuple[float, ...], seed: int, full: dict) -> list[dict]:
    """The learning curve of one detector on its generator's held-out set under the headline protocol."""
    headline = next(iter(sets.eval_sets))
    return learning_curve(files, make, train_set, val_set, {generator: sets.eval_sets[headline][generator]}, full,
                          fractions, seed, {"protocol": headline, **options})


def _baseline_into(run: RunDir, kind: str, generator: str, sets: DetectionSets, context: dict,
                   config: DetectorConfig) -> DetectResult:
    """Fit one trivial-statistics baseline per protocol on that protocol's images and evaluate it on clean ones.

    Its training images go once through the networks' augmentation (``config``), so that a baseline and a network
    are compared on the same distribution of training images; validation stays clean, as the networks' does.
    """
    rows, seed = [], config.seed
    for protocol, eval_sets in sets.eval_sets.items():
        train_set, val_set = sets.baseline_training(protocol, generator)
        images = augment(train_set.images, config, torch.Generator().manual_seed(seed))
        baseline = StatisticsBaseline(kind, seed).fit(images, train_set.labels, val_set.images, val_set.labels)
        files = run.detector(baseline.name.replace(":", "-"), generator)
        if distributed.is_main():
            baseline.save(files.baseline(protocol))
        rows += [{**row, "protocol": protocol} for row in evaluate(baseline, eval_sets, ("none",), seed)]
    if distributed.is_main():
        write_evaluation(files, baseline.name, generator, rows, {
            "baseline": baseline.options(), "detector_config": {"augment": config.augment, "flip": config.flip},
            "protocols": {"detection": PROTOCOLS["detection"]},  # refitted on every call
            **context})
    return DetectResult(baseline.name, generator, files, rows)


def write_summary(run: RunDir) -> Path:
    """``detectors/eval.csv``: every detector's rows in one flat table."""
    frames = [pd.read_csv(files.evaluation_table) for files in run.detectors()]
    return write_csv(run.detection_table, pd.concat(frames, ignore_index=True))
