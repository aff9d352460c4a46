"""Each shortcut baseline finds the one trivial difference it is built for, and nothing where there is none.

Tiny synthetic sets, each built so that reals and fakes differ in exactly one low-level statistic: exact-zero
backgrounds (histogram), a faint period-2 checkerboard (spectrum), a JPEG history (compression). AUCs are
measured on held-out images, never on those the baseline was fitted or thresholded on.
"""

import numpy as np
import pytest
import torch
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from benchmark.errors import DeepbenchError
from detectors.baselines import BASELINES, StatisticsBaseline, _pipeline, baseline_features
from detectors.perturb import jpeg

pytestmark = pytest.mark.filterwarnings("error::sklearn.exceptions.ConvergenceWarning")  # fits must converge

KINDS = ("histogram", "spectrum", "compression")


def digits(n, size=16, seed=0):
    """Digit-like 1-channel images: up to three bright Gaussian blobs on an exactly-zero background."""
    generator = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(size).double(), torch.arange(size).double(), indexing="ij")
    centres = 3 + (size - 6) * torch.rand(n, 3, 2, generator=generator, dtype=torch.float64)
    widths = 1 + 1.5 * torch.rand(n, 3, generator=generator, dtype=torch.float64)
    distance2 = (y - centres[..., 0, None, None]) ** 2 + (x - centres[..., 1, None, None]) ** 2
    ink = torch.exp(-distance2 / (2 * widths[..., None, None] ** 2)).amax(dim=1)
    return torch.where(ink > 0.3, (255 * ink).round(), 0).to(torch.uint8)[:, None]


def fill_background(images, low, high, probability=1.0, seed=0):
    """``images`` with each zero pixel, with ``probability``, set to a value drawn from ``low`` .. ``high``."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randint(low, high + 1, images.shape, generator=generator, dtype=torch.uint8)
    chosen = (images == 0) & (torch.rand(images.shape, generator=generator) < probability)
    return torch.where(chosen, values, images)


def smooth(n, channels=3, size=32, noise=4.0, seed=0):
    """Photo-like images: random low-frequency shapes (4x4 noise upsampled bicubically) plus pixel noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 4, 4, generator=generator)
    shapes = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    pixels = 40 + 175 * shapes.clamp(0, 1) + noise * torch.randn(n, channels, size, size, generator=generator)
    return pixels.round().clamp(0, 255).to(torch.uint8)


