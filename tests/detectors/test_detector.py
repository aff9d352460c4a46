"""Each detector learns a trivially separable task with calibrated probabilities and unsaturated scores, and
save/load keeps its predictions exactly."""

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

import detectors.detector as detector_module
from benchmark.errors import DeepbenchError
from benchmark.files import load_checkpoint
from detectors.detector import Detector, DetectorConfig, blur_sigma_range, training_options
from detectors.metrics import detection_metrics
from detectors.perturb import gaussian_blur


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


@pytest.mark.parametrize("name, channels", [("cnn", 1), ("capsule", 3), ("timm:resnet10t", 3)])
def test_detector_learns_a_separable_task(name, channels):
    train_images, train_labels = smooth_vs_checkerboard(256, seed=0, channels=channels)
    val_images, val_labels = smooth_vs_checkerboard(64, seed=1, channels=channels)
    test_images, test_labels = smooth_vs_checkerboard(128, seed=2, channels=channels)
    detector = Detector(name, channels, 16, DetectorConfig(epochs=12, batch_size=32, lr=3e-3, augment="none"))
    detector.fit(train_images, train_labels, val_images, val_labels, progress=False)
    metrics = detection_metrics(test_labels.numpy(), detector.decision_function(test_images), detector.threshold,
                                detector.predict_proba(test_images))
    assert metrics["accuracy"] > 0.95 and metrics["auc"] > 0.98, metrics
    # calibrated: P(fake) = 0.5 decides as well as the validation threshold does (once, BatchNorm statistics
    # lagging the weights put every real above 0.5 and accuracy at 0.5 at chance)
    assert metrics["accuracy_at_0.5"] > 0.95, metrics
    if name in ("cnn", "capsule"):  # the capsule's score is a length difference, not a logit, until calibrated
        assert abs(metrics["accuracy_at_0.5"] - metrics["accuracy"]) <= 0.02, metrics
    assert list(detector.history.columns) == ["epoch", "steps", "lr", "train_loss", "val_loss", "val_auc"]


@pytest.mark.parametrize("name", ["cnn", "capsule", "timm:resnet10t"])
def test_every_detector_trains_and_scores_at_256_pixels(name):
    """Imported fakes keep their size when the reals have it: the networks adapt to any side from 28 to 256."""
    images, labels = smooth_vs_checkerboard(6, seed=0, size=256, channels=3)
    detector = Detector(name, 3, 256, DetectorConfig(epochs=1, batch_size=4, augment="none"))
    detector.fit(images[:4], labels[:4], images[4:], labels[4:], progress=False)
    scores = detector.decision_function(images)
    assert scores.shape == (6,) and np.isfinite(scores).all() and len(detector.history) == 1


@pytest.mark.parametrize("name", ["cnn", "capsule"])
def test_batchnorm_statistics_match_the_kept_weights(name):
    """The saved network's BatchNorm statistics are those of the training data under its final weights."""
    images, labels = smooth_vs_checkerboard(128, seed=0)
    detector = Detector(name, 1, 16, DetectorConfig(epochs=2, batch_size=32, lr=3e-3, augment="none"))
    detector.fit(images, labels, images[:64], labels[:64], progress=False)
    kept = {k: v.clone() for k, v in detector.network.state_dict().items() if "running" in k}
    detector.recompute_batchnorm(images)
    assert kept and all(torch.allclose(kept[k], v, atol=1e-5) for k, v in detector.network.state_dict().items()
                        if "running" in k)


def test_confident_scores_never_tie():
    """Logits of 40 and 41 are 1.0 and 1.0 as float64 probabilities; the detector ranks on the logits."""
    images, labels = smooth_vs_checkerboard(8, seed=0)
    detector = Detector("cnn", 1, 16)
    logits = torch.tensor([-3.0, -2.0, -1.0, 0.0, 38.0, 39.0, 40.0, 41.0])
    detector.network.forward = lambda x: logits[:len(x)]
    scores = detector.decision_function(images)
    np.testing.assert_array_equal(scores, logits.double().numpy())
    assert len(set(1 / (1 + np.exp(-scores[4:])))) == 1  # what ranking on probabilities used to see
    metrics = detection_metrics([0, 1, 0, 1, 0, 1, 0, 1], scores)
    assert metrics["auc"] == detection_metrics([0, 1, 0, 1, 0, 1, 0, 1], np.arange(8))["auc"] == 10 / 16


