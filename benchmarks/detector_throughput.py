"""Training and inference throughput (images/second) of each detector on 28x28 gray and 32x32 RGB images.

Training is timed over ``--steps`` optimizer steps of batch 64 (augmentation off), inference over batched
``predict_proba`` calls. Usage: ``python benchmarks/detector_throughput.py [--steps 20]``.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from detectors.detector import Detector, DetectorConfig

DETECTORS = ("cnn", "capsule", "timm:resnet18")
SHAPES = ((1, 28), (3, 32))
BATCH = 64


def train_throughput(detector: Detector, images: torch.Tensor, labels: torch.Tensor, steps: int) -> float:
    optimizer = torch.optim.AdamW(detector.network.parameters(), lr=1e-3)
    detector.network.train()
    start = time.perf_counter()
    for step in range(steps):
        rows = slice(step * BATCH % len(images), step * BATCH % len(images) + BATCH)
        loss = detector._loss(detector.network(images[rows].float() / 127.5 - 1), labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for channels, size in SHAPES:
        images = torch.randint(0, 256, (BATCH * args.steps, channels, size, size), dtype=torch.uint8)
        labels = torch.arange(len(images)) % 2
        for name in DETECTORS:
            detector = Detector(name, channels, size, DetectorConfig(flip=False))
            train_throughput(detector, images, labels, 2)  # warm-up
            training = train_throughput(detector, images, labels, args.steps)
            start = time.perf_counter()
            detector.predict_proba(images)
            inference = len(images) / (time.perf_counter() - start)
            rows.append({"detector": name, "images": f"{channels}x{size}x{size}", "train img/s": round(training),
                         "inference img/s": round(inference)})
    print(f"{torch.get_num_threads()} threads, batch {BATCH}, {args.steps} steps")
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
