"""Every detection metric equals its hand-computed value on small fixed score vectors, and bad input is refused.

Hand computations walk the ROC points (threshold, FPR, FNR) from the highest score down; an image is called
fake when its score is >= the threshold.
"""

import numpy as np
import pytest
import torch

from benchmark.errors import DeepbenchError
from detectors.metrics import detection_metrics, threshold_at_eer

KEYS = {"threshold", "accuracy", "balanced_accuracy", "real_accuracy", "fake_accuracy", "auc", "average_precision",
        "eer", "eer_threshold", "n_real", "n_fake"}


def test_every_value_by_hand():
    # reals 0.1, 0.4; fakes 0.35, 0.8. Pairs fake > real: (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4) -> AUC 3/4.
    # AP: at 0.8 precision 1, recall 1/2; at 0.35 precision 2/3, recall 1 -> 1/2 * 1 + 1/2 * 2/3 = 5/6.
    # At 0.5 only 0.8 is called fake: both reals right, one fake of two -> accuracy 3/4.
    # ROC: inf (0, 1), 0.8 (0, 1/2), 0.4 (1/2, 1/2) -> FPR = FNR exactly at threshold 0.4.
    metrics = detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert set(metrics) == KEYS
    assert metrics == pytest.approx({
        "threshold": 0.5, "accuracy": 0.75, "balanced_accuracy": 0.75, "real_accuracy": 1.0, "fake_accuracy": 0.5,
        "auc": 0.75, "average_precision": 5 / 6, "eer": 0.5, "eer_threshold": 0.4, "n_real": 2, "n_fake": 2})
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
    metrics = detection_metrics(labels, scores)
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
    perfect = detection_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect["auc"] == 1.0 and perfect["eer"] == 0.0 and perfect["average_precision"] == 1.0
    assert perfect["accuracy"] == 1.0 and perfect["eer_threshold"] == 0.8
    inverted = detection_metrics([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
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
    ([0, 1], [-0.5, 3.0], "apply a sigmoid"),
    ([], [], "no labels"),
    ([[0, 1]], [[0.1, 0.2]], "1-D"),
])
def test_degenerate_inputs_are_errors(labels, scores, message):
    with pytest.raises(DeepbenchError, match=message):
        detection_metrics(labels, scores)
    with pytest.raises(DeepbenchError, match=message):
        threshold_at_eer(labels, scores)
