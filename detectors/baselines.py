"""Trivial-statistics "shortcut" detectors: what a benchmark must rule out before it trusts a learned detector.

A network that separates reals from fakes may have learned something trivial: real MNIST digits have exactly
zero backgrounds where a GAN's near-black spreads over small values, GAN up-sampling leaves periodic
artefacts in the spectrum, and reals stored as JPEG differ from lossless fakes in their compression history.
Each baseline here sees only one such low-level statistic of an image and is a scikit-learn logistic
regression on it (standardised features, balanced classes), fitted in seconds. When a baseline nearly matches
a network, the network's number says little about the generator.

Kinds (``BASELINES``):

- ``histogram``: the normalised 256-bin pixel-value histogram (all channels pooled), plus the fractions of
  exact 0 and exact 255 pixels (saturation) as two more features: 258 features.
- ``spectrum``: the azimuthally averaged log Fourier magnitude of the grey (channel-mean) image after
  subtracting its mean, one value per integer radius 1 .. floor(max radius) (the DC ring is zero by
  construction and left out): the feature of Durall et al. 2020 ("Watch your up-convolution") that shows
  the excess high-frequency energy of up-convolutions. 22 features for 32 x 32 images, 19 for 28 x 28.
- ``compression``: the bytes per pixel of a lossless PNG encoding, and the mean absolute pixel change when
  re-encoded as JPEG at qualities 50, 75, 90, 95: the "JPEG ghost" of Farid 2009 (an image that already
  went through JPEG at quality q changes little when re-encoded at q): 5 features.

:class:`StatisticsBaseline` has the interface evaluation uses from :class:`detectors.detector.Detector`
(``fit``, ``predict_proba``, ``threshold``, ``save`` / ``load``), plus ``decision_function``: the logistic
regression's log-odds of fake, on whose scale ``threshold`` lies. It is saved as plain numbers in JSON
(scaler mean and scale, coefficients, intercept), so loading executes no pickle; scores are computed from
those numbers alone, so a loaded baseline scores bit for bit like the one that was saved.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.errors import DeepbenchError
from benchmark.files import read_json, write_json
from benchmark.images import check_image_batch
from benchmark.registry import Registry
from detectors.metrics import threshold_at_eer
from detectors.perturb import jpeg

BASELINES = Registry("baseline")

JPEG_GHOST_QUALITIES = (50, 75, 90, 95)
PNG_COMPRESS_LEVEL = 6  # zlib's default; fixed, since the byte count depends on it
MAX_ITER = 10_000  # lbfgs converges in far fewer on standardised features; a warning would mean a bad fit
CHUNK = 1024  # images featurised at once: bounds the memory of the FFT and histogram intermediates
_LOG_FLOOR = 1e-8  # added to Fourier magnitudes before the log, as Durall et al.: a flat image stays finite


def _check_images(images: torch.Tensor) -> None:
    check_image_batch(images, "baselines")


def _in_chunks(featurise, images: torch.Tensor) -> np.ndarray:
    """``featurise`` applied to at most ``CHUNK`` images at a time, rows stacked: memory stays bounded."""
    parts = [featurise(images[start:start + CHUNK]) for start in range(0, len(images), CHUNK)]
    return np.concatenate(parts) if parts else featurise(images)


# --- the features ------------------------------------------------------------------------------------------------

@BASELINES.register("histogram", "256-bin pixel-value histogram (channels pooled) + fractions of exact 0 and 255")
def histogram_features(images: torch.Tensor) -> np.ndarray:
    """(N, 258): each image's pixel-value frequencies, then its fractions of exact 0 and exact 255.

    The two extra features repeat bins 0 and 255 on purpose: they are the shortcut this baseline exists to
    expose (exact-zero backgrounds, clipped highlights), named so reports can point at them.
    """
    def featurise(chunk: torch.Tensor) -> np.ndarray:
        pixels = chunk.reshape(len(chunk), -1).numpy().astype(np.int64)
        # one bincount for the whole chunk: image i's values land in bins 256 i .. 256 i + 255
        offsets = np.arange(len(chunk), dtype=np.int64)[:, None] * 256
        counts = np.bincount((pixels + offsets).ravel(), minlength=256 * len(chunk)).reshape(len(chunk), 256)
        frequencies = counts / max(pixels.shape[1], 1)
        return np.concatenate([frequencies, frequencies[:, [0, 255]]], axis=1)
    return _in_chunks(featurise, images.cpu())


def _radius_bins(height: int, width: int) -> tuple[np.ndarray, int]:
    """Each FFT frequency's integer radius (floor of its distance from DC, in cycles per image) and the bin count.

    Frequencies come from ``fftfreq`` rather than an ``fftshift``-ed grid's pixel centre, so DC is radius 0
    exactly for even and odd sizes alike.
    """
    fy = np.fft.fftfreq(height) * height
    fx = np.fft.fftfreq(width) * width
    radius = np.floor(np.hypot(fy[:, None], fx[None, :]) + 1e-9).astype(np.int64)
    return radius.ravel(), int(radius.max()) + 1


@BASELINES.register("spectrum", "azimuthally averaged log Fourier magnitude of the grey image (Durall et al. 2020)")
def spectrum_features(images: torch.Tensor) -> np.ndarray:
    """(N, floor(max radius)): the mean log |FFT| of the mean-subtracted grey image over each ring of radius r >= 1.

    The grey image is the channel mean in [0, 1]; subtracting its mean zeroes DC, so ring 0 (DC alone)
    would hold only rounding noise and is left out. Averaging the log (not the magnitude) follows Durall et
    al.: the high-frequency rings, where up-sampling artefacts live, are orders of magnitude weaker than
    the low ones and would vanish otherwise.
    """
    height, width = images.shape[-2:]
    radius, bins = _radius_bins(height, width)
    if bins < 2:
        raise DeepbenchError(f"the spectrum baseline needs images of at least 2 pixels a side, got {height}x{width}")
    # ring averaging as one matrix product: column r averages the frequencies of radius r
    rings = np.zeros((height * width, bins))
    rings[np.arange(height * width), radius] = 1.0
    rings /= rings.sum(axis=0, keepdims=True)
    rings = torch.from_numpy(rings[:, 1:])

    def featurise(chunk: torch.Tensor) -> np.ndarray:
        grey = chunk.double().mean(dim=1) / 255
        grey = grey - grey.mean(dim=(-2, -1), keepdim=True)
        log_magnitude = torch.log(torch.fft.fft2(grey).abs() + _LOG_FLOOR)
        return (log_magnitude.reshape(len(chunk), -1) @ rings).numpy()
    return _in_chunks(featurise, images.cpu())


def png_bytes_per_pixel(images: torch.Tensor) -> np.ndarray:
    """(N,): the size of each image as a lossless PNG (Pillow, no optimize, fixed level) over its pixel count.

    Noise and fine texture cost bytes; JPEG round trips and smooth generators save them.
    """
    pixels = images.cpu().permute(0, 2, 3, 1).numpy()
    color = images.shape[1] == 3
    sizes = np.empty(len(pixels))
    for index, image in enumerate(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image if color else image[..., 0]).save(buffer, format="PNG", optimize=False,
                                                               compress_level=PNG_COMPRESS_LEVEL)
        sizes[index] = buffer.tell()
    return sizes / (images.shape[-2] * images.shape[-1])


def jpeg_ghosts(images: torch.Tensor, qualities=JPEG_GHOST_QUALITIES) -> np.ndarray:
    """(N, len(qualities)): the mean absolute change (pixel values, 0-255) of each image re-encoded as JPEG at q.

    Re-encoding at the quality an image was last compressed with changes it least (Farid 2009): the
    profile over q reveals a JPEG history that the file name no longer does.
    """
    images = images.cpu()
    columns = [(images.to(torch.int16) - jpeg(images, quality).to(torch.int16)).abs().double().mean(dim=(1, 2, 3))
               for quality in qualities]
    return torch.stack(columns, dim=1).numpy() if columns else np.empty((len(images), 0))


@BASELINES.register("compression", "PNG bytes per pixel + mean change under JPEG re-encoding at q 50/75/90/95")
def compression_features(images: torch.Tensor) -> np.ndarray:
    """(N, 5): PNG bytes per pixel, then the JPEG ghosts at qualities 50, 75, 90 and 95.

    In memory the files are gone; these are the facts of their formats that survive in the pixels.
    """
    def featurise(chunk: torch.Tensor) -> np.ndarray:
        return np.concatenate([png_bytes_per_pixel(chunk)[:, None], jpeg_ghosts(chunk)], axis=1)
    return _in_chunks(featurise, images.cpu())


def baseline_features(kind: str, images: torch.Tensor) -> np.ndarray:
    """The (N, F) float64 features of baseline ``kind`` (one of ``BASELINES``) for uint8 (N, C, H, W) images."""
    featurise = BASELINES.get(kind)
    _check_images(images)
    return np.ascontiguousarray(featurise(images), dtype=np.float64)


# --- the detector ------------------------------------------------------------------------------------------------

def _pipeline(seed: int) -> Pipeline:
    """Standardise, then an L2-regularised logistic regression that weighs the classes equally."""
    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=MAX_ITER,
                                                              random_state=seed))


def _labels(labels, count: int, what: str) -> np.ndarray:
    """Labels as an int64 numpy array, one per image, all 0 (real) or 1 (fake), with both present."""
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim != 1 or len(labels) != count:
        raise DeepbenchError(f"{what}: {count} images but labels of shape {labels.shape}; pass one label per image")
    if not np.isin(labels, (0, 1)).all():
        raise DeepbenchError(f"{what}: labels must be 0 (real) or 1 (fake), got {sorted(set(labels.tolist()))[:5]}")
    if len(set(labels.tolist())) < 2:
        raise DeepbenchError(f"{what} holds only {'fakes' if labels.any() else 'reals'}; a baseline needs both")
    return labels.astype(np.int64)


def _log_odds(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray,
              intercept: float) -> np.ndarray:
    """The fitted pipeline's decision function, written out: standardise, then the regression's linear score."""
    return ((features - mean) / scale) @ coef + intercept


class StatisticsBaseline:
    """A trivial-statistics detector with the interface of detectors.detector.Detector that evaluation uses."""

    def __init__(self, kind: str, seed: int = 0):
        BASELINES.get(kind)  # an unknown kind fails here, naming the known ones
        self.kind, self.seed = kind, int(seed)
        self.name = f"baseline:{kind}"
        self.threshold = 0.0  # log-odds 0 (P(fake) = 0.5) until fit picks the validation EER point
        self.calibration = (1.0, 0.0)  # the regression's log-odds are already a calibrated P(fake)'s
        self.image_shape: tuple[int, int, int] | None = None  # (C, H, W) seen by fit; scoring refuses others
        self._mean = self._scale = self._coef = None
        self._intercept = 0.0

    def options(self) -> dict:
        """What shapes this baseline's fit, as evaluation records it beside the detectors' configs."""
        return {"kind": self.kind, "seed": self.seed, "features": BASELINES.summary(self.kind)}

    def _features(self, images: torch.Tensor) -> np.ndarray:
        _check_images(images)
        if self.image_shape is not None and tuple(images.shape[1:]) != self.image_shape:
            raise DeepbenchError(f"{self.name} was fitted on images of {self.image_shape}, got "
                                 f"{tuple(images.shape[1:])}; convert with --channels/--image-size")
        return baseline_features(self.kind, images)

    def fit(self, train_images: torch.Tensor, train_labels, val_images: torch.Tensor,
            val_labels) -> StatisticsBaseline:
        """Fit the regression on the training split; put the threshold at the validation split's equal-error point."""
        _check_images(train_images)
        _check_images(val_images)
        train_labels = _labels(train_labels, len(train_images), "training set")
        val_labels = _labels(val_labels, len(val_images), "validation set")
        shape = tuple(int(size) for size in train_images.shape[1:])
        if tuple(val_images.shape[1:]) != shape:
            raise DeepbenchError(f"training images are {shape} but validation images {tuple(val_images.shape[1:])}; "
                                 f"convert both with the same --channels/--image-size")
        pipeline = _pipeline(self.seed).fit(baseline_features(self.kind, train_images), train_labels)
        scaler, regression = pipeline[0], pipeline[-1]
        # scores come from these numbers only, so a fitted and a loaded baseline compute the same thing
        numbers = (scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64),
                   regression.coef_[0].astype(np.float64), float(regression.intercept_[0]))
        val_scores = _log_odds(baseline_features(self.kind, val_images), *numbers)
        threshold = float(threshold_at_eer(val_labels, val_scores))
        # only now that nothing can fail does the baseline change: a failed refit leaves the old one intact
        self.image_shape, self.threshold = shape, threshold
        self._mean, self._scale, self._coef, self._intercept = numbers
        return self

    def decision_function(self, images: torch.Tensor) -> np.ndarray:
        """(N,) float64 log-odds that each image is fake: higher is more fake; ``threshold`` lies on this scale."""
        if self._coef is None:
            raise DeepbenchError(f"{self.name} is not fitted; call fit or load a saved baseline first")
        features = self._features(images)
        if features.shape[1] != len(self._coef):
            raise DeepbenchError(f"{self.name} was fitted on {len(self._coef)} features, got {features.shape[1]}")
        return _log_odds(features, self._mean, self._scale, self._coef, self._intercept)

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        """(N,) float64 P(fake): the logistic regression's own probability, the sigmoid of ``decision_function``."""
        return expit(self.decision_function(images))

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """1 (fake) where the log-odds reach the validation threshold, else 0."""
        return (self.decision_function(images) >= self.threshold).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        """Write the fitted numbers as JSON (``schema`` ``deepbench.baseline/1``): no pickle to load back."""
        if self._coef is None:
            raise DeepbenchError(f"{self.name} is not fitted; fit it before saving")
        return write_json(path, {"kind": self.kind, "seed": self.seed, "image_shape": list(self.image_shape),
                                 "threshold": self.threshold, "scaler_mean": self._mean.tolist(),
                                 "scaler_scale": self._scale.tolist(), "coef": self._coef.tolist(),
                                 "intercept": self._intercept}, "baseline")

    @classmethod
    def load(cls, path: str | Path) -> StatisticsBaseline:
        """The baseline saved at ``path``; floats survive JSON exactly, so it scores exactly as when saved."""
        state = read_json(path, "baseline")
        try:
            baseline = cls(state["kind"], state["seed"])
            baseline.image_shape = tuple(int(size) for size in state["image_shape"])
            baseline.threshold = float(state["threshold"])
            baseline._mean, baseline._scale, baseline._coef = (np.asarray(state[key], dtype=np.float64)
                                                               for key in ("scaler_mean", "scaler_scale", "coef"))
            baseline._intercept = float(state["intercept"])
        except (KeyError, TypeError, ValueError) as error:
            raise DeepbenchError(f"{path} is not a complete baseline ({error!r}); fit and save it again") from None
        if not len(baseline._mean) == len(baseline._scale) == len(baseline._coef) or len(baseline.image_shape) != 3:
            raise DeepbenchError(f"{path} holds inconsistent baseline numbers; fit and save it again")
        return baseline
