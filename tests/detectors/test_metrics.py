"""Every detection metric equals its hand-computed value on small fixed score vectors, and bad input is refused.

Hand computations walk the ROC points (threshold, FPR, FNR) from the highest score down; an image is called
fake when its score is >= the threshold.
"""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, roc_auc_score, roc_curve

from benchmark.errors import DeepbenchError
from detectors.metrics import (
    bootstrap_intervals,
    bootstrap_weights,
    calibrated,
    detection_metrics,
    expected_calibration_error,
    threshold_at_eer,
    tpr_at_fpr,
    weighted_detection_statistics,
)

KEYS = {"threshold", "accuracy", "balanced_accuracy", "real_accuracy", "fake_accuracy", "auc", "average_precision",
        "eer", "eer_threshold", "tpr_at_fpr_0.01", "tpr_at_fpr_0.001", "n_real", "n_fake"}


def test_every_value_by_hand():
    # reals 0.1, 0.4; fakes 0.35, 0.8. Pairs fake > real: (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4) -> AUC 3/4.
    # AP: at 0.8 precision 1, recall 1/2; at 0.35 precision 2/3, recall 1 -> 1/2 * 1 + 1/2 * 2/3 = 5/6.
    # At 0.5 only 0.8 is called fake: both reals right, one fake of two -> accuracy 3/4.
    # ROC: inf (0, 1), 0.8 (0, 1/2), 0.4 (1/2, 1/2) -> FPR = FNR exactly at threshold 0.4.
    metrics = detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.5)
    assert set(metrics) == KEYS
    assert metrics == pytest.approx({
        "threshold": 0.5, "accuracy": 0.75, "balanced_accuracy": 0.75, "real_accuracy": 1.0, "fake_accuracy": 0.5,
        "auc": 0.75, "average_precision": 5 / 6, "eer": 0.5, "eer_threshold": 0.4, "n_real": 2, "n_fake": 2,
        "tpr_at_fpr_0.01": None, "tpr_at_fpr_0.001": None})  # 2 reals cannot resolve an FPR of 1%
    assert isinstance(metrics["n_real"], int) and isinstance(metrics["auc"], float)  # plain numbers for JSON


def test_threshold_is_inclusive_and_changes_the_accuracies():
    metrics = detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.35)
    # called fake: 0.4 (a real), 0.35 and 0.8 (both fakes)
    assert metrics["real_accuracy"] == 0.5 and metrics["fake_accuracy"] == 1.0
    assert metrics["accuracy"] == 0.75 and metrics["balanced_accuracy"] == 0.75
    assert metrics["auc"] == 0.75  # threshold-free numbers do not move


def test_eer_interpolated_where_only_fnr_jumps():
    # reals 0.1, 0.2, 0.6; fakes 0.5, 0.9. ROC (threshold, FPR, FNR): 0.9 (0, 1/2), 0.6 (1/3, 1/2), 0.5 (1/3, 0).
    # FPR - FNR goes -1/6 -> 1/3 between 0.6 and 0.5, so t = (1/6) / (1/2) = 1/3:
    # EER = 1/3, threshold = 0.6 + (0.5 - 0.6) / 3.
    labels, scores = [0, 0, 0, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.9]
    metrics = detection_metrics(labels, scores, threshold=0.5)
    assert metrics["eer"] == pytest.approx(1 / 3)
    assert metrics["eer_threshold"] == pytest.approx(0.6 - 0.1 / 3)
    assert threshold_at_eer(labels, scores) == metrics["eer_threshold"]
    # at 0.5: reals 0.1, 0.2 right, 0.6 wrong; fakes both right
    assert metrics["accuracy"] == pytest.approx(0.8) and metrics["real_accuracy"] == pytest.approx(2 / 3)
    assert metrics["balanced_accuracy"] == pytest.approx(5 / 6)
    assert metrics["auc"] == pytest.approx(5 / 6)  # fake > real in 5 of 6 pairs (0.5 < 0.6)
    assert metrics["average_precision"] == pytest.approx(1 / 2 * 1 + 1 / 2 * 2 / 3)  # 0.9: P 1, R 1/2; 0.5: P 2/3


