"""``oneclass``: a detector trained on real images only, which therefore cannot overfit to any generator.

After ZED (Cozzolino, Poggi, Nießner and Verdoliva, "Zero-shot detection of AI-generated images", ECCV 2024):
a small lossless coder of real images, here an autoregressive PixelCNN (van den Oord et al. 2016) with a
discretised logistic per pixel (Salimans et al. 2017), learns how predictable real pixels are. For an image it
gives the coding cost of the pixels it sees and the cost it expected (the entropy of its own predictions);
on real images the two agree on average, and an image whose cost departs from the expected one, in either
direction, is scored as fake. Training minimises the coding cost of the real images of each batch and ignores
the fakes; the validation split, fakes included, only chooses the epoch and sets the threshold, as for every
detector.

The network returns, per image, the mean coding cost and the mean expected cost in nats per pixel
(``loss = "coding"``: ``detectors.detector`` trains on the first on reals and scores by their gap).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors.networks import NETWORKS

LEVELS = 256  # pixel values of uint8 images, in [-1, 1] with bins of 2 / 255
ENTROPY_CHUNK = 32  # images whose 256-level distributions are expanded at once when scoring


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only the pixels before the centre in raster order (type A), or also the centre's
    own features (type B, for the layers after the first)."""

    def __init__(self, kind: str, inputs: int, outputs: int, kernel_size: int):
        super().__init__(inputs, outputs, kernel_size, padding=kernel_size // 2)
        mask = torch.ones_like(self.weight)
        centre = kernel_size // 2
        mask[..., centre, centre + (kind == "B"):] = 0
        mask[..., centre + 1:, :] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def discretised_logistic_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(x) of pixel values x in [-1, 1] on 256 levels under a logistic discretised into their bins, the two
    end bins taking the tails (Salimans et al. 2017)."""
    inverse_scale = torch.exp(-log_scale)
    upper, lower = inverse_scale * (x - mean + 1 / (LEVELS - 1)), inverse_scale * (x - mean - 1 / (LEVELS - 1))
    middle = torch.log((torch.sigmoid(upper) - torch.sigmoid(lower)).clamp(min=1e-12))
    return torch.where(x < -0.999, upper - F.softplus(upper), torch.where(x > 0.999, -F.softplus(lower), middle))


def expected_cost(mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """The entropy, in nats, of each pixel's discretised logistic: the coding cost the coder expects there."""
    levels = torch.linspace(-1, 1, LEVELS, device=mean.device, dtype=mean.dtype)
    log_probs = discretised_logistic_log_prob(levels, mean.unsqueeze(-1), log_scale.unsqueeze(-1))
    return -(log_probs.exp() * log_probs).sum(-1)


class PixelCoder(nn.Module):
    """A masked-convolution coder: a 7 x 7 type-A layer, residual 3 x 3 type-B layers, then each pixel's mean and
    log-scale per channel. Its outputs are (coding cost, expected cost) per image, means over pixels."""

    loss = "coding"

    def __init__(self, channels: int, image_size: int, width: int = 64, layers: int = 4):
        super().__init__()
        self.channels = channels
        self.first = MaskedConv2d("A", channels, width, 7)
        self.layers = nn.ModuleList(MaskedConv2d("B", width, width, 3) for _ in range(layers))
        self.head = nn.Conv2d(width, 2 * channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.first(x)
        for layer in self.layers:
            features = features + layer(F.relu(features))
        mean, log_scale = self.head(F.relu(features)).chunk(2, dim=1)
        log_scale = log_scale.clamp(min=-7.0)
        cost = -discretised_logistic_log_prob(x, mean, log_scale).flatten(1).mean(1)
        if self.training:  # the expected cost scores images; training needs only the coding cost
            return torch.stack([cost, torch.zeros_like(cost)], dim=1)
        expected = torch.cat([expected_cost(m, s).flatten(1).mean(1) for m, s in
                              zip(mean.split(ENTROPY_CHUNK), log_scale.split(ENTROPY_CHUNK), strict=True)])
        return torch.stack([cost, expected], dim=1)


def coding_loss(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean coding cost of the real images (label 0) of a batch; fakes never train the coder."""
    reals = labels == 0
    return output[reals, 0].mean() if reals.any() else output[:, 0].sum() * 0


@NETWORKS.register("oneclass", "lossless coder of real images only; scores the gap between coding cost and its "
                               "expectation (after ZED, ECCV 2024)")
def oneclass(channels: int, image_size: int, width: int = 64) -> nn.Module:
    return PixelCoder(channels, image_size, width)
