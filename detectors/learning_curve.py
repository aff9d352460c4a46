"""Learning curves: a detector's held-out AUC against the number of fakes it was trained on.

A detector's AUC means something about a generator only at the detector's plateau: below it, more training
fakes would raise it, and the figure measures the training set's size rather than the generator. The curve
trains the same detector (same options, same training seed, same validation split and stopping rule) on
nested subsets of its training set, the first 12.5%, 25%, 50% of one seeded order of the fakes and as many of
the reals, and scores each on the same held-out set as the detector trained on all of them. When the last
doubling still gains more than ``PLATEAU_GAIN`` AUC, more fakes would change the answer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from benchmark import distributed
from benchmark.errors import DeepbenchError
from benchmark.files import read_json, write_json
from benchmark.rundir import DetectorFiles
from detectors.evaluate import evaluate
from detectors.sets import FAKE, LabelledImages

KIND = "learning-curve"
PLATEAU_GAIN = 0.01  # AUC gained by the last doubling above which the detector is still short of its plateau


def parse_fractions(text: str | None, option: str) -> tuple[float, ...]:
    """``0.125,0.25,0.5`` as a tuple of shares of the training set, each in (0, 1); None or empty as ``()``."""
    if not text:
        return ()
    try:
        fractions = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise DeepbenchError(f"{option} takes shares of the training fakes separated by commas (e.g. "
                             f"0.125,0.25,0.5), got {text!r}") from None
    return check_fractions(fractions, option)


def check_fractions(fractions, option: str) -> tuple[float, ...]:
    """Sorted shares, each strictly between 0 and 1 (the whole set is the detector itself), or a one-line error."""
    if not isinstance(fractions, list | tuple) or len(set(fractions)) != len(fractions) or not all(
            isinstance(f, int | float) and 0 < f < 1 for f in fractions):
        raise DeepbenchError(f"{option} takes distinct shares between 0 and 1 (the whole training set is the "
                             f"detector itself), got {fractions!r}")
    return tuple(sorted(float(f) for f in fractions))


def nested_subset(train: LabelledImages, fraction: float, seed: int) -> LabelledImages:
    """The first ``fraction`` of the fakes and of the reals, each in one seeded order: a larger fraction holds
    every image of a smaller one, so the curve adds images rather than swapping them."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 3))
    fakes, reals = order[train.labels[order] == FAKE], order[train.labels[order] != FAKE]
    chosen = torch.cat([fakes[:max(1, round(fraction * len(fakes)))], reals[:max(1, round(fraction * len(reals)))]])
    return LabelledImages(train.images[chosen], train.labels[chosen])


def last_doubling_gain(points: list[dict]) -> float | None:
    """AUC gained from the second-largest training set to the largest; None for a curve of fewer than 2 points."""
    if len(points) < 2:
        return None
    return points[-1]["auc"] - points[-2]["auc"]


def learning_curve(files: DetectorFiles, make_detector: Callable[[], object], train: LabelledImages,
                   val: LabelledImages, held_out: dict[str, LabelledImages], full: dict, fractions: tuple[float, ...],
                   seed: int, options: dict) -> list[dict]:
    """The curve's points, smallest training set first, ending with ``full`` (the detector trained on all of
    ``train``, as its in-distribution evaluation row). Each subset's detector comes from ``make_detector`` and is
    fitted on the subset and ``val``; only its AUC on ``held_out`` (one named set) is kept.

    The points are cached in ``files.learning_curve`` with ``options``; a later call with the same options
    (``--resume``) reads them instead of training again. Under torchrun every rank trains each subset's detector
    together, and rank 0 writes.
    """
    wanted = {"fractions": list(fractions), **options}
    if files.learning_curve.is_file():
        cached = read_json(files.learning_curve, KIND)
        if cached["options"] == wanted:
            return cached["points"]
    points = []
    for fraction in fractions:
        subset = nested_subset(train, fraction, seed)
        detector = make_detector()
        detector.fit(subset.images, subset.labels, val.images, val.labels)
        row = evaluate(detector, held_out, ("none",), seed)[0]
        points.append(_point(fraction, subset, row, detector.training))
    points.append(_point(1.0, train, full["row"], full["training"]))
    if distributed.is_main():
        write_json(files.learning_curve, {"options": wanted, "points": points}, KIND)
    return points


def _point(fraction: float, subset: LabelledImages, row: dict, training: dict) -> dict:
    return {"fraction": fraction, "train_fakes": int((subset.labels == FAKE).sum()), "auc": row["auc"],
            "auc_ci": row.get("auc_ci"), "ended": training.get("ended"), "epochs": training.get("epochs")}

