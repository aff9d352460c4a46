"""A synthetic data set on disk: the PNGs in ``generators/<gen>/fakes`` and the ``manifest.csv`` that lists them.

Readers trust neither alone. The manifest must name plain files of its own folder, each once, and the folder
must hold exactly those images, all readable: a hand-edited manifest cannot point outside the run, and a
folder that disagrees with its manifest is refused rather than half counted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from benchmark.errors import DeepbenchError
from benchmark.files import path_component
from benchmark.images import ImageFiles, list_images

MANIFEST = "manifest.csv"


def read_manifest(folder: str | Path) -> pd.DataFrame:
    """The manifest of ``folder``, checked against the images the folder holds."""
    folder = Path(folder)
    path = folder / MANIFEST
    again = "sample the fakes again with deepbench generate --resume --out RUN"
    if not path.is_file():
        raise DeepbenchError(f"{folder} has no {MANIFEST}; {again}")
    try:
        manifest = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DeepbenchError(f"{path} is not a readable CSV ({error}); {again}") from None
    if "file" not in manifest.columns or manifest.empty:
        raise DeepbenchError(f"{path} lists no files; {again}")
    names = manifest["file"].astype(str)
    for name in names:
        path_component(name, f"{path} names a file outside its folder:")
    listed, on_disk = set(names), {image.name for image in list_images(folder)}
    if len(listed) < len(names) or listed != on_disk:
        raise DeepbenchError(f"{folder} disagrees with its manifest ({len(names) - len(listed)} duplicate rows, "
                             f"{len(listed - on_disk)} listed files missing, {len(on_disk - listed)} unlisted "
                             f"images); {again}")
    return manifest


def load_fakes(folder: str | Path, channels: int, image_size: tuple[int, int]) -> tuple[torch.Tensor, pd.DataFrame]:
    """Every fake of ``folder`` in manifest order as uint8 (N, C, H, W), with the manifest's rows.

    The fakes must have the reals' shape: fakes of another data set are an error, never resized.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    files = ImageFiles(f"fakes {folder}", [folder / name for name in manifest["file"]],
                       torch.zeros(len(manifest)), ["fake"])
    if (files.channels, files.image_size) != (channels, tuple(image_size)):
        raise DeepbenchError(f"fakes in {folder} are {(files.channels, *files.image_size)}, the reals "
                             f"{(channels, *image_size)}; generate them again from this data set")
    images, _ = files.tensors()
    if len(images) != len(manifest):
        raise DeepbenchError(f"{len(manifest) - len(images)} fakes in {folder} cannot be read; sample the fakes "
                             f"again with deepbench generate --resume --out RUN")
    return images, manifest
