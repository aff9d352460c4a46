"""A small denoising diffusion model (Ho et al. 2020) sampled with DDIM (Song et al. 2021): a family whose fakes
carry no generator network's up-sampling fingerprint, the kind cross-family detection asks about.

Training is Ho et al.'s: a U-Net predicts the noise added to an image at a uniformly drawn step of 1,000, with
the squared error as loss (optionally weighted by Min-SNR-gamma, Hang et al. 2023), under the cosine schedule of
Nichol & Dhariwal (2021). Sampling runs DDIM's deterministic update (eta = 0) over ``sampling_steps`` evenly
spaced steps (50 for colour images, 100 for gray ones: ``generators.registry.ddpm_defaults``), starting from the
noise ``z`` (one value per pixel), with the predicted clean image clipped to [-1, 1] at each step, as both
reference implementations do. :func:`ancestral_sample` is DDPM's own stochastic sampler over all 1,000 steps,
kept to check DDIM against it. The trainer keeps an EMA of the weights by default (decay 0.999), and fakes come
from it.

The U-Net is sized for CPUs: widths ``ngf``, 2 ``ngf`` and 2 ``ngf`` at the full, half and quarter size (one
residual block each, GroupNorm and SiLU, the step's sinusoidal embedding added inside every block), self-attention
in the middle, and the skip connections of a U-Net. Ho et al. use four levels, two blocks each, widths from 128 and
attention at 16 px. The class-conditional variant (``cddpm``) adds a label embedding to the step's; it has no
classifier-free guidance.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import DeepbenchError
from generators.likelihood import LikelihoodModel

TRAINING_STEPS = 1000
Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]  # (x_t, t, labels) -> noise


def cosine_alpha_bar(steps: int = TRAINING_STEPS, offset: float = 0.008) -> torch.Tensor:
    """The share of signal left after each step, ᾱ_1 ... ᾱ_T (Nichol & Dhariwal 2021, eq. 17), with each step's
    beta clipped at 0.999 as there."""
    f = torch.cos((torch.arange(steps + 1, dtype=torch.float64) / steps + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """The transformer's sinusoidal embedding of the step number, as Ho et al. use it."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


def groups(channels: int) -> int:
    return math.gcd(channels, 8)


class ResidualBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv, plus the step's embedding; GroupNorm, SiLU, 3x3 conv; a 1x1 shortcut if needed."""

    def __init__(self, inputs: int, outputs: int, embedding: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups(inputs), inputs), nn.Conv2d(inputs, outputs, 3, 1, 1)
        self.step = nn.Linear(embedding, outputs)
        self.norm2, self.conv2 = nn.GroupNorm(groups(outputs), outputs), nn.Conv2d(outputs, outputs, 3, 1, 1)
        self.shortcut = nn.Conv2d(inputs, outputs, 1) if inputs != outputs else nn.Identity()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.step(embedding)[:, :, None, None]
        return self.shortcut(x) + self.conv2(F.silu(self.norm2(h)))


class SelfAttention(nn.Module):
    """One head of self-attention over the positions, with a residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups(channels), channels)
        self.qkv, self.out = nn.Conv2d(channels, 3 * channels, 1), nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).transpose(-1, -2).unbind(1)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(n, c, h, w)
        return x + self.out(attended)


class UNet(nn.Module):
    """(x_t, t, labels) -> the predicted noise, for images whose side is a multiple of 4."""

    def __init__(self, channels: int, width: int, num_classes: int = 0):
        super().__init__()
        embedding = 4 * width
        self.width = width
        self.step_mlp = nn.Sequential(nn.Linear(width, embedding), nn.SiLU(), nn.Linear(embedding, embedding))
        self.label = nn.Embedding(num_classes, embedding) if num_classes else None
        self.conv_in = nn.Conv2d(channels, width, 3, 1, 1)
        self.down = nn.ModuleList([ResidualBlock(width, width, embedding), ResidualBlock(width, 2 * width, embedding),
                                   ResidualBlock(2 * width, 2 * width, embedding)])
        self.pool = nn.ModuleList([nn.Conv2d(width, width, 3, 2, 1), nn.Conv2d(2 * width, 2 * width, 3, 2, 1)])
        self.middle = nn.ModuleList([ResidualBlock(2 * width, 2 * width, embedding), SelfAttention(2 * width),
                                     ResidualBlock(2 * width, 2 * width, embedding)])
        self.up = nn.ModuleList([ResidualBlock(4 * width, 2 * width, embedding),
                                 ResidualBlock(4 * width, 2 * width, embedding),
                                 ResidualBlock(3 * width, width, embedding)])
        self.unpool = nn.ModuleList([nn.Conv2d(2 * width, 2 * width, 3, 1, 1) for _ in range(2)])
        self.out = nn.Sequential(nn.GroupNorm(groups(width), width), nn.SiLU(), nn.Conv2d(width, channels, 3, 1, 1))
        nn.init.zeros_(self.out[-1].weight)  # the first prediction is "no noise", as in Ho et al.'s code
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        embedding = self.step_mlp(step_embedding(t, self.width))
        if self.label is not None:
            embedding = embedding + self.label(labels)
        h = self.conv_in(x)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, embedding)
            skips.append(h)
            if level < len(self.pool):
                h = self.pool[level](h)
        h = self.middle[2](self.middle[1](self.middle[0](h, embedding)), embedding)
        for level, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], 1), embedding)
            if level < len(self.unpool):
                h = self.unpool[level](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(h)


def predicted_clean(x: torch.Tensor, noise: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """The clean image that ``x`` at signal share ``signal`` and the predicted ``noise`` imply, clipped to [-1, 1]."""
    return ((x - (1 - signal).sqrt() * noise) / signal.sqrt()).clamp(-1, 1)


def min_snr_weight(signal: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma's weight of a noise-prediction loss at signal share ``signal`` (Hang et al. 2023, eq. 6 with
    the noise target): min(SNR, gamma) / SNR, SNR = signal / (1 - signal). The nearly clean steps, whose noise is
    hard to see and whose gradients conflict with the noisy steps', weigh less; every step with SNR <= gamma
    weighs 1."""
    snr = signal / (1 - signal)
    return snr.clamp(max=gamma) / snr