def test_eer_interpolated_where_both_rates_move():
    # reals 0.2, 0.6; fakes 0.6, 0.9 (a tie). ROC: 0.9 (FPR 0, FNR 1/2), 0.6 (FPR 1/2, FNR 0).
    # FPR - FNR goes -1/2 -> 1/2, t = 1/2: EER = 1/4, threshold halfway between 0.9 and 0.6.
    metrics = detection_metrics([0, 0, 1, 1], [0.2, 0.6, 0.6, 0.9])
    assert metrics["eer"] == pytest.approx(0.25)
    assert metrics["eer_threshold"] == pytest.approx(0.75)


def test_all_tied_scores_use_the_first_finite_threshold():
    # one ROC segment from "nothing fake" (threshold inf) to "everything fake" (0.5): EER 1/2 at threshold 0.5
    metrics = detection_metrics([0, 1], [0.5, 0.5])
    assert metrics["eer"] == 0.5 and metrics["eer_threshold"] == 0.5 and metrics["auc"] == 0.5


def test_perfect_and_inverted_scores():
    perfect = detection_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], threshold=0.5)
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["average_precision"] == 1.0
    assert perfect["accuracy"] == 1.0 and perfect["eer_threshold"] == 0.8
    inverted = detection_metrics([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], threshold=0.5)
    assert inverted["auc"] == 0.0 and inverted["eer"] == 1.0 and inverted["accuracy"] == 0.0


def test_accepts_numpy_and_torch_inputs():
    expected = detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert detection_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8], dtype=np.float32)) == \
        pytest.approx(expected)
    assert detection_metrics(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8])) == \
        pytest.approx(expected)


@pytest.mark.parametrize(("labels", "scores", "message"), [
    ([0, 0], [0.1, 0.2], "no fakes"),
    ([1, 1, 1], [0.1, 0.2, 0.3], "only fakes"),
    ([0, 1], [0.1, float("nan")], "NaN"),
    ([0, 1, 1], [0.1, 0.2], "3 labels but 2 scores"),
    ([0, 2], [0.1, 0.2], "0 \\(real\\) or 1 \\(fake\\)"),
    ([0, 1], [-0.5, float("inf")], "infinite"),
    ([], [], "no labels"),
    ([[0, 1]], [[0.1, 0.2]], "1-D"),
])
def test_degenerate_inputs_are_errors(labels, scores, message):
    with pytest.raises(DeepbenchError, match=message):
        detection_metrics(labels, scores)
    with pytest.raises(DeepbenchError, match=message):
        threshold_at_eer(labels, scores)


def test_logits_of_any_size_rank_without_ties():
    """Scores are logits: 40 and 41 stay apart (as float64 probabilities both are exactly 1.0)."""
    logits = np.array([-50.0, 40.0, 41.0, 60.0])
    metrics = detection_metrics([0, 0, 1, 1], logits)
    assert metrics["auc"] == 1.0 and metrics["threshold"] == 0.0
    assert metrics["real_accuracy"] == 0.5 and metrics["fake_accuracy"] == 1.0
    probabilities = 1 / (1 + np.exp(-logits))  # 0, 1, 1, 1: the real at 40 ties with both fakes
    assert detection_metrics([0, 0, 1, 1], probabilities)["auc"] == 0.75


def test_tpr_at_low_fpr_by_hand():
    # 100 reals at 0..99, fakes at 97.5, 99.5, 100.5 and 50: FPR 1% allows one real called fake (threshold 99),
    # which calls 99.5 and 100.5 fake: TPR 2/4; FPR 2% allows threshold 97.5 (reals 98, 99), TPR 3/4.
    # FPR 0.1% needs 1,000 reals: None.
    labels = [0] * 100 + [1] * 4
    scores = list(range(100)) + [97.5, 99.5, 100.5, 50.0]
    metrics = detection_metrics(labels, scores)
    assert metrics["tpr_at_fpr_0.01"] == 0.5 and metrics["tpr_at_fpr_0.001"] is None
    assert tpr_at_fpr(np.array(labels), np.array(scores, dtype=float), 0.02) == 0.75  # two reals: 98.5 too


