"""Fakes made elsewhere, imported into a run as a generator of their own.

A folder of images from any generator (a diffusion model, a GAN of a paper, an image API) becomes
``generators/<name>/fakes`` like the fakes deepbench samples: PNGs in the reals' shape and a ``manifest.csv``.
Each manifest row names its source file, that file's original size and format, and the sha256 of the whole
sorted source list (in the column where a sampled set has its checkpoint's hash), so every figure computed
on the set says which images it came from. There is no checkpoint: the set is what it is.

Images of another size are resized (bilinear, antialiased) and other channel counts converted, and the
manifest says so; nothing is silently cropped.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image
from torchvision.transforms.functional import to_pil_image

from benchmark import data
from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST
from benchmark.files import path_component, write_csv
from benchmark.images import RESIZE_METHOD
from benchmark.rundir import UNION, RunDir
from generators.sample import replace_folder

IMPORTED = "imported"  # the manifest's checkpoint column for imported sets


@dataclass
class ImportedSet:
    name: str
    fakes: Path
    count: int
    source: dict  # folder, files, sha256 of the sorted file list, original sizes and formats, resize


def source_description(name: str, folder: Path, image_size: tuple[int, int]) -> dict:
    """What ``run.json`` records of the images of ``folder`` as they are, with the resize to ``image_size``
    they need. A bad folder or name fails here, before anything is written."""
    path_component(name, "fake set name")
    if UNION in name:
        raise DeepbenchError(f"fake set name {name!r} holds {UNION!r}, which names a union of generators "
                             f"(--train-on a{UNION}b); pass another name, e.g. {name.replace(UNION, '-')}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DeepbenchError(f"--fakes {name}={folder}: no such folder; pass a folder of images")
    files = data.load(f"folder:{folder}", "train")
    sizes, formats = Counter(), Counter()
    for path in files.paths:
        try:
            with Image.open(path) as image:
                sizes[f"{image.width}x{image.height}"] += 1
                formats[image.format or path.suffix.lstrip(".").upper()] += 1
        except (OSError, SyntaxError):  # counted here; decoding skips it with a warning, or stops under --strict
            formats["unreadable"] += 1
    listing = "\n".join(str(path.relative_to(folder)) for path in sorted(files.paths))
    target = f"{image_size[1]}x{image_size[0]}"
    resized = sorted(size for size in sizes if size != target)
    return {"folder": str(folder.resolve()), "files": len(files.paths),
            "sha256": hashlib.sha256(listing.encode()).hexdigest(), "sizes": dict(sizes), "formats": dict(formats),
            "resized": f"{', '.join(resized)} to {target}, {RESIZE_METHOD}" if resized else None}


def refuse_existing(run: RunDir, names: list[str], force: bool) -> None:
    """A set of these names in the run is replaced only with ``force``."""
    existing = [name for name in names if run.generator(name).exists()]
    if existing and not force:
        raise DeepbenchError(f"{run.generator(existing[0])} exists; pass --force to replace it, or another name")


def import_fakes(run: RunDir, name: str, folder: Path, channels: int, image_size: tuple[int, int],
                 force: bool = False, source: dict | None = None) -> ImportedSet:
    """Write the images of ``folder`` into the run as the fakes of generator ``name``, converted to ``channels``
    x ``image_size``; ``source`` is :func:`source_description`'s record of them, when the caller has it."""
    source = source or source_description(name, folder, image_size)
    target = run.fakes(name)
    refuse_existing(run, [name], force)
    if run.generator(name).exists():
        run.discard([name])  # its fakes and everything computed from them
    converted = data.load(f"folder:{folder}", "train", channels=channels, image_size=tuple(image_size))
    images, _ = converted.tensors()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    rows = []
    for index, (image, path) in enumerate(zip(images, converted.paths, strict=True)):
        file = f"{index:06d}.png"
        to_pil_image(image).save(partial / file, format="PNG")
        rows.append({"file": file, "label": None, "class": None, "seed": None, "index": index, "generator": name,
                     "step": None, "checkpoint": IMPORTED, "checkpoint_sha256": source["sha256"],
                     "source": str(Path(path).relative_to(folder))})
    write_csv(partial / MANIFEST, pd.DataFrame(rows))
    replace_folder(partial, target)
    return ImportedSet(name, target, len(rows), source)


def import_into_run(run_dir: str | Path, name: str, folder: str | Path, force: bool = False) -> ImportedSet:
    """Add the images of ``folder`` to an existing run as generator ``name``, in the run's image shape.

    They then sit beside the run's own generators: ``deepbench detect --run R --resume`` evaluates the finished
    detectors on them and trains those not yet trained on them, so the cross-generator matrix has them in both
    directions; ``deepbench report`` scores them. ``run.json`` gets an ``import`` stage that repeats the run's
    reals (so later stages read the same data) and records the folder's provenance.
    """
    run = RunDir(Path(run_dir))
    if not run.run_json.exists():
        raise DeepbenchError(f"{run.root} is not a run (no run.json); create one with deepbench generate, or use "
                             f"deepbench evaluate --reals SPEC --fakes {name}={folder} --out {run.root}")
    reals = run.generate_config()
    image_size = tuple(reals["image_size"])
    source = source_description(name, Path(folder), image_size)
    refuse_existing(run, [name], force)
    config = {**{key: reals.get(key) for key in data.RECORD_KEYS}, "generators": [name], "checkpoint": "",
              "sources": {name: source}}
    run.start("import", config, seed=0)
    imported = import_fakes(run, name, Path(folder), reals["channels"], image_size, force, source)
    run.finish("import")
    return imported