def parameters(detector: Detector) -> int:
    return sum(parameter.numel() for parameter in detector.network.parameters())


def test_save_load_round_trips_predictions_exactly(tmp_path):
    images, labels = smooth_vs_checkerboard(64, seed=0)
    detector = Detector("cnn", 1, 16, DetectorConfig(epochs=1, batch_size=16, augment="robust", width=24))
    detector.fit(images, labels, images, labels, progress=False)
    detector.save(tmp_path / "checkpoint.pt")
    loaded = Detector.load(tmp_path / "checkpoint.pt")
    assert loaded.name == "cnn" and loaded.threshold == detector.threshold and loaded.config.width == 24
    assert loaded.calibration == detector.calibration and detector.calibration != (1.0, 0.0)
    np.testing.assert_array_equal(loaded.decision_function(images), detector.decision_function(images))
    np.testing.assert_array_equal(loaded.predict_proba(images), detector.predict_proba(images))


def test_a_checkpoint_of_the_old_format_is_refused_with_the_fix(tmp_path):
    from benchmark.files import save_checkpoint
    save_checkpoint(tmp_path / "old.pt", {"kind": "detector:cnn", "channels": 1, "image_size": 16, "threshold": 0.5})
    with pytest.raises(DeepbenchError, match="older deepbench.*retrain it with deepbench detect --force"):
        Detector.load(tmp_path / "old.pt")


def test_robust_augmentation_blurs_and_compresses_at_random_strengths():
    images, _ = smooth_vs_checkerboard(64, seed=0)
    detector = Detector("cnn", 1, 16, DetectorConfig(flip=False, augment="robust"))
    changed = detector._augment(images, torch.Generator().manual_seed(0))
    differences = (changed.float() - images.float()).abs().flatten(1).mean(1)
    untouched = (differences == 0).float().mean().item()
    assert 0.1 < untouched < 0.45  # about a quarter is neither blurred nor compressed
    assert differences.std() > 0.1  # strengths vary from image to image
    clean = Detector("cnn", 1, 16, DetectorConfig(flip=False, augment="none"))
    assert torch.equal(clean._augment(images, torch.Generator().manual_seed(0)), images)


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
    from benchmark.files import save_checkpoint
    save_checkpoint(tmp_path / "gan.pt", {"kind": "generator:dcgan"})
    with pytest.raises(DeepbenchError, match="holds 'generator:dcgan', not a detector"):
        Detector.load(tmp_path / "gan.pt")


def test_pretrained_timm_weights_offline_fail_fast_with_the_fix():
    with pytest.raises(DeepbenchError, match="pretrained weights for timm:resnet10t are not available.*--download"):
        Detector("timm:resnet10t", 3, 16, DetectorConfig(pretrained=True))


def fit_three_epochs(state_path=None):
    """Augmented training, so that the resumed data generator must continue where the first one stopped."""
    train_images, train_labels = smooth_vs_checkerboard(96, seed=0)
    val_images, val_labels = smooth_vs_checkerboard(32, seed=1)
    config = DetectorConfig(epochs=3, batch_size=32, lr=3e-3, augment="robust", jpeg_prob=0.3, blur_prob=0.3)
    detector = Detector("cnn", 1, 16, config)
    return detector.fit(train_images, train_labels, val_images, val_labels, progress=False, state_path=state_path)


