"""Detection metrics from labels (1 = fake, 0 = real) and scores P(fake), computed with scikit-learn.

Threshold-free numbers (ROC AUC, average precision, EER) say how well a detector ranks fakes above reals;
the accuracies say how well it does at one threshold, which should be chosen on the validation split
(:func:`threshold_at_eer`), never on the test split. Real and fake accuracy are reported apart because
a detector that calls everything fake has 50% accuracy on a balanced set and 0% on the reals.

Conventions: an image is called fake when its score is >= the threshold (as in ``sklearn.metrics.roc_curve``).
The equal error rate (EER) is where the false positive rate (reals called fake) equals the false negative
rate (fakes called real). The ROC curve from ``roc_curve`` (all points kept) is a list of points; FPR - FNR
rises along it from -1 to 1. Where a point has FPR = FNR exactly, that is the EER and its threshold the
EER threshold. Otherwise the EER is read off the straight line between the last point with FPR < FNR and
the first with FPR > FNR, at the fraction t where the two rates meet, and the EER threshold is the same
fraction t of the way between those two points' thresholds (it then lies between two adjacent scores, so on
the data it was picked from it classifies like the first of the two points). When the first point is
scikit-learn's "call nothing fake" point (threshold +inf), the second point's threshold is used.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from benchmark.errors import DeepbenchError


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores as 1-D numpy arrays, or an error that names what is wrong with them."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.ndim != 1:
        raise DeepbenchError(f"labels and scores must be 1-D, got shapes {labels.shape} and {scores.shape}")
    if len(labels) == 0:
        raise DeepbenchError("no labels and scores; detection metrics need both real and fake images")
    if len(labels) != len(scores):
        raise DeepbenchError(f"{len(labels)} labels but {len(scores)} scores; pass one score per image")
    if not np.isin(labels, (0, 1)).all():
        raise DeepbenchError(f"labels must be 0 (real) or 1 (fake), got {sorted(set(labels.tolist()))[:5]}")
    labels = labels.astype(np.int64)
    if np.isnan(scores).any():
        raise DeepbenchError(f"{int(np.isnan(scores).sum())} of {len(scores)} scores are NaN; "
                             f"the detector diverged or was fed bad images")
    if ((scores < 0) | (scores > 1)).any():
        raise DeepbenchError(f"scores must be probabilities P(fake) in [0, 1], got {scores.min():g} to "
                             f"{scores.max():g}; apply a sigmoid to logits")
    n_fake = int(labels.sum())
    if n_fake == 0 or n_fake == len(labels):
        kind = "no" if n_fake == 0 else "only"
        raise DeepbenchError(f"{len(labels)} images with {kind} fakes; detection metrics need both real and fake "
                             f"images")
    return labels, scores


def _eer(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """EER and its threshold, by the convention in the module docstring."""
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    gap = fpr - (1 - tpr)  # FPR - FNR: -1 at the first point, 1 at the last, never falling
    after = int(np.argmax(gap >= 0))
    if gap[after] == 0:
        return float(fpr[after]), float(thresholds[after])
    before = after - 1
    t = -gap[before] / (gap[after] - gap[before])
    eer = fpr[before] + t * (fpr[after] - fpr[before])
    if np.isinf(thresholds[before]):
        return float(eer), float(thresholds[after])
    return float(eer), float(thresholds[before] + t * (thresholds[after] - thresholds[before]))


def threshold_at_eer(labels, scores) -> float:
    """The score threshold at the equal error rate: pick it on the validation split, use it on the test split."""
    return _eer(*_check(labels, scores))[1]


def detection_metrics(labels, scores, threshold: float = 0.5) -> dict[str, float | int]:
    """Accuracy at ``threshold``, balanced, real and fake accuracy, ROC AUC (``auc``), average precision, EER, counts.

    ``labels`` are 1 for fake and 0 for real, ``scores`` are P(fake); an image is called fake when its score
    is >= ``threshold``. Average precision treats fake as the positive class. All values are plain Python
    numbers, ready for JSON.
    """
    labels, scores = _check(labels, scores)
    if not np.isfinite(threshold):
        raise DeepbenchError(f"threshold {threshold!r} is not a finite number")
    called = (scores >= threshold).astype(np.int64)
    eer, eer_threshold = _eer(labels, scores)
    return {
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(labels, called)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, called)),
        "real_accuracy": float(recall_score(labels, called, pos_label=0)),  # true negative rate
        "fake_accuracy": float(recall_score(labels, called, pos_label=1)),  # true positive rate
        "auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "n_real": int((labels == 0).sum()),
        "n_fake": int((labels == 1).sum()),
    }


def roc_points(labels, scores, max_points: int = 200) -> dict[str, list[float]]:
    """The ROC curve (``fpr``, ``tpr``) for plotting, kept small for JSON.

    ``roc_curve`` drops the points a straight line would pass through anyway; if more than ``max_points``
    remain, the true positive rate is read at evenly spaced false positive rates (step interpolation, so
    the curve is never drawn above what the detector reached).
    """
    fpr, tpr, _ = roc_curve(*_check(labels, scores), drop_intermediate=True)
    if len(fpr) > max_points:
        grid = np.linspace(0.0, 1.0, max_points)
        tpr = tpr[np.searchsorted(fpr, grid, side="right") - 1]
        fpr = grid
    return {"fpr": [round(float(x), 6) for x in fpr], "tpr": [round(float(y), 6) for y in tpr]}
