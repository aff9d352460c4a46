"""The training reals cut into disjoint slices, so that what chooses never sees what reports.

Three things compare fakes with real training images: a generator's checkpoint score, which picks ``best.pt``;
a recipe search, which picks a family's defaults (``benchmarks/recipes.py``); and a report's Inception metrics,
which are what people read. If a report compared with the reals that chose the checkpoint or the recipe, its
figures would be judged on the data that selected them. So one fixed permutation of the training split (its
seed does not follow the run's, so every run's slices are the same) gives the first images to selection, the
next to tuning and the rest to the report:

=========== ============================================ ==========================================
slice       what compares with it                        size
=========== ============================================ ==========================================
selection   the checkpoint score (``best.pt``)           ``SLICE_SIZE``, or a quarter of the split
tuning      recipe searches (``report --reals-slice``)   the same
report      the report's Inception metrics (default)     the rest, at least half the split
=========== ============================================ ==========================================
"""

from __future__ import annotations

import torch

from benchmark.errors import DeepbenchError

SLICE_SIZE = 1000  # the selection and tuning slices' size, where the split holds at least four times as many
SLICE_SEED = 0  # the permutation's seed, the same for every run
SLICES = ("selection", "tuning", "report")


def real_slice(count: int, name: str) -> torch.Tensor:
    """The indices of slice ``name`` among ``count`` training images, in the permutation's order (a score that
    draws subsets by position sees the same images in the same order in every run)."""
    if name not in SLICES:
        raise DeepbenchError(f"unknown slice of the reals {name!r}; choose one of {', '.join(SLICES)}")
    reserved = min(SLICE_SIZE, count // 4)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SLICE_SEED))
    start = SLICES.index(name) * reserved
    end = start + reserved if name != "report" else count
    return order[start:end]
