"""CapsuleGAN (Jaiswal et al. 2018): the DCGAN generator against a capsule-network discriminator.

The discriminator is conv features, primary capsules and an output capsule layer with dynamic routing
(Sabour et al. 2017, in ``benchmark.capsules``); an output capsule's length is a probability. It has one
output capsule per class plus one for "fake" (two for unconditional data: real, fake), so routing has a
real choice to make and the conditional variant is the same model with more classes. It is trained with
the margin loss instead of binary cross-entropy (see ``generators.losses``).

Sizes follow CapsNet scaled to GAN inputs: strided convs bring 28/32/64 px down to 14-16 px, then 5x5
stride-2 primary capsules (16 types of 8-d) give 400-576 capsules routed into 16-d output capsules.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.capsules import DynamicRouting, PrimaryCapsules, capsule_lengths
from generators.dcgan import MinibatchStdDev, init_dcgan_weights, spectrally_normalised

PRIMARY_TYPES, PRIMARY_DIM, PRIMARY_KERNEL, OUTPUT_DIM = 16, 8, 5, 16


class CapsuleDiscriminator(nn.Module):
    """image -> (output capsule lengths (batch, classes + 1), conv features for feature matching)."""

    loss = "margin"

    def __init__(self, channels: int, image_size: int, ndf: int = 64, num_classes: int = 0,
                 spectral_norm: bool = False, minibatch_std: bool = False, routing_iterations: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        width, size = channels, image_size
        while size > 16:  # strided convs as in DCGAN's discriminator, down to CapsNet-like input sizes
            layers += [nn.Conv2d(width, ndf * 2, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            width, size = ndf * 2, size // 2
        self.features = nn.Sequential(*layers)
        self.minibatch_std = MinibatchStdDev() if minibatch_std else None
        self.primary = PrimaryCapsules(width + int(minibatch_std), PRIMARY_TYPES, PRIMARY_DIM, PRIMARY_KERNEL, 2)
        self.routing = DynamicRouting(self.primary.num_output_capsules(size, size), PRIMARY_DIM,
                                      max(num_classes, 1) + 1, OUTPUT_DIM, routing_iterations)
        self.features.apply(init_dcgan_weights)
        if spectral_norm:
            spectrally_normalised(self.features)
            spectrally_normalised(self.primary)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)
        return capsule_lengths(self.routing(self.primary(h))), h.flatten(1)
