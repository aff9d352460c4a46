"""Fréchet distance from features: ``reports.metrics.fidelity.fid_of`` beside torch-fidelity's statistics path.

Both take float64 (N, D) features (random, correlated as pool3 features are: a low-rank signal plus noise).
torch-fidelity's path is ``fid_features_to_statistics`` on each set then ``fid_statistics_to_metric`` (scipy's
``sqrtm`` of the D x D product); ours is one SVD of the N1 x N2 cross matrix when N <= D, else one symmetric
D x D eigenproblem. Rounds alternate so that load affects both alike. Prints each one's median seconds, the
ratio and the difference of the two values. Usage: ``python benchmarks/fid_time.py [--counts 1000 10000]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

from reports.metrics.fidelity import fid_of


def features(count: int, dimensions: int, shift: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(64, dimensions, generator=generator, dtype=torch.float64) / 8
    signal = torch.randn(count, 64, generator=generator, dtype=torch.float64)
    return signal @ mixing + shift + 0.2 * torch.randn(count, dimensions, generator=generator, dtype=torch.float64)


def torch_fidelity(real: torch.Tensor, fake: torch.Tensor) -> float:
    return fid_statistics_to_metric(fid_features_to_statistics(real), fid_features_to_statistics(fake),
                                    False)[KEY_METRIC_FID]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dimensions", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    for count in args.counts:
        real, fake = features(count, args.dimensions, 0.0, 1), features(count, args.dimensions, 0.05, 2)
        times = {"torch-fidelity": [], "deepbench": []}
        values = {}
        for _ in range(args.rounds):
            for name, function in (("torch-fidelity", torch_fidelity), ("deepbench", fid_of)):
                started = time.perf_counter()
                values[name] = function(real, fake)
                times[name].append(time.perf_counter() - started)
        ours, theirs = statistics.median(times["deepbench"]), statistics.median(times["torch-fidelity"])
        print(f"N = {count}, D = {args.dimensions}: torch-fidelity {theirs:.2f} s, deepbench {ours:.2f} s, "
              f"ratio {theirs / ours:.1f}x; FID {values['torch-fidelity']:.6f} vs {values['deepbench']:.6f} "
              f"(relative difference {abs(values['deepbench'] / values['torch-fidelity'] - 1):.1e})")


if __name__ == "__main__":
    main()
