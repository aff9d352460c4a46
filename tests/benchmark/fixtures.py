"""Tiny data sets written in torchvision's own on-disk formats, for tests that must not need real data."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark import data


def idx_bytes(array: np.ndarray) -> bytes:
    """An array in the IDX format of the MNIST files (big-endian sizes, uint8 data)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def random_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), np.arange(count, dtype=np.uint8) % 10


def write_mnist(root: Path, folder: str = "MNIST", count: int = 20, gz: bool = False) -> dict[str, str]:
    """Write all four MNIST files under ``root/folder/raw``; returns {gz file name: md5} when ``gz``."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    md5s = {}
    for stem, seed in (("train", 0), ("t10k", 1)):
        images, labels = random_digits(count, seed)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{stem}-{kind}-ubyte"
            payload = idx_bytes(array)
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(payload))
                md5s[f"{name}.gz"] = hashlib.md5((raw / f"{name}.gz").read_bytes()).hexdigest()
            else:
                (raw / name).write_bytes(payload)
    return md5s


def write_cifar10(root: Path, count: int = 10) -> dict[str, str]:
    """Write CIFAR-10's pickled batches (one image per class per batch cycle); returns {file: md5}."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8), "labels": list(range(count))}
        (folder / name).write_bytes(pickle.dumps(batch))
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": classes}))
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def write_image(path: Path, array: np.ndarray, **save_options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save_options)
    return path


def write_image_folder(root: Path, classes=("cat", "dog"), per_class: int = 3, size: int = 16,
                       suffix: str = ".png", splits=("train", "test")) -> Path:
    """An image folder with split folders and class folders; class k's images are filled with value 40k."""
    for split in splits:
        for k, name in enumerate(classes):
            for i in range(per_class):
                pixels = np.full((size, size, 3), 40 * k + i, dtype=np.uint8)
                write_image(root / split / name / f"{i:04d}{suffix}", pixels, **({"quality": 75} if
                                                                                 suffix == ".jpg" else {}))
    return root


def write_digit_folder(root: Path, digits=(0, 1), per_class: int = 48) -> Path:
    """The first ``per_class`` embedded digits of each of ``digits`` per split, as PNGs in class folders: a
    labelled data set whose domain classifier trains in a second, for tests that need one but not its quality."""
    for split in ("train", "test"):
        images, labels = data.load("embedded", split).tensors()
        for digit in digits:
            for index, image in enumerate(images[labels == digit][:per_class]):
                write_image(root / split / str(digit) / f"{index:04d}.png", image[0].numpy())
    return root
