"""Data set specs: one string names the data every stage works on.

``mnist``, ``fashion-mnist``, ``cifar10`` and ``celeba`` are read from torchvision's own layout on disk;
``folder:PATH`` is an image folder (optional ``train/`` and ``test/`` split folders, optional class
folders); ``embedded`` is a real MNIST subset that ships inside the package and needs nothing else.
Any spec takes a class subset after a colon: ``cifar10:dog``, ``cifar10:cat,dog``, ``mnist:0``,
``folder:PATH:dog`` (by class name or index; the subset is relabelled 0..k-1 in the order given).

Sources register in ``benchmark.sources.DATASETS``, as timm's models do with ``@register_model``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from benchmark import folders  # noqa: F401  (registers the folder source)
from benchmark.errors import DeepbenchError
from benchmark.images import ImageDataset, as_size
from benchmark.runtime import cache_root
from benchmark.sources import DATASETS, SPLITS, DatasetSpec

DEFAULT_DATASET = "embedded"


def resolve_root(data_root: str | os.PathLike | None = None) -> Path:
    """``--data-root``, else ``$DEEPBENCH_DATA``, else ``~/.cache/deepbench/data``."""
    if data_root is not None:
        return Path(data_root).expanduser()
    if os.environ.get("DEEPBENCH_DATA"):
        return Path(os.environ["DEEPBENCH_DATA"]).expanduser()
    return cache_root() / "data"


def parse_spec(text: str) -> DatasetSpec:
    """Parse a spec string, failing with the list of known names."""
    text = text.strip()
    name, _, rest = text.partition(":")
    name = name.lower()
    if name == "folder":
        if not rest:
            raise DeepbenchError("folder spec needs a path: pass --dataset folder:PATH")
        path, classes = Path(rest).expanduser(), ""
        head, sep, tail = rest.rpartition(":")
        if sep and not path.exists() and Path(head).expanduser().is_dir():
            path, classes = Path(head).expanduser(), tail
        return DatasetSpec("folder", path, _split_classes(classes, text))
    if name not in DATASETS:
        raise DeepbenchError(f"unknown data set {name!r} in {text!r}; known: {', '.join(DATASETS.names())} "
                             f"(folder:PATH for an image folder)")
    return DatasetSpec(name, None, _split_classes(rest, text))


def _split_classes(text: str, spec: str) -> tuple[str, ...]:
    if not text:
        return ()
    classes = tuple(c.strip() for c in text.split(","))
    if not all(classes):
        raise DeepbenchError(f"empty class name in {spec!r}; separate classes with commas, e.g. cifar10:cat,dog")
    return classes


def load(spec: str | DatasetSpec = DEFAULT_DATASET, split: str = "train",
         data_root: str | os.PathLike | None = None, download: bool = False, channels: int | None = None,
         image_size: int | tuple[int, int] | None = None) -> ImageDataset:
    """Read one split of a data set as ``(uint8 image, label)`` pairs.

    ``channels`` (1 or 3) and ``image_size`` convert explicitly; without them images keep their shape.
    Folder specs are read from their own path; the others from ``resolve_root(data_root)``.
    """
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if split not in SPLITS:
        raise DeepbenchError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if channels not in (None, 1, 3):
        raise DeepbenchError(f"channels must be 1 or 3, got {channels}; pass --channels 1 or 3")
    dataset = DATASETS.get(spec.name).read(spec, resolve_root(data_root), split, download)
    if spec.classes:
        dataset = select_classes(dataset, spec.classes, str(spec), split)
    return dataset.converted(channels, as_size(image_size))


def flip_invariant(spec: str | DatasetSpec) -> bool:
    """Whether the data set's images are as likely mirrored as not, so that a detector may train on flips."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    return DATASETS.get(spec.name).flip_invariant


def select_classes(dataset: ImageDataset, wanted: tuple[str, ...], description: str, split: str) -> ImageDataset:
    """Keep the classes named (or indexed) in ``wanted`` and relabel them 0..k-1 in that order."""
    indices = [_class_index(dataset.classes, token, description) for token in wanted]
    if len(set(indices)) != len(indices):
        raise DeepbenchError(f"{description} names a class twice; list each class once")
    relabel = torch.full((len(dataset.classes),), -1, dtype=torch.long)
    relabel[torch.tensor(indices)] = torch.arange(len(indices))
    keep = relabel[dataset.labels] >= 0
    classes = [dataset.classes[i] for i in indices]
    return dataset.subset(keep, relabel[dataset.labels[keep]], classes, f"{description} ({split})")


def _class_index(classes: list[str], token: str, description: str) -> int:
    lowered = [c.lower() for c in classes]
    if token.lower() in lowered:
        return lowered.index(token.lower())
    if token.isdigit() and int(token) < len(classes):
        return int(token)
    raise DeepbenchError(f"unknown class {token!r} in {description}; known classes: {', '.join(classes)} "
                         f"(or indices 0-{len(classes) - 1})")


RECORD_KEYS = ("dataset", "channels", "image_size", "data_root", "fingerprint")  # DataConfig.record's, in order


@dataclass(frozen=True)
class DataConfig:
    """One data set as the stages read it: the spec, the folder holding it, whether it may be downloaded, and
    the channels and size its images are converted to. Travels as one object, so a stage that needs the reals
    takes one argument instead of five, and a run's record says in one place which reals its fakes follow."""

    dataset: str = DEFAULT_DATASET
    data_root: str | os.PathLike | None = None
    download: bool = False
    channels: int | None = None
    image_size: int | tuple[int, int] | None = None

    def load(self, split: str = "train") -> ImageDataset:
        """One split, converted to the configured channels and size."""
        return load(self.dataset, split, self.data_root, self.download, self.channels, self.image_size)

    def record(self, train: ImageDataset) -> dict:
        """What a run records of its reals (``run.json``): the spec, the shape its training split came out in,
        the resolved data root and the split's fingerprint, so a resumed or later stage finds the same data."""
        values = (self.dataset, train.channels, list(train.image_size), str(resolve_root(self.data_root)),
                  train.fingerprint)
        return dict(zip(RECORD_KEYS, values, strict=True))

    def shaped(self, channels: int | None, image_size: int | tuple[int, int] | None) -> DataConfig:
        """The same data converted to another shape (the shape of a run's fakes, say)."""
        return replace(self, channels=channels, image_size=image_size)

    def whole(self) -> DataConfig:
        """The same data set without its class subset (``cifar10:dog`` -> ``cifar10``)."""
        spec = parse_spec(self.dataset)
        return replace(self, dataset=str(DatasetSpec(spec.name, spec.path)))