def test_an_interrupted_fit_resumes_bit_for_bit(tmp_path, monkeypatch):
    loss = Detector._loss
    # dropout on the outputs draws from torch's global RNG, which the training state must carry too
    monkeypatch.setattr(Detector, "_loss", lambda self, output, labels: loss(self, F.dropout(output, 0.3), labels))
    straight = fit_three_epochs()
    state_path = tmp_path / "training.pt"
    calls = []

    def stop_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # epoch 2 has trained but not been recorded: its work is lost, as in a kill
            raise KeyboardInterrupt
        return roc_auc_score(*args, **kwargs)

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(detector_module, "roc_auc_score", stop_in_epoch_two)
        fit_three_epochs(state_path)
    assert load_checkpoint(state_path, "detector-training:cnn")["epoch"] == 1
    resumed = fit_three_epochs(state_path)
    expected, found = straight.network.state_dict(), resumed.network.state_dict()
    assert expected.keys() == found.keys() and all(torch.equal(expected[k], found[k]) for k in expected)
    assert resumed.threshold == straight.threshold and resumed.calibration == straight.calibration
    pd.testing.assert_frame_equal(resumed.history, straight.history, check_exact=True)
    assert len(resumed.history) == 3


def test_width_sizes_cnn_and_capsule_to_match_parameter_counts():
    """At 28 px, gray: capsule 345,024 parameters; cnn 960,705 at its default width, 339,227 at width 38."""
    capsule, cnn = Detector("capsule", 1, 28), Detector("cnn", 1, 28)
    narrow = Detector("cnn", 1, 28, DetectorConfig(width=38))
    assert (parameters(capsule), parameters(cnn), parameters(narrow)) == (345_024, 960_705, 339_227)
    assert parameters(Detector("capsule", 1, 28, DetectorConfig(width=32))) < parameters(capsule)
    with pytest.raises(DeepbenchError, match="--width applies to cnn, capsule, .*; timm:resnet10t has its own"):
        Detector("timm:resnet10t", 1, 28, DetectorConfig(width=38))
    with pytest.raises(DeepbenchError, match="width must be at least 1"):
        DetectorConfig(width=0)


def test_an_option_added_since_a_training_was_saved_reads_as_its_default():
    saved = {key: value for key, value in dataclasses.asdict(DetectorConfig()).items() if key != "width"}
    assert training_options(saved, 1, 28) == training_options(dataclasses.asdict(DetectorConfig()), 1, 28)


def test_resuming_with_other_options_names_them(tmp_path):
    images, labels = smooth_vs_checkerboard(32, seed=0)
    Detector("cnn", 1, 16, DetectorConfig(epochs=1)).fit(images, labels, images, labels, progress=False,
                                                         state_path=tmp_path / "training.pt")
    other = Detector("cnn", 1, 16, DetectorConfig(epochs=2, lr=1e-2))
    with pytest.raises(DeepbenchError, match=r"training.pt was trained with other epochs, lr; use the same options, "
                                             r"or --force to retrain"):
        other.fit(images, labels, images, labels, progress=False, state_path=tmp_path / "training.pt")


def test_a_nan_loss_stops_training_and_keeps_the_last_good_epoch(tmp_path, monkeypatch):
    losses = []
    loss = Detector._loss

    def nan_from_epoch_two(self, output, labels):
        losses.append(1)
        value = loss(self, output, labels)
        return value * float("nan") if len(losses) > 3 else value  # 3 batches of 32 per epoch

    monkeypatch.setattr(Detector, "_loss", nan_from_epoch_two)
    state_path = tmp_path / "training.pt"
    with pytest.raises(DeepbenchError, match=r"detector cnn diverged at epoch 2 \(loss nan\); the last good "
                                             rf"epoch's state is {re.escape(str(state_path))}; lower --lr"):
        fit_three_epochs(state_path)
    state = load_checkpoint(state_path, "detector-training:cnn")
    assert state["epoch"] == 1 and len(state["rows"]) == 1
    assert all(torch.isfinite(t).all() for t in state["network"].values() if t.is_floating_point())
    assert [p.name for p in tmp_path.iterdir()] == ["training.pt"]  # no temp file left behind
    losses.clear()
    with pytest.raises(DeepbenchError, match=r"diverged at epoch 2 \(loss nan\); no state was kept; lower --lr"):
        fit_three_epochs()


