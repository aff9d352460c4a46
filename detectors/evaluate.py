"""Evaluation of one trained detector on every held-out set, clean and under each perturbation.

Rows are (detector, train generator, eval set, perturbation) with scikit-learn's metrics at the
validation threshold (``accuracy``) and at 0.5 (``accuracy_at_0.5``), and the ROC curve's points (``roc``);
``eval.json`` holds them with the threshold and the format matching used, ``eval.csv`` the rows flat without curves.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.rundir import write_csv, write_json
from detectors.detector import Detector
from detectors.metrics import detection_metrics, roc_points
from detectors.perturb import PERTURBATIONS, perturb
from detectors.sets import LabelledImages


def evaluate(detector: Detector, eval_sets: dict[str, LabelledImages], perturbations=PERTURBATIONS,
             seed: int = 0) -> list[dict]:
    """Metrics of ``detector`` on each set under each perturbation (applied to reals and fakes alike)."""
    rows = []
    for set_index, (name, data) in enumerate(eval_sets.items()):
        for perturbation_index, perturbation in enumerate(perturbations):
            images = perturb(data.images, perturbation, seed=seed + 1000 * set_index + perturbation_index)
            scores = detector.predict_proba(images)
            labels = data.labels.numpy()
            metrics = detection_metrics(labels, scores, detector.threshold)
            metrics["accuracy_at_0.5"] = detection_metrics(labels, scores, 0.5)["accuracy"]
            rows.append({"eval_set": name, "perturbation": perturbation, **metrics,
                         "roc": roc_points(labels, scores)})
    return rows


def write_evaluation(folder: Path, detector: str, train_generator: str, rows: list[dict], threshold: float,
                     format_match: dict) -> Path:
    """``eval.json`` (with its context) and ``eval.csv`` (flat rows) in the detector's folder."""
    write_json(folder / "eval.json", {"detector": detector, "train_generator": train_generator,
                                      "threshold": threshold, "format_match": format_match, "results": rows}, "eval")
    flat = pd.DataFrame([{"detector": detector, "train_generator": train_generator, **row} for row in rows])
    flat = flat.drop(columns="roc", errors="ignore")  # curves stay in the JSON
    write_csv(folder / "eval.csv", flat)
    return folder / "eval.json"
