"""Perturbations for robustness evaluation.

A detector that only works on pristine pixels is of little use: Wang et al. 2020 ("CNN-generated images are
surprisingly easy to spot... for now") report accuracy under JPEG compression, blur, noise and resizing, each
applied alike to real and fake test images. :func:`perturb` applies one such perturbation by a stable name
(``PERTURBATIONS``), so that reports and the CLI name the same thing.

Format matching (:mod:`detectors.formats`) uses :func:`jpeg` to give fakes the reals' JPEG settings.

All functions take and return uint8 ``(N, C, H, W)`` tensors with C = 1 or 3. JPEG goes through Pillow
(libjpeg) in memory, not ``torchvision.io.encode_jpeg``: Pillow lets us choose the chroma subsampling,
which torchvision's encoder does not, and it is the same library that reads the tables format matching copies.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from benchmark.errors import DeepbenchError
from benchmark.images import RESIZE_METHOD, check_image_batch, resize
from benchmark.registry import Registry

SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")  # Pillow's names; get_sampling returns their index, -1 for none


def _check_images(images: torch.Tensor) -> None:
    check_image_batch(images, "perturbations")


# --- the perturbations -------------------------------------------------------------------------------------------

def jpeg(images: torch.Tensor, quality: int, subsampling: str | None = "4:2:0") -> torch.Tensor:
    """Encode each image as a JPEG with Pillow at ``quality`` (1-100) and ``subsampling``, then decode it.

    ``subsampling`` is one of ``SUBSAMPLINGS``; 4:2:0 is libjpeg's default and what Wang et al. got from
    Pillow. Gray images have one component and so no subsampling: the option is ignored for them, and
    ``None`` is accepted only for them.
    """
    _check_images(images)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise DeepbenchError(f"JPEG quality {quality!r} is not an integer from 1 to 100")
    color = images.shape[1] == 3
    if color and subsampling not in SUBSAMPLINGS:
        raise DeepbenchError(f"JPEG subsampling {subsampling!r} is not one of {', '.join(SUBSAMPLINGS)}")
    options = {"format": "JPEG", "quality": quality, **({"subsampling": subsampling} if color else {})}
    pixels = images.cpu().permute(0, 2, 3, 1).numpy()  # N, H, W, C
    out = np.empty_like(pixels)
    for index, image in enumerate(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image if color else image[..., 0]).save(buffer, **options)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[index] = np.asarray(decoded).reshape(image.shape)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(images.device)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels and a 2*ceil(3 sigma)+1 kernel, reflect-padded.

    The kernel covers +-3 sigma, beyond which the Gaussian's weight is negligible (torchvision's own
    default kernel for a sigma is smaller, so we name it). Reflect padding needs images larger than
    half the kernel.
    """
    _check_images(images)
    if not sigma > 0:
        raise DeepbenchError(f"blur sigma {sigma!r} is not positive")
    size = 2 * math.ceil(3 * sigma) + 1
    if min(images.shape[-2:]) <= size // 2:
        raise DeepbenchError(f"blur with sigma {sigma} needs images over {size // 2} pixels a side, got "
                             f"{tuple(images.shape[-2:])}; use a smaller sigma or larger --image-size")
    return F.gaussian_blur(images, kernel_size=[size, size], sigma=[float(sigma), float(sigma)])


def gaussian_noise(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Add i.i.d. Gaussian noise of ``std`` pixel values (of 0-255), then round and clip to 0-255.

    The noise comes from a local ``torch.Generator`` seeded with ``seed`` on the CPU, so the same call gives
    the same pixels on any device and the global RNG is untouched. It is drawn for the whole batch at once:
    callers that evaluate in batches should vary the seed per batch so batches do not share one pattern.
    Clipping lowers the effective std of pixels near 0 and 255.
    """
    _check_images(images)
    if not std >= 0:
        raise DeepbenchError(f"noise std {std!r} is negative or not a number")
    generator = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(images.shape, generator=generator) * float(std)
    noisy = images.float() + noise.to(images.device)
    return noisy.round_().clamp_(0, 255).to(torch.uint8)


def downscale_upscale(images: torch.Tensor, factor: float = 0.5) -> torch.Tensor:
    """Resize to ``factor`` of the size (rounded, at least 1 pixel) and back to the original size.

    Both steps use the project's one resize method (``benchmark.images.RESIZE_METHOD``): bilinear with
    antialiasing, which low-pass filters on the way down (so detail above the new Nyquist rate is averaged
    away, not aliased) and is plain bilinear interpolation on the way up.
    """
    _check_images(images)
    if not 0 < factor <= 1:
        raise DeepbenchError(f"resize factor {factor!r} is not in (0, 1]")
    height, width = images.shape[-2:]
    small = (max(1, round(height * factor)), max(1, round(width * factor)))
    return resize(resize(images, small), (height, width))


# --- the named table ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Perturbation:
    """One named perturbation: ``apply(images, seed)``; the seed matters only to random ones."""

    name: str
    description: str
    apply: Callable[[torch.Tensor, int], torch.Tensor]


PERTURBATION_REGISTRY = Registry("perturbation")


def _register(name: str, description: str, apply) -> None:
    PERTURBATION_REGISTRY.register(name, description)(Perturbation(name, description, apply))


_register("none", "no perturbation (the images as they are)", lambda images, seed: images)
for _quality in (95, 75, 50):
    _register(f"jpeg{_quality}", f"JPEG quality {_quality}, 4:2:0 chroma subsampling (Pillow/libjpeg)",
              lambda images, seed, q=_quality: jpeg(images, q, "4:2:0"))
for _sigma in (1, 2):
    _register(f"blur{_sigma}", f"Gaussian blur, sigma {_sigma} px, kernel {2 * math.ceil(3 * _sigma) + 1}",
              lambda images, seed, s=_sigma: gaussian_blur(images, s))
for _std in (5, 10):
    _register(f"noise{_std}", f"Gaussian noise, std {_std}/255 of the range, seeded",
              lambda images, seed, s=_std: gaussian_noise(images, s, seed))
_register("resize0.5", f"downscale to 0.5 and upscale back; {RESIZE_METHOD} both ways",
          lambda images, seed: downscale_upscale(images, 0.5))

PERTURBATIONS: tuple[str, ...] = tuple(PERTURBATION_REGISTRY.names())


def perturb(images: torch.Tensor, name: str, seed: int = 0) -> torch.Tensor:
    """Apply the perturbation called ``name`` (one of ``PERTURBATIONS``); ``none`` returns ``images`` itself."""
    perturbation = PERTURBATION_REGISTRY.get(name)
    _check_images(images)
    return perturbation.apply(images, seed)
