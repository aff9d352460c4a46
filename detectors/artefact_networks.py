"""Detectors whose input or receptive field targets generation artefacts rather than content: ``npr``, ``lpd``,
``srm`` and ``patch``.

The detectors the field built to generalise across generators train from scratch like ``cnn``; what differs is
what they are allowed to see. ``npr``, ``lpd`` and ``srm`` hand ``cnn``'s own network a fixed residual of the
image instead of the image, so a comparison with ``cnn`` measures the input alone; ``patch`` scores every
9 x 9 patch and averages, so it cannot learn a digit's global shape. Each is registered in
``detectors.networks.NETWORKS`` and trains, calibrates and evaluates through the same ``Detector``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors.networks import NETWORKS, SmallCNN, conv_block


def neighbouring_pixel_residual(images: torch.Tensor) -> torch.Tensor:
    """``x - up(down(x))`` with nearest-neighbour resampling by 2: zero wherever a 2 x 2 block repeats its corner,
    which is what a generator's last nearest or transposed-convolution up-sampling leaves behind."""
    down = F.interpolate(images, scale_factor=0.5, mode="nearest")
    return images - F.interpolate(down, size=images.shape[-2:], mode="nearest")


def local_pixel_dependency(images: torch.Tensor) -> torch.Tensor:
    """Each pixel minus the median of its eight neighbours (3 x 3, the centre masked, edges reflected): how far a
    pixel departs from what its surroundings predict, which up-sampling and denoising make too small."""
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect")
    windows = padded.unfold(2, 3, 1).unfold(3, 3, 1).flatten(-2)  # (N, C, H, W, 9)
    neighbours = windows[..., [0, 1, 2, 3, 5, 6, 7, 8]].sort(dim=-1).values
    return images - neighbours[..., 3:5].mean(dim=-1)  # the median of eight: the mean of the middle two


SRM_KERNELS = torch.tensor([  # Fridrich and Kodovsky's rich-model residuals, as Zhou et al. 2018 chose three
    [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]],
    [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
], dtype=torch.float32) / torch.tensor([4.0, 12.0, 2.0]).view(3, 1, 1)


class ResidualCNN(nn.Module):
    """``cnn``'s network on a fixed residual of the image (``residual`` maps C channels to ``expansion`` x C)."""

    loss = "bce"

    def __init__(self, residual, channels: int, image_size: int, width: int = 64, expansion: int = 1):
        super().__init__()
        self.residual = residual
        self.network = SmallCNN(channels * expansion, image_size, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.residual(x))


class SRMResidual(nn.Module):
    """The three SRM high-pass filters on every channel: fixed weights, never trained (a buffer, not a parameter)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.register_buffer("kernels", SRM_KERNELS.repeat(channels, 1, 1).unsqueeze(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernels.to(x.dtype), padding=2, groups=self.channels)


class PatchScorer(nn.Module):
    """A logit for every 9 x 9 patch (four unstrided 3 x 3 convolutions, then 1 x 1 ones), averaged over the image.

    With a receptive field of 9 pixels, nothing it learns can depend on where strokes lie in the image, only on
    local texture; averaging patch logits, rather than pooling features, makes the image's score the mean of
    what each patch says.
    """

    loss = "bce"

    def __init__(self, channels: int, image_size: int, width: int = 64):
        super().__init__()
        layers = conv_block(channels, width, 1)
        for _ in range(3):
            layers += conv_block(width, width, 1)
        self.features = nn.Sequential(*layers, nn.Conv2d(width, 2 * width, 1), nn.ReLU(inplace=True))
        self.patch_logit = nn.Conv2d(2 * width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_logit(self.features(x)).mean(dim=(1, 2, 3))


@NETWORKS.register("npr", "cnn on neighbouring-pixel residuals x - up(down(x)) (Tan et al., CVPR 2024)")
def npr(channels: int, image_size: int, width: int = 64) -> nn.Module:
    """NPR: Tan, Zhao, Wei, Gu, Liu and Wei, "Rethinking the up-sampling operations in CNN-based generative
    network for generalizable deepfake detection", CVPR 2024."""
    return ResidualCNN(neighbouring_pixel_residual, channels, image_size, width)


@NETWORKS.register("lpd", "cnn on local pixel dependency: pixel minus its neighbours' median (FerretNet, 2025)")
def lpd(channels: int, image_size: int, width: int = 64) -> nn.Module:
    """Local pixel dependency, after FerretNet (NeurIPS 2025): each pixel minus the median of its masked 3 x 3
    neighbourhood. FerretNet's own body is a dilated depthwise network; ``cnn``'s body here isolates the input."""
    return ResidualCNN(local_pixel_dependency, channels, image_size, width)


@NETWORKS.register("srm", "cnn on three fixed SRM high-pass residuals (Fridrich and Kodovsky 2012)")
def srm(channels: int, image_size: int, width: int = 64) -> nn.Module:
    """SRM residuals: Fridrich and Kodovsky, "Rich models for steganalysis of digital images", IEEE TIFS 2012;
    the three filters of Zhou et al., "Learning rich features for image manipulation detection", CVPR 2018."""
    return ResidualCNN(SRMResidual(channels), channels, image_size, width, expansion=3)


@NETWORKS.register("patch", "scores every 9x9 patch and averages the logits (after LaDeDa, 2024)")
def patch(channels: int, image_size: int, width: int = 64) -> nn.Module:
    """Patch-level scoring with a 9 x 9 receptive field, after LaDeDa: Cavia, Horwitz, Reiss and Hoshen, "Real-time
    deepfake detection in the real-world", 2024."""
    return PatchScorer(channels, image_size, width)
