"""Inception feature-extraction throughput of ``reports.metrics.fidelity`` beside torch-fidelity's own path, in one run.

Both extract pool3 features of the same random uint8 images with the same weights file
(``reports.metrics.fidelity.inception_weights_path()``). torch-fidelity's path is what ``calculate_metrics`` runs:
``create_feature_extractor`` then ``get_featuresdict_from_dataset`` (a DataLoader with its default workers,
batch 64, ``no_grad``). Ours is ``InceptionExtractor`` (batch norm folded into the convolutions,
channels-last, inference mode) with each backend: eager PyTorch, and ONNX Runtime when installed. Every
network is warmed up first; rounds alternate so that load on the machine affects all alike. Prints
images/second of each, the ratio to torch-fidelity, and the largest absolute feature difference from it.
Usage: ``python benchmarks/inception_throughput.py [--count 64] [--size 32] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
import warnings

import torch
from torch.utils.data import Dataset
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from reports.metrics.fidelity import NETWORK, InceptionExtractor, inception_weights
from reports.metrics.onnx_runtime import onnxruntime_available


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
    extractors = {f"deepbench ({backend})": InceptionExtractor(weights, device="cpu", batch_size=args.batch_size,
                                                               backend=backend)
                  for backend in ("torch", "onnxruntime") if backend == "torch" or onnxruntime_available()}
    peer = create_feature_extractor(NETWORK, ["2048"], cuda=False, verbose=False,
                                    feature_extractor_weights_path=str(weights.path))

    def run_peer(batch: torch.Tensor) -> torch.Tensor:
        return get_featuresdict_from_dataset(Images(batch), peer, 64, cuda=False, save_cpu_ram=False,
                                             verbose=False)["2048"]

    runs = {"torch-fidelity": run_peer, **{name: functools.partial(features_of, extractor)
                                           for name, extractor in extractors.items()}}
    for function in runs.values():
        function(images[:2])  # warm-up: kernel selection, worker start-up, the ONNX export
    speeds: dict[str, list[float]] = {name: [] for name in runs}
    features = {}
    for _ in range(args.rounds):
        for name, function in runs.items():
            speed, features[name] = timed(function, images)
            speeds[name].append(speed)
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    print(f"weights: {weights.path.name} ({weights.source}, sha256 {weights.sha256[:12]})")
    print(f"{args.count} images of 3x{args.size}x{args.size}, {args.rounds} round(s), "
          f"{torch.get_num_threads()} torch threads")
    for name, speed in medians.items():
        difference = (features[name] - features["torch-fidelity"]).abs().max().item()
        print(f"{name:24s} {speed:7.2f} images/s  ({speed / medians['torch-fidelity']:.2f}x, max |feature "
              f"difference| {difference:.1e})")


def features_of(extractor: InceptionExtractor, batch: torch.Tensor) -> torch.Tensor:
    return extractor(batch, progress=False).features


if __name__ == "__main__":
    main()
