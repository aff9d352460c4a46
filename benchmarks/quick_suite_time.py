"""Wall time of the quick suite (the README's main job) from a cold cache, as a new user runs it.

Runs ``deepbench run --suite quick`` in a subprocess with a fresh, empty ``$DEEPBENCH_CACHE`` and output folder,
so the Inception weights conversion, the domain classifier and the reals' features are all computed, and
prints the time. The target is at most 6 minutes on 2 CPU cores.
Usage: ``python benchmarks/quick_suite_time.py [--keep runs/quick-timed]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

TARGET_SECONDS = 360


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Write the run here instead of a temporary folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch) / "quick"
        environment = {**os.environ, "DEEPBENCH_CACHE": str(Path(scratch) / "cache")}
        command = [sys.executable, "-m", "benchmark.cli", "-q", "run", "--suite", "quick", "--out", str(out)]
        started = time.perf_counter()
        subprocess.run(command, env=environment, check=True)
        seconds = time.perf_counter() - started
    print(f"quick suite, cold cache: {seconds:.0f} s ({seconds / 60:.1f} min; target {TARGET_SECONDS / 60:.0f} min) "
          f"on {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, "
          f"{'GPU' if torch.cuda.is_available() else 'no GPU'}")


if __name__ == "__main__":
    main()
