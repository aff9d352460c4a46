"""The built-in data sources: torchvision's data sets in its own on-disk layout, and the embedded default.

Each source is a :class:`DataSource` in :data:`DATASETS`: ``read(spec, root, split, download)`` returns an
:class:`~benchmark.images.ImageDataset`, and ``locate(root)`` says where the files would lie, so that a
missing data set's error and ``deepbench datasets`` name the exact paths looked at.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd
from torchvision.datasets.utils import check_integrity, extract_archive

from benchmark.errors import DeepbenchError
from benchmark.images import ImageDataset, ImageFiles, InMemoryImages
from benchmark.registry import Registry
from benchmark.runtime import cache_root

SPLITS = ("train", "test")
ASSETS = Path(__file__).parent / "assets"  # what ships with the package: the embedded digits and their classifier
EMBEDDED_FILE = ASSETS / "embedded-mnist.npz"
MNIST_CLASSES = [str(digit) for digit in range(10)]


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed spec: the source's name, its folder (for ``folder``) and the class subset asked for."""

    name: str
    path: Path | None = None
    classes: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"folder:{self.path}" if self.name == "folder" else self.name
        return f"{text}:{','.join(self.classes)}" if self.classes else text


@dataclass(frozen=True)
class DataSource:
    """How to read one split of a data set, and where under a data root its files would lie."""

    read: Callable[[DatasetSpec, Path, str, bool], ImageDataset]
    locate: Callable[[Path], Path]
    # A mirrored image is as likely as the image itself (natural photos); digits, clothes with print and
    # aligned faces with text are not, so a detector trained on flips would learn a distribution that never occurs.
    flip_invariant: bool = False

    def found(self, root: Path) -> bool:
        return self.locate(root).exists()


DATASETS = Registry("data set")


def missing(name: str, looked_for: Path | str, fix: str = "") -> DeepbenchError:
    """The one-line error for a data set that is not on disk."""
    fix = fix or "pass --data-root DIR that holds it, or --download to let torchvision fetch it"
    return DeepbenchError(f"{name} not found: looked for {looked_for}; {fix}")


def read_embedded(spec: DatasetSpec, root: Path, split: str, download: bool) -> ImageDataset:
    """The MNIST subset shipped in the package (see README: the first 12,000 train / 2,000 test images)."""
    if not EMBEDDED_FILE.is_file():
        raise missing("embedded data", EMBEDDED_FILE, "reinstall deepbench (pip install -e .)")
    with np.load(EMBEDDED_FILE) as arrays:
        images = torch.from_numpy(arrays[f"{split}_images"]).unsqueeze(1)
        labels = torch.from_numpy(arrays[f"{split}_labels"]).long()
    return InMemoryImages(f"embedded ({split})", images, labels, MNIST_CLASSES)


DATASETS.register("embedded", "real MNIST subset shipped inside the package (12,000 train / 2,000 test)")(
    DataSource(read_embedded, lambda root: EMBEDDED_FILE))


def _mnist_source(dataset_class: type[tvd.MNIST], classes: list[str]) -> DataSource:
    """MNIST and Fashion-MNIST from torchvision's ``<Class>/raw`` files, or offline from its md5-verified .gz."""
    folder = dataset_class.__name__

    def locate(root: Path) -> Path:
        return root / folder / "raw"

    def read(spec: DatasetSpec, root: Path, split: str, download: bool) -> ImageDataset:
        stem = "train" if split == "train" else "t10k"
        raw = locate(root)
        extracted = [raw / f"{stem}-images-idx3-ubyte", raw / f"{stem}-labels-idx1-ubyte"]
        if download:
            dataset_class(str(root), train=split == "train", download=True)
        elif not all(p.is_file() for p in extracted):
            root = _extract_verified(raw, dataset_class) or root
        try:
            dataset = dataset_class(str(root), train=split == "train", download=False)
        except RuntimeError:
            raise missing(spec.name, f"{extracted[0]}[.gz]") from None
        except (AssertionError, TypeError, ValueError) as error:
            raise DeepbenchError(f"{spec.name} files in {raw} are corrupt ({error}); delete them and pass "
                                 f"--download, or restore them") from None
        return InMemoryImages(f"{spec.name} ({split})", dataset.data.unsqueeze(1), dataset.targets, classes)

    return DataSource(read, locate)


