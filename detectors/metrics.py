"""Detection metrics from labels (1 = fake, 0 = real) and real-valued scores, computed with scikit-learn.

Scores are the detector's decision values (logits: higher means more fake), not probabilities: a float64
sigmoid rounds every logit above about 36.7 to exactly 1.0, so ranking on probabilities turns a confident
detector's scores into ties and its AUC into 0.5. Probabilities (calibrated on the validation split) are
passed apart, for the accuracy at P(fake) = 0.5 and the expected calibration error.

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
import scipy.stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from benchmark.errors import DeepbenchError

BOOTSTRAP = 200  # resamples for the 95% intervals: enough for stable 2.5/97.5 percentiles at two decimals
ECE_BINS = 15  # the usual count since Guo et al. 2017


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
    if not np.isfinite(scores).all():
        raise DeepbenchError(f"{int((~np.isfinite(scores)).sum())} of {len(scores)} scores are infinite; "
                             f"pass logits rather than saturated probabilities")
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


def calibrated(logits, calibration: tuple[float, float]) -> np.ndarray:
    """P(fake) = sigmoid(slope * logit + intercept): Platt scaling with the (slope, intercept) fitted on validation."""
    slope, intercept = calibration
    return 1 / (1 + np.exp(-(slope * np.asarray(logits, dtype=np.float64) + intercept)))


def resolvable(labels: np.ndarray, fpr_limit: float) -> bool:
    """Whether there are enough reals (at least ``1 / fpr_limit``) for a false positive rate of ``fpr_limit``."""
    return (labels == 0).sum() * fpr_limit >= 1


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_limit: float) -> float | None:
    """The highest true positive rate at a threshold whose false positive rate is at most ``fpr_limit``.

    None when there are fewer than ``1 / fpr_limit`` reals: with 400 reals, "FPR 0.001" can only mean FPR 0,
    and the figure would claim a resolution the sample does not have.
    """
    if not resolvable(labels, fpr_limit):
        return None
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(tpr[fpr <= fpr_limit].max())


def expected_calibration_error(labels, probabilities, bins: int = ECE_BINS) -> float:
    """ECE of P(fake): over ``bins`` equal-width bins of the probability, the count-weighted mean of
    |fraction of fakes - mean P(fake)|, the gap a reliability diagram shows (Naeini et al. 2015, Guo et al. 2017).
    """
    labels, probabilities = np.asarray(labels, dtype=np.float64), np.asarray(probabilities, dtype=np.float64)
    if ((probabilities < 0) | (probabilities > 1)).any():
        raise DeepbenchError("calibration needs probabilities in [0, 1]; pass the detector's predict_proba")
    which = np.minimum((probabilities * bins).astype(np.int64), bins - 1)
    counts = np.bincount(which, minlength=bins)
    gaps = np.abs(np.bincount(which, labels, bins) - np.bincount(which, probabilities, bins))
    return float(gaps.sum() / counts.sum())


def bootstrap_weights(labels: np.ndarray, resamples: int, seed: int = 0) -> np.ndarray:
    """(resamples, N) multiplicities of a stratified bootstrap: reals and fakes are each resampled with
    replacement to their own count (a multinomial draw, the same distribution as drawing indices), so that every
    resample keeps the set's counts and both classes. Seeded: the same call gives the same resamples."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((resamples, len(labels)))
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        weights[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), resamples)
    return weights


def weighted_detection_statistics(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, threshold: float,
                                  fpr_limit: float = 0.01) -> dict[str, np.ndarray]:
    """AUC, accuracy at ``threshold`` and TPR at ``fpr_limit`` for each row of ``weights`` at once.

    Equal to scikit-learn's ``roc_auc_score``, ``accuracy_score`` and ``roc_curve`` with ``sample_weight`` (a
    test holds them to it), but vectorised over resamples: 200 resamples of 4,000 scores take milliseconds
    where 600 scikit-learn calls take seconds. Scores are grouped by value, so ties count half in the AUC and
    a threshold never splits a tie.
    """
    values, group = np.unique(scores, return_inverse=True)  # groups in ascending score order
    real_weights, fake_weights = weights * (labels == 0), weights * (labels == 1)
    n_real, n_fake = real_weights.sum(1), fake_weights.sum(1)
    real_per_group = np.zeros((len(weights), len(values)))
    fake_per_group = np.zeros((len(weights), len(values)))
    np.add.at(real_per_group.T, group, real_weights.T)
    np.add.at(fake_per_group.T, group, fake_weights.T)
    reals_below = np.cumsum(real_per_group, 1) - real_per_group
    auc = (fake_per_group * (reals_below + real_per_group / 2)).sum(1) / (n_real * n_fake)
    called = scores >= threshold
    accuracy = (real_weights @ ~called + fake_weights @ called) / weights.sum(1)
    reals_at_or_above = np.cumsum(real_per_group[:, ::-1], 1) / n_real[:, None]  # descending thresholds
    fakes_at_or_above = np.cumsum(fake_per_group[:, ::-1], 1) / n_fake[:, None]
    allowed = (reals_at_or_above <= fpr_limit + 1e-12).sum(1)  # FPR only grows as the threshold falls
    tpr = np.where(allowed > 0, fakes_at_or_above[np.arange(len(weights)), np.maximum(allowed - 1, 0)], 0.0)
    return {"auc": auc, "accuracy": accuracy, f"tpr_at_fpr_{fpr_limit}": tpr}


