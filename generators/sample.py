"""Sampling a synthetic data set: lossless PNGs at the data's size and a manifest that says where each came from.

The fakes folder is written beside its final place and renamed into it at the end, so ``fakes/`` is either
the previous complete set or the new complete set, never half of one.

Under torchrun the batches are dealt out to the ranks round by round; each rank draws every batch's noise
(cheap) but runs the generator only on its own, and rank 0 gathers the images and writes them, so the set is
the one a single process writes, byte for byte, N times as fast on N GPUs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torchvision.transforms.v2.functional import to_pil_image

from benchmark import distributed
from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST
from benchmark.files import file_digest, load_checkpoint, write_csv
from benchmark.runtime import progress_bar
from benchmark.versions import PROTOCOLS
from generators.registry import GAN, GANConfig, create_gan, sampling_options


@dataclass
class LoadedGenerator:
    gan: GAN
    network: torch.nn.Module  # the EMA generator when training kept one
    checkpoint: Path
    sha256: str
    step: int


def load_gan(checkpoint: str | Path, sampling: dict | None = None) -> tuple[dict, GAN]:
    """A training checkpoint (``last.pt`` or ``best.pt``) and the GAN it trained, built anew: the caller loads the
    weights it needs (the generator's, the EMA generator's or the discriminator's). ``sampling`` replaces options
    that change how fakes are drawn, not the weights (``generators.registry.SAMPLING_OPTIONS``)."""
    state = load_checkpoint(checkpoint)
    if not str(state.get("kind", "")).startswith("generator:"):
        raise DeepbenchError(f"{checkpoint} holds {state.get('kind')!r}, not a generator; pass a checkpoint "
                             f"from generators/<name>/checkpoints/")
    spec = state["gan"]
    return state, create_gan(spec["name"], spec["channels"], spec["image_size"], spec["num_classes"],
                             GANConfig(**{**spec["config"], **(sampling or {})}))


def load_generator(checkpoint: str | Path, device: torch.device | str = "cpu",
                   sampling: dict | None = None) -> LoadedGenerator:
    """Rebuild a generator from a training checkpoint (``last.pt`` or ``best.pt``), with ``sampling``'s options
    (see :func:`load_gan`)."""
    checkpoint = Path(checkpoint)
    state, gan = load_gan(checkpoint, sampling)
    weights = state["generator"]
    if state.get("ema"):
        weights = {key.removeprefix("module."): value for key, value in state["ema"].items()
                   if key.startswith("module.")}
    gan.generator.load_state_dict(weights)
    network = gan.generator.to(device).eval()
    return LoadedGenerator(gan, network, checkpoint, file_digest(checkpoint), state["step"])


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8 with the rounding ``torchvision.utils.save_image`` uses."""
    return images.add(1).mul(127.5).add(0.5).clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def sample_fakes(loaded: LoadedGenerator, out_dir: str | Path, num_samples: int, seed: int = 0,
                 batch_size: int = 500, classes: list[str] | None = None, progress: bool | None = None) -> pd.DataFrame:
    """Write ``num_samples`` PNG fakes and ``manifest.csv`` into ``out_dir``; conditional labels cycle evenly.

    The set is written into ``<out_dir>.partial`` (restarted from scratch when a killed run left one) and
    only then put in ``out_dir``'s place, so readers never see half a set.
    """
    if num_samples < 1:
        raise DeepbenchError(f"--num-samples must be at least 1, got {num_samples}")
    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    main, world = distributed.is_main(), distributed.world_size()
    if main:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    gan, device = loaded.gan, next(loaded.network.parameters()).device
    noise = torch.Generator().manual_seed(seed)
    starts = range(0, num_samples, batch_size)
    rows = []
    bar = progress_bar(total=len(starts), show=progress, desc=f"sampling {gan.name}", unit="batch")
    for first in range(0, len(starts), world):  # one round: batch first + r for rank r
        mine = torch.empty(0, gan.channels, gan.image_size, gan.image_size, dtype=torch.uint8)
        for batch in range(first, min(first + world, len(starts))):
            start = starts[batch]
            count = min(batch_size, num_samples - start)
            z = torch.randn(count, gan.config.nz, generator=noise).to(device)
            if batch == first + distributed.rank():
                labels = cycled_labels(gan, start, count)
                mine = to_uint8(loaded.network(z, None if labels is None else labels.to(device))).cpu()
        images = distributed.gather_rows(mine)
        bar.update(min(world, len(starts) - first))
        if main:
            rows += _write_images(images, starts[first], partial, loaded, seed, classes)
    bar.close()
    manifest = pd.DataFrame(rows)  # empty on ranks other than 0
    if main:
        write_csv(partial / MANIFEST, manifest)
        replace_folder(partial, out_dir)
    distributed.barrier()  # the set is in place before any rank reads it
    return manifest


def cycled_labels(gan: GAN, start: int, count: int) -> torch.Tensor | None:
    """The class labels of fakes ``start`` to ``start + count - 1`` of a conditional generator (sample ``i``
    has class ``i mod num_classes``, so every class gets an equal share); None for an unconditional one."""
    return torch.arange(start, start + count) % gan.num_classes if gan.conditional else None


def _write_images(images: torch.Tensor, start: int, folder: Path, loaded: LoadedGenerator, seed: int,
                  classes: list[str] | None) -> list[dict]:
    """Save images ``start``, ``start + 1``, ... as PNGs in ``folder``; their manifest rows."""
    gan, rows = loaded.gan, []
    labels = cycled_labels(gan, start, len(images))
    # how the fakes were drawn, where the checkpoint alone does not say (ddpm's DDIM steps): the manifest's
    # digest keys the cached metrics, so fakes of one checkpoint at another step count are scored anew
    sampler = sampling_options(gan.config)
    for offset, image in enumerate(images):
        index = start + offset
        name = f"{index:06d}.png"
        to_pil_image(image).save(folder / name, format="PNG")  # 1 channel stays gray (make_grid would not)
        label = int(labels[offset]) if labels is not None else None
        rows.append({"file": name, "label": label,
                     "class": classes[label] if classes and label is not None else None,
                     "seed": seed, "index": index, "generator": gan.name, "step": loaded.step,
                     "checkpoint": loaded.checkpoint.name, "checkpoint_sha256": loaded.sha256,
                     "sampling_protocol": PROTOCOLS["sampling"], **sampler})
    return rows


def replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` in ``target``'s place: the old folder is renamed aside first and deleted last, so a kill at
    any point leaves a complete set (old or new) or none, which the next ``generate --resume`` samples again."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