def test_expected_calibration_error_by_hand():
    # bins of width 1/15: P 0.1 (bin 1) holds labels 0, 0 -> gap |0 - 0.1|; P 0.9 (bin 13) holds 1, 0 -> |0.5 - 0.9|
    ece = expected_calibration_error([0, 0, 1, 0], [0.1, 0.1, 0.9, 0.9])
    assert ece == pytest.approx((2 * 0.1 + 2 * 0.4) / 4)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0  # P = 1 falls in the last bin, not past it
    metrics = detection_metrics([0, 0, 1, 0], [-2.0, -2.0, 2.0, 2.0], probabilities=[0.1, 0.1, 0.9, 0.9])
    assert metrics["ece"] == pytest.approx(ece) and metrics["accuracy_at_0.5"] == 0.75


def test_calibrated_probabilities_follow_platt_scaling():
    np.testing.assert_allclose(calibrated([0.0, 1.0, -3.0], (2.0, 1.0)), 1 / (1 + np.exp(-np.array([1.0, 3.0, -5.0]))))


def overlapping_scores(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], count)
    return labels, rng.normal(labels * 1.0, 1.0)


def test_bootstrap_intervals_contain_the_estimate_and_shrink_with_more_samples():
    widths = []
    for count in (100, 1600):
        labels, scores = overlapping_scores(count)
        metrics = detection_metrics(labels, scores, bootstrap=200, seed=0)
        for name in ("auc", "accuracy", "tpr_at_fpr_0.01"):
            low, high = metrics[f"{name}_ci"]
            assert low <= metrics[name] <= high, (name, metrics)
        widths.append(metrics["auc_ci"][1] - metrics["auc_ci"][0])
        assert metrics["bootstrap"] == 200
    assert widths[1] < widths[0] / 2.5  # 16 times the samples: about a quarter of the width
    again = detection_metrics(*overlapping_scores(100), bootstrap=200, seed=0)
    assert again["auc_ci"] == detection_metrics(*overlapping_scores(100), bootstrap=200, seed=0)["auc_ci"]


@pytest.mark.parametrize("scores", [np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.35]),
                                    np.round(np.linspace(-3, 3, 8) ** 3, 0)])
def test_vectorised_resample_statistics_equal_scikit_learn_with_sample_weights(scores):
    labels = np.array([0, 0, 1, 1, 1, 0, 0, 1])
    weights = bootstrap_weights(labels, 30, seed=1)
    assert (weights[:, labels == 0].sum(1) == 4).all() and (weights[:, labels == 1].sum(1) == 4).all()
    found = weighted_detection_statistics(labels, scores, weights, 0.35, fpr_limit=0.25)
    for row, weight in enumerate(weights):
        assert found["auc"][row] == pytest.approx(roc_auc_score(labels, scores, sample_weight=weight))
        assert found["accuracy"][row] == pytest.approx(accuracy_score(labels, scores >= 0.35, sample_weight=weight))
        fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weight, drop_intermediate=False)
        assert found["tpr_at_fpr_0.25"][row] == pytest.approx(tpr[fpr <= 0.25 + 1e-12].max())


def test_bootstrap_interval_covers_the_true_auc():
    """Over 40 independent samples, the 95% interval holds the population AUC (Phi(1/sqrt 2)) in most of them."""
    from scipy.stats import norm
    truth = norm.cdf(1 / np.sqrt(2))  # two unit normals one apart
    intervals = [bootstrap_intervals(*overlapping_scores(150, seed), 0.5, 200, seed)["auc_ci"] for seed in range(40)]
    covered = sum(low <= truth <= high for low, high in intervals)
    assert covered >= 34  # 95% of 40 is 38; binomial slack


def test_seed_interval_is_the_t_interval_of_the_mean():
    """Three seeds' AUCs 0.90, 0.92, 0.94: mean 0.92, sd 0.02, standard error 0.02 / sqrt(3) = 0.011547, t(0.975, 2)
    = 4.302653, so the interval is 0.92 +- 0.049683."""
    from detectors.metrics import seed_interval
    mean, low, high = seed_interval([0.90, 0.92, 0.94])
    assert mean == pytest.approx(0.92) and low == pytest.approx(0.870317, abs=1e-6)
    assert high == pytest.approx(0.969683, abs=1e-6)
    assert seed_interval([0.9]) is None
