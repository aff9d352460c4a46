"""Rebuild ``benchmark/assets/domain-*.pt``, the embedded digits' domain classifier that ships with the package.

It is what ``train_domain_classifier`` trains on the embedded training split at its default options, at the quick
suite's 2 torch threads (CPU training is bit-identical only at the same thread count), so a run on the embedded
digits loads it instead of training it. Rebuild it when the data, the defaults or ``CACHE_VERSION`` change;
``tests/reports/test_domain.py`` fails until then. Usage: ``python benchmarks/make_embedded_classifier.py``.
"""

import os
import shutil
import tempfile
from pathlib import Path

import torch

from benchmark.data import load
from benchmark.sources import ASSETS
from reports.metrics.domain import SHIPPED_PREFIX, shipped_classifier, train_domain_classifier

THREADS = 2


def main() -> None:
    for stale in ASSETS.glob(f"{SHIPPED_PREFIX}*.pt"):  # else the old file would be loaded instead of trained
        stale.unlink()
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DEEPBENCH_CACHE"] = cache
        train_domain_classifier(load("embedded", "train"), progress=True)
        (built,) = (Path(cache) / "domain").glob("*.pt")
        shipped = shipped_classifier(built)
        shutil.copyfile(built, shipped)
    print(f"wrote {shipped} ({shipped.stat().st_size / 1e6:.1f} MB) at {THREADS} torch threads")


if __name__ == "__main__":
    main()
