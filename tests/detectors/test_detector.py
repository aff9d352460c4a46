"""Each detector learns a trivially separable task, and save/load keeps its predictions exactly."""

import numpy as np
import pytest
import torch

from benchmark.errors import DeepbenchError
from detectors.detector import Detector, DetectorConfig
from detectors.metrics import detection_metrics


def smooth_vs_checkerboard(count: int, seed: int, size: int = 16, channels: int = 1):
    """Real: smooth random gradients. Fake: the same kind of image tinted with a faint checkerboard."""
    rng = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)
    slopes = torch.rand(count, 2, generator=rng)
    images = 40 + 150 * (slopes[:, :1, None] * ramp[None, :, None] + slopes[:, 1:, None] * ramp[None, None, :]) / 2
    labels = torch.arange(count) % 2
    checker = ((torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2).float() * 24 - 12
    images = images + labels[:, None, None] * checker
    images = images[:, None].repeat(1, channels, 1, 1).round().clamp(0, 255).to(torch.uint8)
    return images, labels


@pytest.mark.parametrize("name, channels", [("cnn", 1), ("capsule", 3), ("timm:resnet18", 3)])
def test_detector_learns_a_separable_task(name, channels):
    train_images, train_labels = smooth_vs_checkerboard(256, seed=0, channels=channels)
    val_images, val_labels = smooth_vs_checkerboard(64, seed=1, channels=channels)
    test_images, test_labels = smooth_vs_checkerboard(128, seed=2, channels=channels)
    detector = Detector(name, channels, 16, DetectorConfig(epochs=6, batch_size=32, lr=3e-3, patience=6))
    detector.fit(train_images, train_labels, val_images, val_labels, progress=False)
    metrics = detection_metrics(test_labels.numpy(), detector.predict_proba(test_images), detector.threshold)
    assert metrics["accuracy"] > 0.95 and metrics["auc"] > 0.98, metrics
    assert list(detector.history.columns) == ["epoch", "train_loss", "val_auc", "val_accuracy"]


def test_save_load_round_trips_predictions_exactly(tmp_path):
    images, labels = smooth_vs_checkerboard(64, seed=0)
    detector = Detector("cnn", 1, 16, DetectorConfig(epochs=1, batch_size=16, jpeg_prob=0.5, blur_prob=0.5))
    detector.fit(images, labels, images, labels, progress=False)
    detector.save(tmp_path / "checkpoint.pt")
    loaded = Detector.load(tmp_path / "checkpoint.pt")
    assert loaded.name == "cnn" and loaded.threshold == detector.threshold
    np.testing.assert_array_equal(loaded.predict_proba(images), detector.predict_proba(images))


def test_bad_inputs_are_clear_errors(tmp_path):
    detector = Detector("cnn", 1, 16)
    with pytest.raises(DeepbenchError, match=r"takes uint8 images of \(1, 16, 16\), got torch.uint8 \(3, 16, 16\)"):
        detector.predict_proba(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(DeepbenchError, match="unknown detector 'svm'; known: cnn, capsule"):
        Detector("svm", 1, 16)
    with pytest.raises(DeepbenchError, match="unknown timm model 'notanet'"):
        Detector("timm:notanet", 1, 16)
    with pytest.raises(DeepbenchError, match="lr must lie in"):
        DetectorConfig(lr=0)
    from benchmark.rundir import save_checkpoint
    save_checkpoint(tmp_path / "gan.pt", {"kind": "generator:dcgan"})
    with pytest.raises(DeepbenchError, match="holds 'generator:dcgan', not a detector"):
        Detector.load(tmp_path / "gan.pt")


def test_pretrained_timm_weights_offline_fail_fast_with_the_fix():
    with pytest.raises(DeepbenchError, match="pretrained weights for timm:resnet10t are not available.*--download"):
        Detector("timm:resnet10t", 3, 16, DetectorConfig(pretrained=True))
