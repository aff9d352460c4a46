"""The contract of a generator family trained without a discriminator (a VAE, a diffusion model).

Such a family's generator is a :class:`LikelihoodModel`: its ``forward(z, labels)`` samples images in [-1, 1]
from noise ``z`` as a GAN generator does (so sampling, grids, scores and the manifest are the same code for
every family), and it states its own training loss. The trainer draws the random tensors that loss needs for
the global batch from its checkpointed noise generator, as it draws a GAN's z, and keeps this rank's rows, so
a resumed or a distributed run follows a single uninterrupted one.
"""

from __future__ import annotations

import torch
from torch import nn


class LikelihoodModel(nn.Module):
    """A generator that trains on a loss of its own instead of against a discriminator."""

    def training_noise(self, batch: int, generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        """The random tensors of one global training batch, each with the batch as its first dimension."""
        raise NotImplementedError

    def training_loss(self, real: torch.Tensor, labels: torch.Tensor | None,
                      **noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": what training minimises, "loss_<part>": each of its parts}`` on ``real`` in [-1, 1]."""
        raise NotImplementedError


class TrainingLoss(nn.Module):
    """A model's ``training_loss`` as ``forward``: DistributedDataParallel averages the gradients of what runs
    through ``forward`` only."""

    def __init__(self, model: LikelihoodModel):
        super().__init__()
        self.model = model

    def forward(self, real: torch.Tensor, labels: torch.Tensor | None,
                noise: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model.training_loss(real, labels, **noise)
