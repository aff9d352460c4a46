"""JPEG format matching: fakes pass through the reals' JPEG settings, so "JPEG or not" separates nothing.

When the real images are JPEGs (CIFAR-10 in ``../shared/data``, CelebA) and the fakes are lossless PNGs, a
detector can learn "JPEG or not" instead of "real or fake". :func:`folder_jpeg_settings` reads the reals'
quantization tables and chroma subsampling (the quality is the IJG quality whose table matches), and
:func:`match_format` passes the fakes through the same settings with :func:`detectors.perturb.jpeg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, JpegImagePlugin

from benchmark.errors import DeepbenchError
from benchmark.images import ImageDataset, check_image_batch
from detectors.perturb import SUBSAMPLINGS, jpeg

_JPEG_MAGIC = b"\xff\xd8\xff"

# ITU-T T.81 Annex K.1 and K.2 base tables in natural (row-major) order, as libjpeg scales them by quality.
IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
             14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
             18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
IJG_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
               24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


@dataclass(frozen=True)
class JpegSettings:
    """How a JPEG was encoded, as far as re-encoding with Pillow at ``quality`` can reproduce it.

    ``quality`` is the IJG (libjpeg) quality whose luminance table is closest to the file's; ``exact`` says
    the file's tables are exactly libjpeg's at that quality (false for encoders with their own tables, where
    the quality is an estimate). ``subsampling`` is one of ``SUBSAMPLINGS``, or None for gray JPEGs.
    """

    quality: int
    subsampling: str | None
    exact: bool

    def __str__(self) -> str:
        return (f"JPEG quality {self.quality}{'' if self.exact else ' (estimated)'}, "
                f"{self.subsampling or 'gray'}")


def ijg_table(quality: int, base: tuple[int, ...] = IJG_LUMA) -> tuple[int, ...]:
    """libjpeg's quantization table for ``quality`` (``jpeg_set_quality`` with baseline tables, as Pillow uses)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(min(max((entry * scale + 50) // 100, 1), 255) for entry in base)


_LUMA_TABLES = {quality: np.array(ijg_table(quality)) for quality in range(1, 101)}  # each quality's is distinct


def estimate_quality(luma_table) -> tuple[int, bool]:
    """The IJG quality whose luminance table matches ``luma_table`` (64 entries, natural order), and whether
    it matches exactly; otherwise the one with the least sum of absolute differences (the lower on a tie)."""
    table = np.asarray(luma_table, dtype=np.int64)
    distances = {quality: int(np.abs(table - ijg).sum()) for quality, ijg in _LUMA_TABLES.items()}
    best = min(distances, key=lambda quality: (distances[quality], quality))
    return best, distances[best] == 0


def jpeg_settings(path: str | Path) -> JpegSettings | None:
    """The JPEG settings of the file at ``path``, or None when it is not a JPEG (PNG, any other file).

    A file is a JPEG when it starts with the JPEG marker bytes, so non-image files are None too; a JPEG
    Pillow cannot read, or one whose chroma subsampling Pillow cannot reproduce, is an error.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            if file.read(3) != _JPEG_MAGIC:
                return None
        with Image.open(path) as image:
            tables = image.quantization
            sampling = JpegImagePlugin.get_sampling(image)
            components = image.layers
    except OSError as error:
        raise DeepbenchError(f"cannot read JPEG {path} ({error}); remove or replace the file") from None
    if not tables or 0 not in tables:
        raise DeepbenchError(f"JPEG {path} has no luminance quantization table; remove or replace the file")
    quality, exact = estimate_quality(tables[0])
    if components == 1:
        return JpegSettings(quality, None, exact)
    if components != 3 or sampling not in range(len(SUBSAMPLINGS)):
        raise DeepbenchError(f"JPEG {path} has {components} components with a chroma subsampling other than "
                             f"{', '.join(SUBSAMPLINGS)}; format matching cannot reproduce it, re-encode the reals")
    exact = exact and 1 in tables and tuple(tables[1]) == ijg_table(quality, IJG_CHROMA)
    return JpegSettings(quality, SUBSAMPLINGS[sampling], exact)


def folder_jpeg_settings(paths, sample: int = 50) -> JpegSettings | None:
    """The JPEG settings shared by image files, from ``sample`` of them spread evenly over ``paths``.

    None when none of the sampled files is a JPEG; an error naming two files when they disagree (format
    matching needs one setting for all reals). Only the sample is read, so a disagreement outside it
    goes unseen: pass ``sample=len(paths)`` to read all.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise DeepbenchError("no image files to read JPEG settings from; check the data set's folder")
    if sample < 1:
        raise DeepbenchError(f"JPEG settings sample {sample} is not positive; pass a sample of 1 or more")
    picks = sorted(set(np.linspace(0, len(paths) - 1, min(sample, len(paths))).round().astype(int).tolist()))
    first_path, first = None, None
    for index in picks:
        settings = jpeg_settings(paths[index])
        if first_path is None:
            first_path, first = paths[index], settings
        elif settings != first:
            raise DeepbenchError(f"{first_path} is {first or 'not JPEG'} but {paths[index]} is "
                                 f"{settings or 'not JPEG'}; format matching needs one JPEG setting for all "
                                 f"real images, so re-encode them alike or evaluate without format matching")
    return first


def match_format(images: torch.Tensor, settings: JpegSettings | None) -> torch.Tensor:
    """Pass images (the fakes) through the reals' JPEG ``settings``; None (lossless reals) returns them as they are.

    Gray images ignore the subsampling; colour images with settings read from gray JPEGs are an error.
    """
    check_image_batch(images, "format matching")
    if settings is None:
        return images
    if images.shape[1] == 3 and settings.subsampling is None:
        raise DeepbenchError(f"the reals are gray JPEGs ({settings}) but the images have 3 channels; "
                             f"pass --channels 1 so both are gray")
    return jpeg(images, settings.quality, settings.subsampling)


def real_jpeg_settings(dataset: ImageDataset) -> JpegSettings | None:
    """The reals' JPEG settings when they are JPEG files; None for lossless or in-memory data."""
    paths = getattr(dataset, "paths", None)
    return folder_jpeg_settings(paths) if paths else None
