"""Seconds until ``deepbench --help`` and ``deepbench --version`` return, beside ``import torch`` (what they
avoid), each in a fresh interpreter, medians of alternating rounds. Target: under 1 s each."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "deepbench --help": [sys.executable, "-m", "benchmark.cli", "--help"],
    "deepbench --version": [sys.executable, "-m", "benchmark.cli", "--version"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, command in COMMANDS.items():
            times[name].append(seconds(command))
    for name, values in times.items():
        print(f"{name:<26} {statistics.median(values):6.2f} s (median of {rounds})")


if __name__ == "__main__":
    main()
