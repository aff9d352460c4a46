"""Statistics matching: give the fakes the reals' pixel-value histogram while leaving their content.

A detector should separate reals from fakes by what the generator did, not by a trivial difference between the
two sets of files. Format matching (:mod:`detectors.formats`) removes one such difference (JPEG or not). The
pixel-value histogram is another: real MNIST digits sit on exactly-zero backgrounds where a DCGAN's near-black
spreads over small values, and reach their saturated values more often, so a logistic regression on each image's
histogram alone separates them.

The transform is exact histogram specification (Coltuc, Bolon and Chassery 2006, "Exact histogram
specification", IEEE TIP 15(5)), per channel: the fakes' pixels, ordered by value and, among equal values, by
the mean of their 3 x 3 neighbourhood, are given the reals' values in the same order, so that the matched fakes
take each value exactly as often as the reals. The ordering by neighbourhood keeps images smooth where they
were: among pixels of one value, those in brighter surroundings go up first; only exact ties (a flat
background) are split at random. Fitted once on the
training fakes, the transform is a function of one image alone: each value's neighbourhood means are placed
within quantiles stored from the fitting fakes, so a fake is matched the same way in any batch and any folder.

Chosen by measurement: ``benchmarks/statistics_matching.py`` prints the held-out AUC of the histogram,
spectrum and compression baselines on a run's fakes, raw and matched, and on a control of reals against a
second sample of reals; ``benchmark/results/matching-control`` holds that control for a learned network too,
and the committed results hold every run's baselines under both protocols.

- The former background-only transform (near-black set to zero) and a deterministic quantile lookup (every
  value to one reals' value) both left MNIST's histogram baseline separating perfectly: with one output per
  input value, the map skips reals' values where the fakes are denser, and those empty bins give the fakes
  away. Splitting each value's pixels at random instead of by neighbourhood removed the histogram's tell but
  added pixel noise the compression baseline found on the control, and ranking ties without splitting them
  emptied the values next to MNIST's zeros.
- The spectrum and compression baselines measure frequency content and texture, the up-sampling artefacts
  Durall et al. 2020 found in GAN images: what a detector should find. Equalising the fakes' mean spectrum
  with a radial filter removed little of what the spectrum baseline finds and changed the content; it is left
  out, and those baselines stay reference detectors.

The reals are never changed; fitted on the reals themselves, the transform is the identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.errors import DeepbenchError
from benchmark.images import check_image_batch

MATCH_CHOICES = ("auto", "off")
LEVELS = 256
WINDOW = 3  # neighbourhood side for ordering equal values: the smallest that sees a pixel's surroundings
QUANTILES = 32  # neighbourhood-mean quantiles kept per value and channel: ranks within a value to 1/64
CHUNK = 256  # images transformed at once: bounds the per-pixel quantile tables (70 MB for 32 x 32 x 3)


def value_counts(images: torch.Tensor) -> np.ndarray:
    """(C, 256) counts of each uint8 value per channel over all ``images`` (N, C, H, W)."""
    check_image_batch(images, "statistics-matching transforms")
    channels = images.transpose(0, 1).reshape(images.shape[1], -1)
    return np.stack([torch.bincount(channel.long(), minlength=LEVELS).numpy() for channel in channels])


def neighbourhood_means(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) float64: each pixel's mean over its WINDOW x WINDOW neighbourhood (edges replicated)."""
    pad = WINDOW // 2
    padded = F.pad(images.double(), (pad,) * 4, mode="replicate")
    return F.avg_pool2d(padded, WINDOW, stride=1)


def _neighbourhood_quantiles(images: torch.Tensor) -> np.ndarray:
    """(C, 256, QUANTILES + 1): per channel and value, quantiles 0, 1/Q, ..., 1 of the neighbourhood means of
    that value's pixels (zeros for values that never occur)."""
    means = neighbourhood_means(images).transpose(0, 1).reshape(images.shape[1], -1)
    values = images.transpose(0, 1).reshape(images.shape[1], -1).long()
    levels = torch.linspace(0, 1, QUANTILES + 1, dtype=torch.float64)
    table = np.zeros((images.shape[1], LEVELS, QUANTILES + 1))
    for channel in range(images.shape[1]):
        order = torch.argsort(values[channel] * 1024 + means[channel])  # by value, then neighbourhood mean
        sorted_means = means[channel][order]
        counts = torch.bincount(values[channel], minlength=LEVELS)
        starts = torch.cumsum(counts, 0) - counts
        for value in torch.nonzero(counts).flatten().tolist():
            chunk = sorted_means[starts[value]:starts[value] + counts[value]]
            table[channel, value] = chunk[(levels * (len(chunk) - 1)).round().long()].numpy()  # nearest rank
    return table


