"""The real-vs-fake data a detector sees: balanced training and validation sets, and held-out test sets.

A generator's fakes are split once, by a seeded permutation, into 70% training, 10% validation and 20% test
(``FAKE_SPLITS``). Training and validation reals come from the data set's training split (disjoint from
each other); test reals from its test split, which no detector ever trains on. Validation is carved from
training data only, so thresholds and early stopping never see the test split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch

from benchmark.errors import DeepbenchError
from benchmark.rundir import UNION

FAKE_SPLITS = {"train": 0.7, "val": 0.1, "test": 0.2}
FAKE, REAL = 1, 0


@dataclass
class LabelledImages:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # 1 = fake, 0 = real

    def __len__(self) -> int:
        return len(self.labels)


def fake_split_indices(count: int, split: str, seed: int = 0) -> torch.Tensor:
    """Which of ``count`` fakes (by index) form one of the train/val/test parts; the same seed, the same parts."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    bounds, start = {}, 0
    for name, share in FAKE_SPLITS.items():
        bounds[name] = (start, start + round(share * count))
        start = bounds[name][1]
    first, last = bounds[split]
    return order[first:count if split == "test" else last]


def fake_split(fakes: torch.Tensor, split: str, seed: int = 0) -> torch.Tensor:
    """One of the train/val/test parts of a generator's fakes; the same seed always gives the same parts."""
    return fakes[fake_split_indices(len(fakes), split, seed)]


def folder_halves(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(fitted, evaluated): a seeded half of an extra folder's fakes that statistics matching is fitted on, and
    the other half, on which detectors are evaluated under every protocol; a match is never judged on the images
    it was fitted on, as for a run's own generators."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + 4))
    return order[:count // 2], order[count // 2:]


def held_out_real_indices(real_count: int, count: int, seed: int = 0) -> torch.Tensor:
    """Which held-out reals pair with ``count`` fakes (the same reals for every fake set of equal size)."""
    return torch.randperm(real_count, generator=torch.Generator().manual_seed(seed + 2))[:min(real_count, count)]


def labelled(reals: torch.Tensor, fakes: torch.Tensor) -> LabelledImages:
    return LabelledImages(torch.cat([reals, fakes]),
                          torch.cat([torch.full((len(reals),), REAL), torch.full((len(fakes),), FAKE)]))


def training_sets(real_train: torch.Tensor, fakes: torch.Tensor,
                  seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
    """Balanced (train, validation) sets: the fakes' train and val parts, each with as many distinct reals."""
    return union_training_sets(real_train, [fakes], seed)


def union_training_sets(real_train: torch.Tensor, fakes: list[torch.Tensor],
                        seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
    """Balanced (train, validation) sets of several generators' fakes at once: each generator's train and val
    parts cut to the smallest generator's, so that each weighs the same, and as many distinct reals.

    Each part comes from that generator's own split, so a union never trains on a fake that a single
    generator's detector holds out, and every held-out set stays held out.
    """
    parts = [(fake_split(f, "train", seed), fake_split(f, "val", seed)) for f in fakes]
    train_count, val_count = min(len(t) for t, _ in parts), min(len(v) for _, v in parts)
    fake_train = torch.cat([t[:train_count] for t, _ in parts])
    fake_val = torch.cat([v[:val_count] for _, v in parts])
    needed = len(fake_train) + len(fake_val)
    if len(fake_val) < 2 or len(real_train) < needed:
        raise DeepbenchError(f"too few images to train a detector: {sum(len(f) for f in fakes)} fakes and "
                             f"{len(real_train)} reals; generate at least 20 fakes (--num-samples) and no more fakes "
                             f"than real training images")
    reals = real_train[torch.randperm(len(real_train), generator=torch.Generator().manual_seed(seed + 1))[:needed]]
    return labelled(reals[:len(fake_train)], fake_train), labelled(reals[len(fake_train):], fake_val)


def union_members(name: str) -> list[str]:
    """The generators a training set name stands for: itself, or the members of a union ``a+b+c``."""
    return name.split(UNION)


def canonical_union(name: str) -> str:
    """One name per union whatever order its members were given in: ``vae+dcgan`` is ``dcgan+vae``."""
    return UNION.join(sorted(set(union_members(name))))


def held_out_set(real_test: torch.Tensor, fakes: torch.Tensor, seed: int = 0) -> LabelledImages:
    """Held-out fakes with as many held-out reals (the same reals for every fake set of equal size)."""
    reals = real_test[held_out_real_indices(len(real_test), len(fakes), seed)]
    return labelled(reals, fakes[:len(reals)])


def held_out_digest(fake_files: list[str], real_count: int, seed: int) -> str:
    """sha256 of the held-out set's members (fake file names, real indices), recorded so that two evaluations
    can be checked to have used the same images, and that none of them was a training image."""
    reals = held_out_real_indices(real_count, len(fake_files), seed).tolist()
    members = json.dumps({"fakes": list(fake_files)[:len(reals)], "reals": reals})
    return hashlib.sha256(members.encode()).hexdigest()