def bootstrap_intervals(labels: np.ndarray, scores: np.ndarray, threshold: float, resamples: int = BOOTSTRAP,
                        seed: int = 0, level: float = 0.95) -> dict[str, list[float] | None]:
    """95% percentile bootstrap intervals of AUC, accuracy at ``threshold`` and TPR at FPR 1% over images.

    The TPR's interval is None when there are too few reals for an FPR of 1% (see :func:`tpr_at_fpr`).
    """
    statistics = weighted_detection_statistics(labels, scores, bootstrap_weights(labels, resamples, seed), threshold)
    tail = 100 * (1 - level) / 2
    intervals = {f"{name}_ci": [float(np.percentile(drawn, tail)), float(np.percentile(drawn, 100 - tail))]
                 for name, drawn in statistics.items()}
    if not resolvable(labels, 0.01):
        intervals["tpr_at_fpr_0.01_ci"] = None
    return intervals


def detection_metrics(labels, scores, threshold: float = 0.0, probabilities=None, bootstrap: int = 0,
                      seed: int = 0) -> dict[str, float | int | list | None]:
    """Threshold-free and thresholded detection metrics, with bootstrap intervals when ``bootstrap`` > 0.

    ``labels`` are 1 for fake and 0 for real; ``scores`` are decision values (higher = more fake) and an image
    is called fake when its score is >= ``threshold`` (the validation split's, on the same scale). Returns
    accuracy, balanced, real and fake accuracy at that threshold, ROC AUC (``auc``), average precision (fake
    is the positive class), EER, TPR at FPR 1% and 0.1%, and the counts. With ``probabilities`` (P(fake),
    calibrated) also the accuracy at P = 0.5 and the expected calibration error ``ece``. With ``bootstrap``
    resamples, ``auc_ci``, ``accuracy_ci`` and ``tpr_at_fpr_0.01_ci`` as 95% [low, high]. All values are
    plain Python numbers, ready for JSON.
    """
    labels, scores = _check(labels, scores)
    if not np.isfinite(threshold):
        raise DeepbenchError(f"threshold {threshold!r} is not a finite number")
    called = (scores >= threshold).astype(np.int64)
    eer, eer_threshold = _eer(labels, scores)
    metrics = {
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(labels, called)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, called)),
        "real_accuracy": float(recall_score(labels, called, pos_label=0)),  # true negative rate
        "fake_accuracy": float(recall_score(labels, called, pos_label=1)),  # true positive rate
        "auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "tpr_at_fpr_0.01": tpr_at_fpr(labels, scores, 0.01),
        "tpr_at_fpr_0.001": tpr_at_fpr(labels, scores, 0.001),
        "n_real": int((labels == 0).sum()),
        "n_fake": int((labels == 1).sum()),
    }
    if probabilities is not None:
        probabilities = _check(labels, probabilities)[1]
        metrics["accuracy_at_0.5"] = float(accuracy_score(labels, probabilities >= 0.5))
        metrics["ece"] = expected_calibration_error(labels, probabilities)
    if bootstrap:
        metrics.update(bootstrap_intervals(labels, scores, threshold, bootstrap, seed))
        metrics["bootstrap"] = bootstrap
    return metrics


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


def seed_interval(values, confidence: float = 0.95) -> tuple[float, float, float] | None:
    """Mean of one figure over training seeds and its ``confidence`` interval, Student's t with n - 1 degrees of
    freedom: mean +- t * sd / sqrt(n), sd with Bessel's correction. None for fewer than two seeds.

    This interval, not the bootstrap's, says whether two detectors or generators differ: the bootstrap resamples
    the test images of one trained detector, while retraining with another seed moves the figure as well.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return None
    mean, spread = float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * spread
    return mean, mean - half, mean + half