def rank_range(below: torch.Tensor, at_most: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The range of rank fractions (within its value) of a neighbourhood mean that exceeds ``below`` and is at
    most ``at_most`` of the QUANTILES + 1 stored quantiles (quantile k at rank fraction k / QUANTILES).

    Strictly between quantiles k - 1 and k: [(k - 1) / Q, k / Q]. Equal to one quantile k: half a step either
    side. Equal to quantiles j to l: [j / Q, l / Q], where that tied group certainly lies. Below the first
    or above the last: the outermost step. Never empty, so a pixel never sits on its value's boundary.
    """
    ties = at_most - below
    start = torch.where(ties == 0, below - 1.0, torch.where(ties == 1, below - 0.5, below.double()))
    end = torch.where(ties == 0, below.double(), torch.where(ties == 1, below + 0.5, at_most - 1.0))
    return (start / QUANTILES).clamp(0, 1 - 1 / QUANTILES), (end / QUANTILES).clamp(1 / QUANTILES, 1)


def image_seeded_uniform(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) float64 uniform in (0, 1), drawn for each image from a generator seeded by its bytes."""
    draws = torch.empty(images.shape, dtype=torch.float64)
    for index, image in enumerate(images):
        seed = int.from_bytes(hashlib.blake2b(image.numpy().tobytes(), digest_size=8).digest(), "little") >> 1
        draws[index] = torch.rand(image.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return draws.clamp(1e-9, 1 - 1e-9)  # strictly inside, so a value never reaches its neighbours' interval


@dataclass(frozen=True)
class StatisticsMatch:
    """A fitted exact histogram specification: the fitting fakes' and the reals' value counts per channel, and
    the fitting fakes' neighbourhood-mean quantiles per channel and value (see the module docstring)."""

    fake_counts: np.ndarray  # (C, 256)
    real_counts: np.ndarray  # (C, 256)
    neighbourhood: np.ndarray  # (C, 256, QUANTILES + 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """The images with their values specified onto the reals' histogram (a new tensor)."""
        check_image_batch(images, "statistics-matching transforms")
        if images.shape[1] != len(self.fake_counts):
            raise DeepbenchError(f"the statistics match was fitted on {len(self.fake_counts)} channels, the images "
                                 f"have {images.shape[1]}")
        if not len(images):
            return images.clone()
        chunks = [self._match(images[start:start + CHUNK].cpu()) for start in range(0, len(images), CHUNK)]
        return torch.cat(chunks).to(images.device)  # computed on the CPU, returned where the images were

    def _match(self, images: torch.Tensor) -> torch.Tensor:
        """Each pixel's quantile among the fitting fakes, read off the reals' cumulative histogram.

        A pixel's quantile lies in its value's interval, at the rank of its neighbourhood mean among the
        fitting fakes' pixels of that value (:func:`rank_range`), at a random point inside that range. The
        random numbers come from each image's own bytes, so an image is matched alike in any batch. Ties
        must be split: a flat background of zeros all put at one quantile could not give up the share of
        its pixels the reals hold at the next values up, and every small value above it would shift to
        fill the gap.
        """
        means = neighbourhood_means(images)
        jitter = image_seeded_uniform(images)
        matched = torch.empty_like(images)
        for channel in range(images.shape[1]):
            values = images[:, channel].long()
            upper = torch.from_numpy(np.cumsum(self.fake_counts[channel]) / self.fake_counts[channel].sum())
            lower = torch.cat([torch.zeros(1, dtype=torch.float64), upper[:-1]])
            table = torch.from_numpy(self.neighbourhood[channel])[values]  # (N, H, W, QUANTILES + 1)
            mean = means[:, channel].unsqueeze(-1)
            start, end = rank_range((table < mean).sum(-1), (table <= mean).sum(-1))
            position = start + jitter[:, channel] * (end - start)
            quantile = lower[values] + position * (upper[values] - lower[values])
            reals = torch.from_numpy(np.cumsum(self.real_counts[channel]) / self.real_counts[channel].sum())
            matched[:, channel] = torch.searchsorted(reals, quantile.contiguous()).clamp(max=LEVELS - 1).to(torch.uint8)
        return matched

    def record(self) -> dict:
        """What eval.json keeps: the transform, its parameters and the counts it was fitted on."""
        return {"transform": "exact histogram specification onto the real training split (per channel; equal "
                             f"values ordered by their {WINDOW}x{WINDOW} neighbourhood mean)",
                "window": WINDOW, "quantiles": QUANTILES, "fitted_on": {"fake_pixels": int(self.fake_counts.sum()),
                                                                        "real_pixels": int(self.real_counts.sum())},
                "fake_counts": self.fake_counts.tolist(), "real_counts": self.real_counts.tolist()}


def fit_statistics_match(fakes: torch.Tensor, reals: torch.Tensor) -> StatisticsMatch:
    """The transform that gives images like ``fakes`` the pixel-value histogram of ``reals``, per channel."""
    source, reference = value_counts(fakes), value_counts(reals)
    if len(source) != len(reference):
        raise DeepbenchError(f"fakes have {len(source)} channels and reals {len(reference)}; convert with --channels")
    return StatisticsMatch(source, reference, _neighbourhood_quantiles(fakes.cpu()))


def matched_half(fakes: torch.Tensor, match: StatisticsMatch, seed: int = 0) -> torch.Tensor:
    """The fakes with a seeded random half passed through ``match``: training on both kinds, a detector
    cannot rely on the statistics the matching removes, whichever protocol it is then evaluated under."""
    chosen = torch.randperm(len(fakes), generator=torch.Generator().manual_seed(seed + 3))[:len(fakes) // 2]
    mixed = fakes.clone()
    mixed[chosen] = match(fakes[chosen])
    return mixed
