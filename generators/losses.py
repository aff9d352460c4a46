"""The adversarial losses, one pair per discriminator kind, so the training step stays model-agnostic.

``bce``: DCGAN's non-saturating loss on D's logit. ``margin``: Sabour et al.'s margin loss on capsule
lengths (CapsuleGAN); the last capsule means "fake", the others are the classes (one for unconditional
data). ``capsule_real``: the margin loss on one capsule whose length means "real" (the CapsuleGAN paper's
discriminator), with targets 1 for reals and 0 for fakes. ``hinge``: SNGAN's hinge loss on D's logit (Lim & Ye
2017; Miyato et al. 2018), G raising D's mean logit on its fakes. One-sided label smoothing (Salimans et al.
2016) lowers only the real targets, and has no meaning for the hinge loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.capsules import margin_loss
from benchmark.errors import DeepbenchError


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor,
                       fake_labels: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """D's loss on a real and a fake batch (``fake_labels`` are the labels G was asked for)."""
    if kind == "bce":
        return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1.0 - smoothing))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if kind == "capsule_real":
        return margin_loss(real, torch.full_like(real, 1.0 - smoothing)) + margin_loss(fake, torch.zeros_like(fake))
    if kind == "hinge":
        if smoothing:
            raise DeepbenchError("--label-smoothing applies to the bce and margin losses, not the hinge loss")
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    fake_index = torch.full_like(fake_labels, fake.shape[1] - 1)
    real_targets = F.one_hot(real_labels, real.shape[1]).to(real.dtype) * (1.0 - smoothing)
    return margin_loss(real, real_targets) + margin_loss(fake, fake_index)


def generator_loss(kind: str, fake: torch.Tensor, fake_labels: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss: D should take its fakes for real images of the asked class."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "capsule_real":
        return margin_loss(fake, torch.ones_like(fake))
    if kind == "hinge":
        return -fake.mean()
    return margin_loss(fake, fake_labels)


def real_probability(kind: str, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """D's probability that each image is a real one (of its class): D(x) and D(G(z)) in the logs."""
    if kind in ("bce", "hinge"):
        return torch.sigmoid(output)
    if kind == "capsule_real":
        return output[:, 0]
    return output.gather(1, labels[:, None]).squeeze(1)
