"""Image data sets with a known shape: what every stage gets from ``benchmark.data.load``.

Two kinds share one interface: :class:`InMemoryImages` (MNIST, CIFAR-10, the embedded default: one uint8
tensor, so training reads memory, not files) and :class:`ImageFiles` (image folders, CelebA: decoded on
access). Both yield ``(uint8 tensor C x H x W, int label)`` and know ``channels``, ``image_size``,
``classes`` and a content ``fingerprint`` that keys cached statistics.

Channel and size conversion happen only when asked for (``channels=``, ``image_size=``): an image whose
shape disagrees with the data set's is an error that names the option, never a silent resize.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cached_property
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as F

from benchmark.errors import DeepbenchError
from benchmark.runtime import progress_bar, strict

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
_PIL_MODES = {1: "L", 3: "RGB"}
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes read as one channel; the rest as RGB (alpha dropped)
RESIZE_METHOD = "bilinear, antialiased (torchvision.transforms.v2.functional.resize)"


class UnreadableImage(DeepbenchError):
    """A file that does not decode as an image: skipped by ``ImageFiles.tensors`` unless ``--strict``."""


def check_image_batch(images, user: str) -> None:
    """Refuse anything but a uint8 (N, C, H, W) tensor with 1 or 3 channels, naming ``user`` (what takes it)."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        described = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images)
        raise DeepbenchError(f"{user} take a uint8 (N, C, H, W) tensor, got {described}")
    if images.shape[1] not in (1, 3):
        raise DeepbenchError(f"{user} take 1 or 3 channels, got {images.shape[1]}; pass --channels 1 or 3")


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Repeat gray to RGB or take RGB's ITU-R 601 luma, on a (..., C, H, W) uint8 tensor."""
    have = images.shape[-3]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(*images.shape[:-3], 3, *images.shape[-2:]).contiguous()
    if have == 3 and channels == 1:
        return F.rgb_to_grayscale(images, num_output_channels=1)
    raise DeepbenchError(f"cannot convert {have}-channel images to {channels} channels; pass --channels 1 or 3")


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize uint8 images with the one method every stage uses (see ``RESIZE_METHOD``)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.resize(images, list(size), interpolation=F.InterpolationMode.BILINEAR, antialias=True)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]: the range of a GAN generator's tanh, which every network here takes."""
    return images.float().div_(127.5).sub_(1.0)


def as_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """Normalise an ``image_size`` option: one int means a square."""
    if size is None:
        return None
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise DeepbenchError(f"image size {size} is not positive; pass --image-size N with N >= 1")
    return int(height), int(width)


