"""SNGAN (Miyato et al. 2018): a ResNet generator against a spectrally normalised ResNet discriminator, hinge loss.

A family whose fakes carry another fingerprint than DCGAN's: the generator up-samples by nearest-neighbour
interpolation and 3x3 convolutions instead of transposed convolutions (whose uneven overlap leaves DCGAN's
checkerboard), and the discriminator is residual, spectrally normalised everywhere and trained with the hinge
loss. The blocks are those of the ResNet the paper trains on CIFAR-10 (after Gulrajani et al. 2017): the
generator starts from a linear layer to a 4x4 (7x7 for 28 px) map and doubles it per block (BatchNorm, ReLU,
up-sampling, 3x3 convolutions, a 1x1 shortcut); the discriminator's first block puts its convolutions before
the pooling and pools its shortcut first, then come down-sampling blocks to the generator's start size and one
block without, then ReLU and a sum over positions into a linear logit.

Deviations, each ours: widths follow ``--ngf``/``--ndf`` (4 * ngf channels in G's blocks and 2 * ndf in D's: the
paper's 256 and 128 at the default 64 for colour images; for gray ones the defaults are 8 and 16, see
:func:`generators.registry.sngan_defaults`); the class-conditional variant concatenates a label embedding to z,
as ``cdcgan`` does, where conditional SNGANs use conditional BatchNorm, and adds the projection term in D (Miyato
& Koyama 2018); training keeps deepbench's one D step per G step, where the paper takes five, with the paper's
Adam betas (0, 0.9) but batch 32, not 64, and an EMA of G (:data:`generators.registry.SNGAN_TRAINING`). Spectral
norm is always on in D, and there is no minibatch standard deviation layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from benchmark.errors import DeepbenchError
from generators.dcgan import upsampling_plan


class GeneratorBlock(nn.Module):
    """BN, ReLU, 2x nearest up-sampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: up-sampling and a 1x1 conv."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.norm1, self.norm2 = nn.BatchNorm2d(inputs), nn.BatchNorm2d(outputs)
        self.conv1, self.conv2 = nn.Conv2d(inputs, outputs, 3, 1, 1), nn.Conv2d(outputs, outputs, 3, 1, 1)
        self.shortcut = nn.Conv2d(inputs, outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResNetGenerator(nn.Module):
    """z (and a label, when conditional) -> image in [-1, 1]."""

    def __init__(self, channels: int, image_size: int, nz: int = 100, ngf: int = 64, num_classes: int = 0):
        super().__init__()
        start, steps = upsampling_plan(image_size)
        self.nz, self.num_classes, self.start, self.width = nz, num_classes, start, 4 * ngf
        self.embed = nn.Embedding(num_classes, nz) if num_classes else None
        self.linear = nn.Linear(nz * (2 if num_classes else 1), start * start * self.width)
        self.blocks = nn.Sequential(*(GeneratorBlock(self.width, self.width) for _ in range(steps)))
        self.out = nn.Sequential(nn.BatchNorm2d(self.width), nn.ReLU(), nn.Conv2d(self.width, channels, 3, 1, 1),
                                 nn.Tanh())
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        h = self.linear(z).view(-1, self.width, self.start, self.start)
        return self.out(self.blocks(h))


class DiscriminatorBlock(nn.Module):
    """ReLU, 3x3 conv, ReLU, 3x3 conv, 2x average pooling (when down-sampling); shortcut: 1x1 conv, pooling.
    The first block (``first``) skips the leading ReLU and pools its shortcut before the 1x1 conv, as the paper's
    optimised block does."""

    def __init__(self, inputs: int, outputs: int, downsample: bool, first: bool = False):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(inputs, outputs, 3, 1, 1), nn.Conv2d(outputs, outputs, 3, 1, 1)
        self.shortcut = nn.Conv2d(inputs, outputs, 1) if inputs != outputs or downsample else None
        self.downsample, self.first = downsample, first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        shortcut = x
        if self.first and self.downsample:
            shortcut = F.avg_pool2d(shortcut, 2)
        if self.shortcut is not None:
            shortcut = self.shortcut(shortcut)
        if self.downsample:
            h = F.avg_pool2d(h, 2)
            if not self.first:
                shortcut = F.avg_pool2d(shortcut, 2)
        return h + shortcut


class ResNetDiscriminator(nn.Module):
    """image (and label) -> (hinge logit of "real", pooled features used for feature matching)."""

    loss = "hinge"

    def __init__(self, channels: int, image_size: int, ndf: int = 64, num_classes: int = 0,
                 spectral_norm_layers: bool = True, minibatch_std: bool = False):
        super().__init__()
        if minibatch_std:
            raise DeepbenchError("sngan has no minibatch standard deviation layer; drop --minibatch-std")
        _, steps = upsampling_plan(image_size)
        width = 2 * ndf
        blocks = [DiscriminatorBlock(channels, width, True, first=True)]
        blocks += [DiscriminatorBlock(width, width, True) for _ in range(steps - 1)]
        blocks += [DiscriminatorBlock(width, width, False)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(width, 1)
        self.project = nn.Embedding(num_classes, width) if num_classes else None
        for module in list(self.modules()):
            if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
                nn.init.xavier_uniform_(module.weight)
                spectral_norm(module)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        features = F.relu(self.blocks(x)).sum(dim=(2, 3))
        logit = self.linear(features).squeeze(1)
        if self.project is not None:
            logit = logit + (self.project(labels) * features).sum(dim=1)
        return logit, features
