"""Inception feature-extraction throughput of ``reports.metrics.fidelity`` beside torch-fidelity's own path, in one run.

Both extract pool3 features of the same random uint8 images with the same weights file
(``reports.metrics.fidelity.inception_weights_path()``). torch-fidelity's path is what ``calculate_metrics`` runs:
``create_feature_extractor`` then ``get_featuresdict_from_dataset`` (a DataLoader with its default workers,
batch 64, ``no_grad``). Ours is ``InceptionExtractor`` (batch norm folded into the convolutions,
channels-last, inference mode). Both networks are warmed up first; rounds alternate so that load on the
machine affects both alike. Prints images/second of each, their ratio, and the largest absolute difference
between the two feature sets. Usage: ``python benchmarks/inception_throughput.py [--count 64] [--size 32]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch.utils.data import Dataset
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from reports.metrics.fidelity import NETWORK, InceptionExtractor, inception_weights


class Images(Dataset):
    """uint8 (3, H, W) tensors, the input torch-fidelity's data loader expects."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def timed(function, images: torch.Tensor) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    features = function(images)
    return len(images) / (time.perf_counter() - start), features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64, help="images per round")
    parser.add_argument("--size", type=int, default=32, help="side of the square input images")
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds of each, alternating")
    parser.add_argument("--batch-size", type=int, default=32, help="our batch size (torch-fidelity keeps its 64)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="This DataLoader will create")  # its 4 workers on a 2-core machine

    weights = inception_weights()
    images = torch.randint(0, 256, (args.count, 3, args.size, args.size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    ours = InceptionExtractor(weights, device="cpu", batch_size=args.batch_size)
    peer = create_feature_extractor(NETWORK, ["2048"], cuda=False, verbose=False,
                                    feature_extractor_weights_path=str(weights.path))

    def run_ours(batch: torch.Tensor) -> torch.Tensor:
        return ours(batch, progress=False).features

    def run_peer(batch: torch.Tensor) -> torch.Tensor:
        return get_featuresdict_from_dataset(Images(batch), peer, 64, cuda=False, save_cpu_ram=False,
                                             verbose=False)["2048"]

    run_ours(images[:2]), run_peer(images[:2])  # warm-up: kernel selection, worker start-up code paths
    speeds: dict[str, list[float]] = {"torch-fidelity": [], "deepbench": []}
    features = {}
    for _ in range(args.rounds):
        for name, function in (("torch-fidelity", run_peer), ("deepbench", run_ours)):
            speed, features[name] = timed(function, images)
            speeds[name].append(speed)
    peer_speed, our_speed = (statistics.median(speeds[name]) for name in ("torch-fidelity", "deepbench"))
    difference = (features["deepbench"] - features["torch-fidelity"]).abs().max().item()
    print(f"weights: {weights.path.name} ({weights.source}, sha256 {weights.sha256[:12]})")
    print(f"{args.count} images of 3x{args.size}x{args.size}, {args.rounds} round(s), "
          f"{torch.get_num_threads()} torch threads")
    print(f"torch-fidelity  {peer_speed:7.2f} images/s")
    print(f"deepbench       {our_speed:7.2f} images/s  ({our_speed / peer_speed:.2f}x)")
    print(f"max |feature difference| = {difference:.2e}")


if __name__ == "__main__":
    main()