def test_training_stops_when_validation_loss_stops_improving_and_matches_training_to_the_ceiling():
    """The stopping rule ends training once validation loss has not improved for ``patience`` epochs; the detector
    it keeps scores held-out images within 0.02 AUC of one trained to a ceiling of 20 epochs with no rule."""
    train_images, train_labels = smooth_vs_checkerboard(256, seed=0)
    val_images, val_labels = smooth_vs_checkerboard(64, seed=1)
    test_images, test_labels = smooth_vs_checkerboard(256, seed=2)
    common = {"batch_size": 32, "lr": 3e-3, "augment": "robust", "epochs": 20}
    early = Detector("cnn", 1, 16, DetectorConfig(patience=2, **common))
    early.fit(train_images, train_labels, val_images, val_labels, progress=False)
    ceiling = Detector("cnn", 1, 16, DetectorConfig(patience=20, **common))
    ceiling.fit(train_images, train_labels, val_images, val_labels, progress=False)
    assert early.training["ended"] == "converged" and ceiling.training["ended"] == "ceiling"
    assert early.training["best_epoch"] < early.training["epochs"] < 20 == ceiling.training["epochs"]
    assert early.training["steps"] == early.training["epochs"] * 8  # 256 images, batches of 32
    aucs = [roc_auc_score(test_labels.numpy(), d.decision_function(test_images)) for d in (early, ceiling)]
    assert aucs[0] > 0.95 and abs(aucs[0] - aucs[1]) <= 0.02, aucs
    # the rate fell by LR_FACTOR after epochs without improvement; the history records it
    assert early.history["lr"].iloc[0] == 3e-3 and early.history["lr"].min() < 3e-3
    assert early.history["val_loss"].iloc[early.training["best_epoch"] - 1] == early.training["best_val_loss"]


def test_blur_scales_with_the_image_size():
    """CNNDetection's sigma range of 0-3 px at 256 px is 0-0.33 px at 28 px; no augmented 28 px digit is blurred
    more than sigma 0.33 blurs it."""
    assert blur_sigma_range(256) == (0.0, 3.0) and blur_sigma_range(28) == pytest.approx((0.0, 0.328), abs=1e-3)
    assert blur_sigma_range(32)[1] == pytest.approx(0.375)
    images = torch.randint(0, 256, (64, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    detector = Detector("cnn", 1, 28, DetectorConfig(flip=False, augment="robust", blur_prob=1.0, jpeg_prob=0.0))
    blurred = detector._augment(images, torch.Generator().manual_seed(0))
    change = (blurred.float() - images.float()).abs().flatten(1).mean(1)
    most = (gaussian_blur(images, blur_sigma_range(28)[1]).float() - images.float()).abs().flatten(1).mean(1)
    # below sigma ~0.2 the neighbours' weights round away: only the stronger draws change a pixel
    assert (change > 0).float().mean() > 0.1 and (change <= most + 0.5).all()  # rounding: half a gray level
    assert (change < most - 1).float().mean() > 0.5  # strengths below the largest
    wide = Detector("cnn", 1, 28, DetectorConfig(flip=False, blur_prob=1.0, jpeg_prob=0.0, blur_scale=27.4))
    assert (wide._augment(images, torch.Generator().manual_seed(0)).float() - images.float()).abs().mean() > \
        2 * change.mean()  # --blur-scale widens the range (27.4 px at 256 px is 3 px at 28 px)


def test_no_flips_unless_asked_and_a_seeded_training_seed_sets_the_weights():
    images, _ = smooth_vs_checkerboard(64, seed=0)
    unset = Detector("cnn", 1, 16, DetectorConfig(augment="none"))
    assert unset.config.flip is None and torch.equal(unset._augment(images, torch.Generator().manual_seed(0)), images)
    flipped = Detector("cnn", 1, 16, DetectorConfig(augment="none", flip=True))
    assert not torch.equal(flipped._augment(images, torch.Generator().manual_seed(0)), images)
    weights = [Detector("cnn", 1, 16, DetectorConfig(**seeds)).network.body[0].weight for seeds in
               ({"seed": 0}, {"seed": 0, "training_seed": 1}, {"seed": 5, "training_seed": 1})]
    assert not torch.equal(weights[0], weights[1]) and torch.equal(weights[1], weights[2])
