"""A convolutional variational autoencoder (Kingma & Welling 2014), a generator family without a discriminator.

Its fakes are the decoder's means for latents drawn from the prior: smooth, low-frequency images without a
GAN's up-sampling artefacts, the family detectors trained on GANs often miss. The encoder takes strided 4x4
convolutions (BatchNorm, LeakyReLU 0.2) down to the GANs' start size (7 for 28 px, 4 for 32 and 64 px) and a
linear layer to the posterior's mean and log-variance; the decoder mirrors it with bilinear 2x up-sampling and
3x3 convolutions (BatchNorm, ReLU), not transposed convolutions, so its fakes share no layer with DCGAN's.

The loss is the negative ELBO per image: the pixels' Bernoulli cross-entropy against the image in [0, 1] (the
usual choice for MNIST, kept for RGB for one loss across data sets) plus the KL divergence of the posterior from
N(0, I). The class-conditional variant (``cvae``, Sohn et al. 2015) gives both networks a label embedding: the
encoder beside its features, the decoder beside z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generators.dcgan import upsampling_plan
from generators.likelihood import LikelihoodModel


class VAE(LikelihoodModel):
    """``forward(z, labels)``: decoder means in [-1, 1]; ``training_loss``: the negative ELBO of a real batch."""

    def __init__(self, channels: int, image_size: int, nz: int, ngf: int, ndf: int, num_classes: int = 0):
        super().__init__()
        start, steps = upsampling_plan(image_size)
        self.nz, self.start = nz, start
        self.embed = nn.Embedding(num_classes, nz) if num_classes else None
        extra = nz if num_classes else 0
        encoder: list[nn.Module] = []
        width = channels
        for level in range(steps):
            wider = ndf * 2 ** level
            encoder += [nn.Conv2d(width, wider, 4, 2, 1, bias=False), nn.BatchNorm2d(wider), nn.LeakyReLU(0.2, True)]
            width = wider
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.posterior = nn.Linear(width * start * start + extra, 2 * nz)
        self.width = ngf * 2 ** (steps - 1)
        self.project = nn.Linear(nz + extra, self.width * start * start)
        decoder: list[nn.Module] = []
        width = self.width
        for _ in range(steps):
            narrower = max(width // 2, ngf)
            decoder += [nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(width, narrower, 3, 1, 1, bias=False),
                        nn.BatchNorm2d(narrower), nn.ReLU(True)]
            width = narrower
        self.decoder = nn.Sequential(*decoder, nn.Conv2d(width, channels, 3, 1, 1))

    def conditioned(self, vector: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([vector, self.embed(labels)], 1) if self.embed is not None else vector

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's mean and log-variance for images in [-1, 1]."""
        return self.posterior(self.conditioned(self.encoder(images), labels)).chunk(2, dim=1)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        hidden = self.project(self.conditioned(z, labels)).view(len(z), self.width, self.start, self.start)
        return self.decoder(F.relu(hidden))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode_logits(z, labels).sigmoid() * 2 - 1

    def training_noise(self, batch: int, generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        return {"epsilon": torch.randn(batch, self.nz, generator=generator, device=device)}

    def training_loss(self, real: torch.Tensor, labels: torch.Tensor | None,
                      epsilon: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO per image (nats), with its reconstruction and KL parts; z by the reparameterisation trick."""
        mean, log_variance = self.encode(real, labels)
        z = mean + (0.5 * log_variance).exp() * epsilon
        logits = self.decode_logits(z, labels)
        reconstruction = F.binary_cross_entropy_with_logits(logits, (real + 1) / 2, reduction="sum") / len(real)
        kl = 0.5 * (mean.pow(2) + log_variance.exp() - 1 - log_variance).sum() / len(real)
        return {"loss": reconstruction + kl, "loss_reconstruction": reconstruction, "loss_kl": kl}