def with_pattern(images, amplitude, checkerboard, seed=0):
    """Add +-``amplitude`` per pixel (alike in every channel): a period-2 checkerboard, or random signs."""
    size = images.shape[-1]
    if checkerboard:
        signs = ((torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2 * 2 - 1).expand(len(images), 1, -1, -1)
    else:
        generator = torch.Generator().manual_seed(seed)
        signs = torch.randint(0, 2, (len(images), 1, size, size), generator=generator) * 2 - 1
    return (images.int() + amplitude * signs).clamp(0, 255).to(torch.uint8)


def split(reals, fakes, sizes):
    """Consecutive (images, labels) splits of ``sizes`` reals and as many fakes each, reals first."""
    splits, start = [], 0
    for size in sizes:
        images = torch.cat([reals[start:start + size], fakes[start:start + size]])
        splits.append((images, torch.cat([torch.zeros(size), torch.ones(size)]).long()))
        start += size
    return splits


def held_out_auc(kind, reals, fakes, sizes=(150, 50, 100)):
    """Fit ``kind`` on the first split, threshold on the second, and return the ROC AUC on the third."""
    (train, train_labels), (val, val_labels), (test, test_labels) = split(reals, fakes, sizes)
    baseline = StatisticsBaseline(kind).fit(train, train_labels, val, val_labels)
    return roc_auc_score(test_labels.numpy(), baseline.decision_function(test))


# --- what each feature is ----------------------------------------------------------------------------------------

def test_feature_shapes_and_values():
    images = smooth(4, channels=3, size=32)
    shapes = {kind: baseline_features(kind, images).shape for kind in KINDS}
    assert shapes == {"histogram": (4, 258), "spectrum": (4, 22), "compression": (4, 5)}
    assert baseline_features("spectrum", digits(2, size=28)).shape == (2, 19)  # radius floor(14 sqrt 2) = 19
    assert set(BASELINES.names()) == set(KINDS) and all(BASELINES.summary(kind) for kind in KINDS)

    histogram = baseline_features("histogram", torch.tensor([0, 0, 255, 7], dtype=torch.uint8).reshape(1, 1, 2, 2))
    assert histogram.dtype == np.float64 and histogram[0, :256].sum() == pytest.approx(1)
    assert histogram[0, [0, 7, 255, 256, 257]].tolist() == [0.5, 0.25, 0.25, 0.5, 0.25]

    board = with_pattern(torch.full((1, 1, 32, 32), 128, dtype=torch.uint8), 50, checkerboard=True)
    assert baseline_features("spectrum", board)[0].argmax() == 21  # all its energy at (16, 16), the last ring

    compression = baseline_features("compression", images)
    assert (compression > 0).all()  # noisy images cost bytes and change under every JPEG quality
    lossy = baseline_features("compression", jpeg(images, 75))
    assert (lossy[:, 2] < compression[:, 2]).all()  # re-encoding at 75 changes a JPEG-75 image least


# --- each baseline finds its shortcut ----------------------------------------------------------------------------

def test_histogram_finds_non_zero_backgrounds_and_nothing_in_one_distribution():
    reals = digits(300, seed=1)
    fakes = fill_background(reals, 1, 6, seed=2)  # the same digits; only the background moved off exact zero
    assert held_out_auc("histogram", reals, fakes) > 0.95
    # reals against reals from another draw: nothing to find, and the held-out AUC must say so
    assert held_out_auc("histogram", digits(300, seed=3), digits(300, seed=4)) == pytest.approx(0.5, abs=0.1)


def test_spectrum_finds_a_faint_checkerboard_that_the_histogram_cannot():
    clean = smooth(600, seed=5)
    fakes = with_pattern(clean[300:], 2, checkerboard=True)  # +-2 of 255: under the pixel noise (std 4)
    reals = with_pattern(clean[:300], 2, checkerboard=False, seed=6)  # the same +-2 with random signs
    assert held_out_auc("spectrum", reals, fakes) > 0.9
    # every pixel moves by +-2 in both sets, so the pixel-value histograms agree: the shortcut is spectral
    assert held_out_auc("histogram", reals, fakes) < 0.75


def test_compression_finds_a_jpeg_history():
    images = smooth(600, noise=8.0, seed=7)
    reals, fakes = images[:300], jpeg(images[300:], 75)  # other images, one JPEG-75 round trip apart
    assert held_out_auc("compression", reals, fakes) > 0.95


# --- the detector's contract -------------------------------------------------------------------------------------

def weak_sets(seed=0):
    """Fakes with a rare stray 1 in the background: many look exactly like reals, so the classes overlap.

    Unbalanced validation split (70 reals, 45 fakes), so "equal error rates" is about rates, not counts.
    """
    reals = digits(270, seed=seed)
    fakes = fill_background(digits(245, seed=seed + 1), 1, 1, probability=0.004, seed=seed + 2)
    labels = [torch.zeros(n).long() for n in (200, 70)] + [torch.ones(n).long() for n in (200, 45)]
    train = torch.cat([reals[:200], fakes[:200]]), torch.cat([labels[0], labels[2]])
    val = torch.cat([reals[200:], fakes[200:]]), torch.cat([labels[1], labels[3]])
    return train, val


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_probability_and_validation_threshold(kind, tmp_path):
    (train, train_labels), (val, val_labels) = weak_sets()
    baseline = StatisticsBaseline(kind, seed=3).fit(train, train_labels, val, val_labels)
    assert baseline.name == f"baseline:{kind}"

    scores = baseline.decision_function(val)
    assert scores.dtype == np.float64 and scores.shape == (len(val),)
    loaded = StatisticsBaseline.load(baseline.save(tmp_path / "baseline.json"))
    assert np.array_equal(loaded.decision_function(val), scores)
    assert loaded.threshold == baseline.threshold and loaded.name == baseline.name
    np.testing.assert_allclose(baseline.predict_proba(val), expit(scores), rtol=0, atol=1e-12)

    # the scores are scikit-learn's own for the same pipeline on the same features
    pipeline = _pipeline(3).fit(baseline_features(kind, train), train_labels.numpy())
    features = baseline_features(kind, val)
    np.testing.assert_allclose(scores, pipeline.decision_function(features), rtol=0, atol=1e-9)
    np.testing.assert_allclose(baseline.predict_proba(val), pipeline.predict_proba(features)[:, 1], rtol=0, atol=1e-12)

    # the threshold is the validation split's equal-error point: the two error rates one step apart at most
    real, fake = scores[val_labels.numpy() == 0], scores[val_labels.numpy() == 1]
    false_positive, false_negative = (real >= baseline.threshold).mean(), (fake < baseline.threshold).mean()
    assert false_positive + false_negative > 0  # the classes overlap, so the check is not vacuous
    assert abs(false_positive - false_negative) <= 1 / min(len(real), len(fake)) + 1e-12
    assert np.array_equal(baseline.predict(val), (scores >= baseline.threshold).astype(np.int64))


def test_bad_input_is_refused_with_a_one_line_error(tmp_path):
    with pytest.raises(DeepbenchError, match="unknown baseline 'fft'; known: histogram, spectrum, compression"):
        StatisticsBaseline("fft")
    with pytest.raises(DeepbenchError, match="unknown baseline"):
        baseline_features("fft", digits(2))
    images = digits(4)
    for bad in (images.float(), images.int(), images[0], torch.cat([images, images], dim=1)):
        for kind in KINDS:
            with pytest.raises(DeepbenchError, match="baselines take"):
                baseline_features(kind, bad)

    baseline = StatisticsBaseline("histogram")
    with pytest.raises(DeepbenchError, match="not fitted"):
        baseline.decision_function(images)
    (train, train_labels), (val, val_labels) = weak_sets()
    with pytest.raises(DeepbenchError, match="uint8"):
        baseline.fit(train.float(), train_labels, val, val_labels)
    with pytest.raises(DeepbenchError, match="only reals"):
        baseline.fit(train, torch.zeros(len(train)), val, val_labels)
    with pytest.raises(DeepbenchError, match="one label per image"):
        baseline.fit(train, train_labels[1:], val, val_labels)
    baseline.fit(train, train_labels, val, val_labels)
    scores = baseline.decision_function(val)
    with pytest.raises(DeepbenchError, match="but validation images"):
        baseline.fit(train, train_labels, digits(len(val), size=28), val_labels)
    assert np.array_equal(baseline.decision_function(val), scores)  # a failed refit leaves the fitted baseline
    with pytest.raises(DeepbenchError, match="uint8"):
        baseline.predict_proba(val.double())
    with pytest.raises(DeepbenchError, match=r"fitted on images of \(1, 16, 16\)"):
        baseline.decision_function(digits(2, size=28))

    other = tmp_path / "other.json"
    other.write_text('{"schema": "deepbench.run/1"}')
    with pytest.raises(DeepbenchError, match="expected 'deepbench.baseline/1'"):
        StatisticsBaseline.load(other)
