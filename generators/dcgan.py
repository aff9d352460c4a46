"""DCGAN (Radford et al. 2015) and its class-conditional variant, for 28, 32 and 64 px images.

The generator upsamples a latent vector with transposed convolutions (BatchNorm, ReLU, tanh output); the
discriminator mirrors it with strided convolutions (LeakyReLU 0.2). Both follow the data set's size and
channel count. The conditional variant embeds the label into G's input and adds a projection term to D's
logit (Miyato & Koyama 2018). Stabilisers that live in the models: spectral norm on D (which then drops
BatchNorm, as SN-GANs do) and the minibatch standard deviation feature (Karras et al. 2018).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from benchmark.errors import DeepbenchError

SEED_SIZES = (4, 7)  # the spatial size G starts from: 4 for 32 and 64 px, 7 for 28 px


def upsampling_plan(image_size: int) -> tuple[int, int]:
    """``(start size, number of 2x steps)`` so that start * 2**steps == image_size."""
    for steps in range(1, 7):
        if image_size % 2**steps == 0 and image_size // 2**steps in SEED_SIZES:
            return image_size // 2**steps, steps
    raise DeepbenchError(f"image size {image_size} is not supported by the GANs; pass --image-size 28, 32 or 64 "
                         f"(sizes 4 or 7 times a power of two)")


def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales, as in the DCGAN paper."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z (and a label, when conditional) -> image in [-1, 1]."""

    def __init__(self, channels: int, image_size: int, nz: int = 100, ngf: int = 64, num_classes: int = 0):
        super().__init__()
        start, steps = upsampling_plan(image_size)
        self.nz, self.num_classes = nz, num_classes
        self.embed = nn.Embedding(num_classes, nz) if num_classes else None
        width = ngf * 2 ** (steps - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz * (2 if num_classes else 1), width, start, 1, 0, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(steps - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.main(z[:, :, None, None])


class MinibatchStdDev(nn.Module):
    """Appends the batch's mean feature standard deviation as a channel, so D can see a collapsed batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = x.std(dim=0, unbiased=False).mean().expand(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, std], dim=1)


def strided_features(channels: int, image_size: int, ndf: int, batch_norm: bool) -> tuple[nn.Sequential, int, int]:
    """DCGAN's discriminator body: strided convs down to the generator's start size.

    Returns the body, its output channels and its output size.
    """
    start, steps = upsampling_plan(image_size)
    layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    width = ndf
    for _ in range(steps - 1):
        layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm2d(width * 2)] if batch_norm else []
        layers += [nn.LeakyReLU(0.2, inplace=True)]
        width *= 2
    return nn.Sequential(*layers), width, start


def spectrally_normalised(module: nn.Module) -> nn.Module:
    """Spectral norm (Miyato et al. 2018) on every conv, linear and embedding layer of ``module``."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Conv2d, nn.Linear, nn.Embedding)):
            setattr(module, name, apply_spectral_norm(child))
        else:
            spectrally_normalised(child)
    return module


class DCGANDiscriminator(nn.Module):
    """image (and label) -> (logit of "real", features used for feature matching)."""

    loss = "bce"

    def __init__(self, channels: int, image_size: int, ndf: int = 64, num_classes: int = 0,
                 spectral_norm: bool = False, minibatch_std: bool = False):
        super().__init__()
        self.features, width, start = strided_features(channels, image_size, ndf, batch_norm=not spectral_norm)
        self.minibatch_std = MinibatchStdDev() if minibatch_std else None
        width += int(minibatch_std)
        self.head = nn.Conv2d(width, 1, start, 1, 0, bias=False)  # DCGAN's final conv: one logit
        self.project = nn.Embedding(num_classes, width * start * start) if num_classes else None
        self.apply(init_dcgan_weights)
        if spectral_norm:
            spectrally_normalised(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)
        logit = self.head(h).flatten()
        if self.project is not None:
            logit = logit + (self.project(labels) * h.flatten(1)).sum(dim=1)
        return logit, h.flatten(1)
