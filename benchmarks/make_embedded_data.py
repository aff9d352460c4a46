"""Rebuild ``benchmark/assets/embedded-mnist.npz``, the embedded default data set, from the MNIST files.

It holds the first 12,000 training and the first 2,000 test images of the official MNIST files, unchanged
(uint8, 28x28), with their labels. Usage: ``python benchmarks/make_embedded_data.py ../shared/data``.
"""

import sys

import numpy as np

from benchmark.data import load
from benchmark.sources import EMBEDDED_FILE

COUNTS = {"train": 12_000, "test": 2_000}


def main(data_root: str) -> None:
    arrays = {}
    for split, count in COUNTS.items():
        images, labels = load("mnist", split, data_root).tensors()
        arrays[f"{split}_images"] = images[:count, 0].numpy()
        arrays[f"{split}_labels"] = labels[:count].numpy().astype(np.uint8)
    EMBEDDED_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(EMBEDDED_FILE, **arrays)
    print(f"wrote {EMBEDDED_FILE} ({EMBEDDED_FILE.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