class ImageDataset(Dataset):
    """Shared attributes and helpers of both data set kinds."""

    def __init__(self, description: str, labels: torch.Tensor, classes: list[str], channels: int,
                 image_size: tuple[int, int]):
        self.description = description
        self.labels = labels.long()
        self.classes = list(classes)
        self.channels = channels
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        height, width = self.image_size
        return (f"{type(self).__name__}({self.description}: {len(self)} images, {self.channels}x{height}x{width}, "
                f"{len(self.classes)} classes)")

    def tensors(self, progress: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as one uint8 (N, C, H, W) tensor, and the labels."""
        raise NotImplementedError

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over the images, labels, class names and shape: equal data, equal fingerprint."""
        digest = hashlib.sha256()
        digest.update(repr((self.classes, self.channels, self.image_size)).encode())
        digest.update(self.labels.numpy().tobytes())
        self._hash_content(digest)
        return digest.hexdigest()

    def _hash_content(self, digest) -> None:
        raise NotImplementedError


class InMemoryImages(ImageDataset):
    """A data set held as one uint8 tensor: indexing is free and training never decodes a file."""

    def __init__(self, description: str, images: torch.Tensor, labels: torch.Tensor, classes: list[str]):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        super().__init__(description, labels, classes, images.shape[1], tuple(images.shape[2:]))
        self.images = images

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def tensors(self, progress: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images, self.labels

    def subset(self, keep: torch.Tensor, labels: torch.Tensor, classes: list[str], description: str):
        """The rows where ``keep`` is true, relabelled."""
        return InMemoryImages(description, self.images[keep], labels, classes)

    def converted(self, channels: int | None, image_size: tuple[int, int] | None) -> InMemoryImages:
        """A copy with the channel count and size asked for (a no-op for those already matching)."""
        images = self.images
        if channels is not None:
            images = convert_channels(images, channels)
        if image_size is not None:
            images = resize(images, image_size)
        if images is self.images:
            return self
        return InMemoryImages(self.description, images, self.labels, self.classes)

    def _hash_content(self, digest) -> None:
        digest.update(self.images.contiguous().numpy().tobytes())


class ImageFiles(ImageDataset):
    """A data set of image files, decoded on access by Pillow (PNG, JPEG, and more).

    Every file must decode to ``channels`` x ``image_size`` unless conversion was asked for; the first
    file sets the expected shape when none is given.
    """

    def __init__(self, description: str, paths: list[Path], labels: torch.Tensor, classes: list[str],
                 channels: int | None = None, image_size: tuple[int, int] | None = None,
                 center_crop: bool = False):
        if not paths:
            raise DeepbenchError(f"{description}: no images found; image files end in {', '.join(IMAGE_SUFFIXES)}")
        self.paths = [Path(p) for p in paths]
        self.convert_channels = channels is not None
        self.convert_size = image_size is not None
        self.center_crop = center_crop
        first = self._first_readable(description, channels)
        super().__init__(description, labels, classes, channels or first.shape[0],
                         image_size or tuple(first.shape[1:]))

    def _first_readable(self, description: str, channels: int | None) -> torch.Tensor:
        """The first file that decodes sets the shape; unreadable ones before it are left to ``tensors``."""
        for path in self.paths:
            try:
                return self._decode(path, channels)
            except UnreadableImage:
                if strict():
                    raise
        raise DeepbenchError(f"{description}: none of its {len(self.paths)} images can be read; "
                             f"replace the files")

    def _decode(self, path: Path, channels: int | None) -> torch.Tensor:
        try:
            with Image.open(path) as image:
                image = image.convert(_PIL_MODES.get(channels) or _PIL_MODES[1 if image.mode in _GRAY_MODES else 3])
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise UnreadableImage(f"cannot read image {path} ({error}); remove or replace the file") from None
        image = F.pil_to_tensor(image)
        if self.center_crop:
            side = min(image.shape[-2:])
            image = F.center_crop(image, [side, side])
        return image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = self.paths[index]
        image = self._decode(path, self.channels if self.convert_channels else None)
        if self.convert_size:
            image = resize(image, self.image_size)
        if image.shape[0] != self.channels or tuple(image.shape[1:]) != self.image_size:
            height, width = self.image_size
            raise DeepbenchError(
                f"{path} is {image.shape[0]}x{image.shape[1]}x{image.shape[2]} but {self.description} is "
                f"{self.channels}x{height}x{width}; pass --channels and --image-size to convert explicitly")
        return image, int(self.labels[index])

    def tensors(self, progress: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode every file. Unreadable files (truncated, corrupt) are dropped from the set with one warning
        that counts them, so one bad file in 50,000 does not stop a run; under ``--strict`` they stop it."""
        images = torch.empty((len(self), self.channels, *self.image_size), dtype=torch.uint8)
        readable = torch.ones(len(self), dtype=torch.bool)
        for index in progress_bar(range(len(self)), show=progress, desc=f"decoding {self.description}", unit="img",
                                  leave=False):
            try:
                images[index] = self[index][0]
            except UnreadableImage:
                if strict():
                    raise
                readable[index] = False
        if not readable.all():
            self._drop_unreadable(readable)
            images = images[readable]
        return images, self.labels

    def _drop_unreadable(self, readable: torch.Tensor) -> None:
        skipped = [path for path, ok in zip(self.paths, readable.tolist(), strict=True) if not ok]
        log.warning("%s: skipped %d unreadable image%s (first: %s); remove or replace them, or pass --strict to "
                    "stop on them", self.description, len(skipped), "" if len(skipped) == 1 else "s", skipped[0])
        self.paths = [path for path, ok in zip(self.paths, readable.tolist(), strict=True) if ok]
        self.labels = self.labels[readable]

    def subset(self, keep: torch.Tensor, labels: torch.Tensor, classes: list[str], description: str):
        """The files where ``keep`` is true, relabelled."""
        paths = [p for p, k in zip(self.paths, keep.tolist(), strict=True) if k]
        return ImageFiles(description, paths, labels, classes,
                          self.channels if self.convert_channels else None,
                          self.image_size if self.convert_size else None, self.center_crop)

    def converted(self, channels: int | None, image_size: tuple[int, int] | None) -> ImageFiles:
        """A view that decodes to the channel count and size asked for."""
        if channels is None and image_size is None:
            return self
        return ImageFiles(self.description, self.paths, self.labels, self.classes,
                          channels or (self.channels if self.convert_channels else None),
                          image_size or (self.image_size if self.convert_size else None), self.center_crop)

    def _hash_content(self, digest) -> None:
        for path in self.paths:
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name for a stable order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
