"""The learning curve: nested subsets, AUC rising towards a known Bayes rate, cached, and its verdict."""

import math

import pytest
import torch
from scipy.stats import norm

from benchmark.errors import DeepbenchError
from benchmark.rundir import DetectorFiles
from detectors.detector import Detector, DetectorConfig
from detectors.evaluate import evaluate
from detectors.learning_curve import last_doubling_gain, learning_curve, nested_subset, parse_fractions
from detectors.sets import LabelledImages

SIZE, SHIFT, NOISE = 8, 4.0, 24.0  # 8x8 images; fakes 4 gray levels brighter under noise of std 24


def brightness_task(count: int, seed: int) -> LabelledImages:
    """Reals and fakes of i.i.d. Gaussian pixels whose means differ by SHIFT: the best possible statistic is the
    image mean, so the Bayes AUC is Phi(SHIFT * sqrt(pixels / 2) / NOISE) (0.827 here)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    pixels = 128 + NOISE * torch.randn(count, 1, SIZE, SIZE, generator=generator) + SHIFT * labels[:, None, None, None]
    return LabelledImages(pixels.round().clamp(0, 255).to(torch.uint8), labels)


BAYES_AUC = norm.cdf(SHIFT * math.sqrt(SIZE * SIZE / 2) / NOISE)


def test_the_curve_rises_towards_the_bayes_rate_and_stops_below_it(tmp_path):
    train, val, test = brightness_task(2048, 0), brightness_task(512, 1), brightness_task(4000, 2)
    config = DetectorConfig(batch_size=64, lr=3e-3, augment="none", width=8, epochs=30, patience=3)

    def make():
        return Detector("cnn", 1, SIZE, config)

    full = make().fit(train.images, train.labels, val.images, val.labels, progress=False)
    row = evaluate(full, {"own": test}, ("none",), 0)[0]
    points = learning_curve(DetectorFiles(tmp_path), make, train, val, {"own": test},
                            {"row": row, "training": full.training}, (1 / 16, 1 / 4), seed=0, options={"a": 1})
    aucs = [point["auc"] for point in points]
    assert [point["train_fakes"] for point in points] == [64, 256, 1024]
    assert aucs[0] < aucs[1] < aucs[2] <= BAYES_AUC + 0.02, (aucs, BAYES_AUC)
    assert aucs[2] > BAYES_AUC - 0.05 and aucs[2] - aucs[0] > 0.05, (aucs, BAYES_AUC)
    assert last_doubling_gain(points) == pytest.approx(aucs[2] - aucs[1])
    # cached: the same options read the file instead of training again
    assert learning_curve(DetectorFiles(tmp_path), None, train, val, {"own": test}, {}, (1 / 16, 1 / 4), seed=0,
                          options={"a": 1}) == points


def test_subsets_are_nested_and_balanced():
    train = brightness_task(400, 0)
    small, large = nested_subset(train, 0.25, 0), nested_subset(train, 0.5, 0)
    assert (small.labels == 1).sum() == (small.labels == 0).sum() == 50 and len(large) == 200
    rows = {tuple(image.flatten().tolist()) for image in large.images}
    assert all(tuple(image.flatten().tolist()) in rows for image in small.images)


def test_fractions_are_checked():
    assert parse_fractions("0.5,0.125,0.25", "--learning-curve") == (0.125, 0.25, 0.5)
    assert parse_fractions(None, "--learning-curve") == ()
    for bad in ("0.5,1", "0,0.5", "half", "0.5,0.5"):
        with pytest.raises(DeepbenchError, match="--learning-curve takes"):
            parse_fractions(bad, "--learning-curve")