def _extract_verified(raw: Path, dataset_class: type[tvd.MNIST]) -> Path | None:
    """Extract the .gz files (all four: torchvision checks for every split) after checking their md5.

    They are extracted into the cache, never beside the archives: a data root may be shared or read-only. Each
    goes first into a folder of this process's own and then into place by one rename, so that a second process
    reading the same data (two runs started together) never sees a half-written file, and an interrupted
    extraction leaves nothing that looks finished. Returns the root to read from, or None when the archives are
    absent.
    """
    archives = [(raw / name, md5) for name, md5 in dataset_class.resources]
    if not all(path.is_file() for path, _ in archives):
        return None
    key = hashlib.sha256(str(raw.resolve()).encode()).hexdigest()[:16]
    target = cache_root() / "extracted" / key / raw.parent.name / "raw"
    for path, md5 in archives:
        if not check_integrity(str(path), md5):
            raise DeepbenchError(f"{path} fails its md5 check ({md5}); replace it or pass --download")
        if not (target / path.stem).is_file():
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target, prefix=".extracting-") as private:
                extract_archive(str(path), private)
                os.replace(Path(private) / path.stem, target / path.stem)
    return target.parent.parent


DATASETS.register("mnist", "MNIST handwritten digits, 28x28 gray, 10 classes (torchvision layout MNIST/raw)")(
    _mnist_source(tvd.MNIST, MNIST_CLASSES))
DATASETS.register("fashion-mnist", "Fashion-MNIST, 28x28 gray, 10 classes (torchvision layout FashionMNIST/raw)")(
    _mnist_source(tvd.FashionMNIST, list(tvd.FashionMNIST.classes)))


def _locate_cifar10(root: Path) -> Path:
    return root / tvd.CIFAR10.base_folder


def read_cifar10(spec: DatasetSpec, root: Path, split: str, download: bool) -> ImageDataset:
    """CIFAR-10 from torchvision's pickled batches (md5-checked by torchvision)."""
    try:
        dataset = tvd.CIFAR10(str(root), train=split == "train", download=download)
    except RuntimeError:
        hint = ""
        folders = sorted(p for p in root.glob("cifar*") if p.is_dir() and (p / split).is_dir())
        if folders:
            hint = f"; an image folder exists at {folders[0]}: pass --dataset folder:{folders[0]}"
        raise missing("cifar10", _locate_cifar10(root),
                      f"pass --data-root DIR holding {tvd.CIFAR10.base_folder}, or --download{hint}") from None
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    return InMemoryImages(f"cifar10 ({split})", images, torch.tensor(dataset.targets), list(dataset.classes))


DATASETS.register("cifar10", "CIFAR-10, 32x32 RGB, 10 classes (torchvision layout cifar-10-batches-py)")(
    DataSource(read_cifar10, _locate_cifar10, flip_invariant=True))


def _locate_celeba(root: Path) -> Path:
    return root / "celeba" / "img_align_celeba"


def read_celeba(spec: DatasetSpec, root: Path, split: str, download: bool) -> ImageDataset:
    """CelebA aligned faces, centre-cropped to 178x178 (the usual GAN crop), split by list_eval_partition."""
    if download:
        tvd.CelebA(str(root), split="all", target_type=[], download=True)
    images, partition = _locate_celeba(root), root / "celeba" / "list_eval_partition.txt"
    if not images.is_dir() or not partition.is_file():
        raise missing("celeba", f"{images} and {partition}")
    wanted = {"train": "0", "test": "2"}[split]
    names = [line.split()[0] for line in partition.read_text().splitlines()
             if len(line.split()) == 2 and line.split()[1] == wanted]
    return ImageFiles(f"celeba ({split})", [images / name for name in names], torch.zeros(len(names)),
                      ["face"], center_crop=True)


DATASETS.register("celeba", "CelebA aligned faces, RGB, centre-cropped to 178x178 (torchvision layout celeba/)")(
    DataSource(read_celeba, _locate_celeba))
