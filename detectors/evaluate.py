"""Evaluation of one trained detector on every held-out set, clean and under each perturbation.

Rows are (detector, train generator, eval set, perturbation) with scikit-learn's metrics on the logits: the
accuracy at the validation threshold (``accuracy``), at calibrated P(fake) = 0.5 (``accuracy_at_0.5``), ROC
AUC, AP, EER, TPR at FPR 1% and 0.1%, the calibration error, 95% bootstrap intervals (``*_ci``), and the ROC
curve's points (``roc``); ``eval.json`` holds them with the threshold, the splits and the format matching
used, ``eval.csv`` the rows flat without curves.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.files import write_csv, write_json
from benchmark.rundir import DetectorFiles
from detectors.metrics import BOOTSTRAP, calibrated, detection_metrics, roc_points
from detectors.perturb import PERTURBATIONS, perturb
from detectors.sets import LabelledImages


def evaluate(detector, eval_sets: dict[str, LabelledImages], perturbations=PERTURBATIONS, seed: int = 0,
             bootstrap: int = BOOTSTRAP) -> list[dict]:
    """Metrics of ``detector`` on each set under each perturbation (applied to reals and fakes alike).

    ``detector`` is a :class:`~detectors.detector.Detector` or anything with its ``decision_function``,
    ``threshold`` and ``calibration`` (the trivial-statistics baselines).
    """
    rows = []
    for set_index, (name, data) in enumerate(eval_sets.items()):
        for perturbation_index, perturbation in enumerate(perturbations):
            images = perturb(data.images, perturbation, seed=seed + 1000 * set_index + perturbation_index)
            logits = detector.decision_function(images)
            labels = data.labels.numpy()
            metrics = detection_metrics(labels, logits, detector.threshold,
                                        calibrated(logits, detector.calibration), bootstrap, seed)
            rows.append({"eval_set": name, "perturbation": perturbation, **metrics,
                         "roc": roc_points(labels, logits)})
    return rows


def write_evaluation(files: DetectorFiles, detector: str, train_generator: str, rows: list[dict],
                     context: dict) -> Path:
    """``eval.json`` (the rows with their context: threshold, splits, format matching) and ``eval.csv``."""
    path = files.evaluation
    write_json(path, {"detector": detector, "train_generator": train_generator, **context, "results": rows}, "eval")
    seed = {"training_seed": context["training_seed"]} if "training_seed" in context else {}
    flat = pd.DataFrame([{"detector": detector, "train_generator": train_generator, **seed, **row} for row in rows])
    flat = flat.drop(columns="roc", errors="ignore")  # curves stay in the JSON
    write_csv(files.evaluation_table, flat)
    return path
