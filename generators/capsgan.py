"""CapsuleGAN (Jaiswal et al. 2018): the DCGAN generator against a capsule-network discriminator, in two designs.

``capsgan``, ours: the discriminator is conv features, primary capsules and an output capsule layer with dynamic routing
(Sabour et al. 2017, in ``benchmark.capsules``); an output capsule's length is a probability. It has one
output capsule per class plus one for "fake" (two for unconditional data: real, fake), so routing has a
real choice to make and the conditional variant is the same model with more classes. It is trained with
the margin loss instead of binary cross-entropy (see ``generators.losses``).

Sizes follow CapsNet scaled to GAN inputs: strided convs bring 28/32/64 px down to 14-16 px, then 5x5
stride-2 primary capsules (16 types of 8-d) give 400-576 capsules routed into 16-d output capsules.

``capsgan-paper``: the paper's design (:class:`PaperCapsuleDiscriminator`), CapsNet itself with one output
capsule, for the comparison of issue "the capsule question" (``benchmark/suites/capsule-question.toml``).
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.capsules import DynamicRouting, PrimaryCapsules, capsule_lengths
from benchmark.errors import DeepbenchError
from generators.dcgan import MinibatchStdDev, init_dcgan_weights, spectrally_normalised

PRIMARY_TYPES, PRIMARY_DIM, PRIMARY_KERNEL, OUTPUT_DIM = 16, 8, 5, 16


class CapsuleCritic(nn.Module):
    """What both capsule discriminators share: conv ``features``, an optional minibatch standard deviation
    channel, ``primary`` capsules and dynamic ``routing``, whose capsule lengths are the output."""

    features: nn.Sequential
    minibatch_std: MinibatchStdDev | None
    primary: PrimaryCapsules
    routing: DynamicRouting

    def initialise(self, spectral_norm: bool) -> None:
        """DCGAN's initialisation of the convolutions; spectral norm on them when asked for."""
        self.features.apply(init_dcgan_weights)
        if spectral_norm:
            spectrally_normalised(self.features)
            spectrally_normalised(self.primary)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)
        return capsule_lengths(self.routing(self.primary(h))), h.flatten(1)


class CapsuleDiscriminator(CapsuleCritic):
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
        self.initialise(spectral_norm)


PAPER_SIZES = (28, 32)  # MNIST and CIFAR-10, the paper's data; CapsNet's 9x9 kernels are sized for them


class PaperCapsuleDiscriminator(CapsuleCritic):
    """image -> (the length of its one output capsule, D's probability that the image is real; conv features).

    CapsuleGAN's discriminator (Jaiswal et al. 2018, Section 3) is Sabour et al.'s CapsNet (2017, Section 4)
    with a single output capsule whose length is the probability that the input is real, trained with the margin
    loss: D's targets are T = 1 for reals and T = 0 for fakes, and G minimises the margin loss of its fakes
    against T = 1 (the non-saturating form; loss kind ``capsule_real`` in :mod:`generators.losses`). The layers
    are CapsNet's: a 9x9 stride-1 convolution with 256 channels, 9x9 stride-2 primary capsules of 32 types of
    8 dimensions (1,152 capsules from 28 px, 2,048 from 32 px), and dynamic routing (3 iterations) into one
    16-dimensional capsule.

    Deviations, each ours: the widths follow ``--ndf`` (4 * ndf channels and ndf / 2 capsule types: CapsNet's
    256 and 32 at the default 64), so tests can build small ones; the first convolution is followed by a
    LeakyReLU (0.2) and BatchNorm, as in a DCGAN discriminator, where CapsNet has a ReLU; routing detaches its
    non-final iterations, as everywhere in deepbench (``benchmark.capsules``); ``--spectral-norm`` and
    ``--minibatch-std`` work as in the other discriminators. It takes 28 and 32 px only, the sizes CapsNet's
    kernels were chosen for, and no class labels.
    """

    loss = "capsule_real"

    def __init__(self, channels: int, image_size: int, ndf: int = 64, num_classes: int = 0,
                 spectral_norm: bool = False, minibatch_std: bool = False, routing_iterations: int = 3):
        super().__init__()
        if image_size not in PAPER_SIZES:
            raise DeepbenchError(f"capsgan-paper is the paper's discriminator for 28 and 32 px images, not "
                                 f"{image_size}; pass --image-size 28 or 32, or use capsgan")
        width, types = 4 * ndf, max(ndf // 2, 1)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 9, 1), nn.LeakyReLU(0.2, inplace=True)]
        layers += [] if spectral_norm else [nn.BatchNorm2d(width)]
        self.features = nn.Sequential(*layers)
        self.minibatch_std = MinibatchStdDev() if minibatch_std else None
        self.primary = PrimaryCapsules(width + int(minibatch_std), types, PRIMARY_DIM, 9, 2)
        size = image_size - 8
        self.routing = DynamicRouting(self.primary.num_output_capsules(size, size), PRIMARY_DIM, 1, OUTPUT_DIM,
                                      routing_iterations)
        self.initialise(spectral_norm)
