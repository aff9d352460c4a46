"""``folder:PATH``: any image folder, in the layout torchvision's ``ImageFolder`` reads.

``PATH`` may hold ``train/`` and ``test/`` split folders (as ``cifar10-jpeg`` in the shared data does);
without them the whole folder is the training split. Inside a split, class folders give the labels, as
in ``ImageFolder``; images lying directly in it form one class named after the folder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets.folder import find_classes, make_dataset

from benchmark.errors import DeepbenchError
from benchmark.images import IMAGE_SUFFIXES, ImageDataset, ImageFiles, list_images
from benchmark.sources import DATASETS, DatasetSpec, DataSource


def split_folder(path: Path, split: str) -> Path:
    """The folder holding ``split``: ``PATH/split`` when split folders exist, else ``PATH`` for train."""
    if not path.is_dir():
        raise DeepbenchError(f"image folder {path} does not exist; pass --dataset folder:PATH with an existing folder")
    if any((path / name).is_dir() for name in ("train", "test")):
        if not (path / split).is_dir():
            raise DeepbenchError(f"image folder {path} has no {split}/ folder; add {path / split} "
                                 f"or use a folder without split folders")
        return path / split
    if split != "train":
        raise DeepbenchError(f"image folder {path} has no {split}/ folder, so it holds training images only; "
                             f"put held-out images in {path / split} and training images in {path / 'train'}")
    return path


def read_folder(spec: DatasetSpec, root: Path, split: str, download: bool) -> ImageDataset:
    """Read one split of an image folder; ``root`` and ``download`` do not apply to folders."""
    folder = split_folder(spec.path, split)
    description = f"folder:{spec.path} ({split})"
    loose = list_images(folder)
    has_class_folders = any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir())
    if loose or not has_class_folders:
        if loose and has_class_folders:
            raise DeepbenchError(f"{folder} mixes images and class folders; move the loose images into a class folder")
        return ImageFiles(description, loose, torch.zeros(len(loose)), [spec.path.name])
    classes, class_to_index = find_classes(str(folder))
    samples = make_dataset(str(folder), class_to_index, extensions=IMAGE_SUFFIXES, allow_empty=True)
    paths = [Path(path) for path, _ in samples]
    return ImageFiles(description, paths, torch.tensor([label for _, label in samples]), classes)


def _locate_folder(root: Path) -> Path:
    return root  # a folder spec names its own path; ``deepbench datasets`` lists image folders under the root


DATASETS.register("folder", "an image folder: folder:PATH (optional train/ and test/, optional class folders)")(
    DataSource(read_folder, _locate_folder))


def image_folders(root: Path) -> list[Path]:
    """Folders directly under ``root`` that read as image folders with train/ or test/ splits."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and any((p / s).is_dir() for s in ("train", "test")))
