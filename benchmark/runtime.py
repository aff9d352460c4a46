"""Seeding and device choice, so that the same command and seed give the same numbers."""

from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark import distributed
from benchmark.errors import DeepbenchError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and torch (all devices) and return the seed, for recording in ``run.json``.

    Under torchrun rank r seeds these global streams with ``seed + r``, so that whatever draws from them
    (dropout, say) differs per rank; the streams that must agree across ranks (data order, latent noise,
    augmentation) are explicit generators seeded with ``seed`` alone.
    """
    if not 0 <= seed < 2**32:
        raise DeepbenchError(f"seed {seed} is out of range; pass --seed between 0 and {2**32 - 1}")
    rank_seed = (seed + distributed.rank()) % 2**32
    random.seed(rank_seed)
    np.random.seed(rank_seed)
    torch.manual_seed(rank_seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed


def set_threads(threads: int) -> int:
    """Use ``threads`` torch CPU threads. CPU results depend on the count (reductions split differently), so
    a figure is reproducible bit for bit only at the count ``run.json`` records."""
    if threads < 1:
        raise DeepbenchError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    return threads


def deterministic_cuda() -> None:
    """Deterministic kernels on CUDA (cuDNN without autotuning or nondeterministic algorithms); a no-op on CPU,
    where torch's kernels are deterministic at a fixed thread count."""
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is present; asking for ``cuda`` without one is an error, not a fallback."""
    if name not in DEVICE_CHOICES:
        raise DeepbenchError(f"unknown device {name!r}; pass --device {'|'.join(DEVICE_CHOICES)}")
    if name != "cpu":
        deterministic_cuda()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeepbenchError("--device cuda was asked for but no CUDA GPU is visible; pass --device cpu or auto")
    return torch.device(name)


def cache_root() -> Path:
    """Where deepbench keeps caches and default data: ``$DEEPBENCH_CACHE``, else ``~/.cache/deepbench``."""
    return Path(os.environ.get("DEEPBENCH_CACHE") or Path.home() / ".cache" / "deepbench")


_verbosity = 0


def set_verbosity(level: int) -> None:
    """-1 quiet (no progress bars, warnings only), 0 normal, 1 verbose (debug logging)."""
    global _verbosity
    _verbosity = level
    logging.basicConfig(level={-1: logging.WARNING, 0: logging.INFO}.get(level, logging.DEBUG),
                        format="%(message)s", force=True)


def progress_bar(iterable=None, *, show: bool | None = None, **options) -> tqdm:
    """A tqdm bar over long work, drawn by one rank: redrawn live on a terminal; into a log file (stderr not a
    terminal) at most a line a minute, so that logs of hour-long runs stay readable; none under ``-q`` or with
    ``show=False`` (``None``: as the command line says)."""
    visible = (_verbosity >= 0 if show is None else show) and distributed.is_main()
    return tqdm(iterable, disable=not visible, mininterval=0.1 if sys.stderr.isatty() else 60, **options)


_strict = False


def set_strict(strict: bool) -> None:
    """``--strict``: an unreadable image in a folder data set stops the command instead of being skipped."""
    global _strict
    _strict = strict


def strict() -> bool:
    """Whether unreadable images are errors (``--strict``) rather than skipped with a warning."""
    return _strict