def ddim_sample(denoiser: Denoiser, noise: torch.Tensor, labels: torch.Tensor | None, alpha_bar: torch.Tensor,
                steps: int) -> torch.Tensor:
    """DDIM with eta = 0 (Song et al. 2021, eq. 12) from ``noise`` at the last step down to an image in [-1, 1],
    visiting ``steps`` evenly spaced steps of the training schedule."""
    times = torch.linspace(len(alpha_bar) - 1, 0, steps).round().long().tolist()
    x = noise
    for index, t in enumerate(times):
        signal = alpha_bar[t]
        following = alpha_bar[times[index + 1]] if index + 1 < len(times) else torch.ones_like(signal)
        predicted = denoiser(x, torch.full((len(x),), t, device=x.device), labels)
        clean = predicted_clean(x, predicted, signal)
        predicted = (x - signal.sqrt() * clean) / (1 - signal).sqrt()  # the noise the clipped image implies
        x = following.sqrt() * clean + (1 - following).sqrt() * predicted
    return x


def ancestral_sample(denoiser: Denoiser, noise: torch.Tensor, labels: torch.Tensor | None, alpha_bar: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """DDPM's ancestral sampler (Ho et al. 2020, Algorithm 2) over every step, with the posterior's variance
    (beta-tilde) and the predicted clean image clipped as DDIM's is."""
    x = noise
    for t in range(len(alpha_bar) - 1, -1, -1):
        signal = alpha_bar[t]
        previous = alpha_bar[t - 1] if t > 0 else torch.ones_like(signal)
        beta = 1 - signal / previous
        predicted = denoiser(x, torch.full((len(x),), t, device=x.device), labels)
        clean = predicted_clean(x, predicted, signal)
        mean = (previous.sqrt() * beta * clean + (1 - beta).sqrt() * (1 - previous) * x) / (1 - signal)
        if t > 0:
            variance = beta * (1 - previous) / (1 - signal)
            mean = mean + variance.sqrt() * torch.randn(x.shape, generator=generator, device=x.device)
        x = mean
    return x


# Fakes per DDIM chain on a CPU: the U-Net's activations for 500 fakes (50 MB a layer at 28 px) overflow the
# caches; 500 a chain ran at 4.6 images/s at 2 threads, 50 at 8.5, with the same fakes (benchmarks/ddim_chunk.py).
SAMPLING_CHUNK = 50


class Diffusion(LikelihoodModel):
    """``forward(z, labels)``: DDIM samples from the noise ``z`` (one value per pixel); ``training_loss``: the
    noise-prediction error of a real batch at random steps."""

    memory_layout = torch.contiguous_format  # the trainer's layout: GroupNorm is slow on channels_last (train.py)

    def __init__(self, channels: int, image_size: int, width: int, num_classes: int = 0, sampling_steps: int = 50,
                 snr_gamma: float | None = None):
        super().__init__()
        self.snr_gamma = snr_gamma
        if image_size % 4:
            raise DeepbenchError(f"ddpm's U-Net halves the image twice; {image_size} px is not a multiple of 4")
        self.shape, self.sampling_steps = (channels, image_size, image_size), sampling_steps
        self.unet = UNet(channels, width, num_classes)
        self.register_buffer("alpha_bar", cosine_alpha_bar(), persistent=False)  # derived, not learned

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """On a CPU in chunks of :data:`SAMPLING_CHUNK` fakes, each taken through every DDIM step before the next:
        the same images as one call on the whole batch, at twice the rate of 500 at a time."""
        chunk = SAMPLING_CHUNK if z.device.type == "cpu" else max(len(z), 1)
        noise = torch.split(z.view(len(z), *self.shape), chunk)
        classes = torch.split(labels, chunk) if labels is not None else [None] * len(noise)
        return torch.cat([ddim_sample(self.unet, part, part_labels, self.alpha_bar, self.sampling_steps)
                          for part, part_labels in zip(noise, classes, strict=True)])

    def training_noise(self, batch: int, generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        return {"time": torch.randint(len(self.alpha_bar), (batch,), generator=generator, device=device),
                "epsilon": torch.randn(batch, *self.shape, generator=generator, device=device)}

    def training_loss(self, real: torch.Tensor, labels: torch.Tensor | None, time: torch.Tensor,
                      epsilon: torch.Tensor) -> dict[str, torch.Tensor]:
        """Ho et al.'s simplified loss, the mean squared error of the predicted noise, each image's weighted by
        :func:`min_snr_weight` when ``snr_gamma`` is set."""
        signal = self.alpha_bar[time][:, None, None, None]
        noisy = signal.sqrt() * real + (1 - signal).sqrt() * epsilon
        errors = (self.unet(noisy, time, labels) - epsilon).square().flatten(1).mean(1)
        if self.snr_gamma:
            errors = errors * min_snr_weight(signal.flatten(), self.snr_gamma)
        return {"loss": errors.mean()}
