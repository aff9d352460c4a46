"""FID of DCGAN training recipes for the quick suite at equal CPU time, on the embedded digits.

The quick suite's DCGAN samples are the README's first picture, so its recipe is chosen by measured quality at
the time it can afford: each candidate below trains with ``deepbench generate --max-minutes BUDGET`` (CPU
minutes, so a busy machine buys the same computation as an idle one) from seed 0, samples 1,000 fakes from the
checkpoint the validation score keeps (``best.pt``), and ``deepbench report`` measures Inception FID, KID and
precision/recall against 1,000 real training digits. ``--budget`` defaults to the CPU time that recipe A (the
quick suite's before this comparison: 7 epochs at batch 64) took at 1 thread; the suite now trains F. Two
candidates run at a time, one torch thread each.

    .venv/bin/python benchmarks/quick_recipe.py --out runs/quick-recipe [--budget 2.35] [--only A C]
    .venv/bin/python benchmarks/quick_recipe.py --out runs/quick-recipe --table   # print the finished runs again

FIDs from one seed each: differences of a few points are within what another seed moves them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

CANDIDATES = {  # name: (what it is, deepbench generate options)
    "A": ("the previous quick recipe: widths 32, lr 5e-4", ["--ngf", "32", "--ndf", "32", "--lr", "5e-4"]),
    "B": ("A with an EMA of G's weights (0.999)", ["--ngf", "32", "--ndf", "32", "--lr", "5e-4", "--ema", "0.999"]),
    "C": ("widths 32, the paper's lr 2e-4, EMA", ["--ngf", "32", "--ndf", "32", "--lr", "2e-4", "--ema", "0.999"]),
    "D": ("widths 16, lr 5e-4, EMA: more steps", ["--ngf", "16", "--ndf", "16", "--lr", "5e-4", "--ema", "0.999"]),
    "E": ("the paper's widths 64 and lr 2e-4, EMA", ["--ngf", "64", "--ndf", "64", "--lr", "2e-4", "--ema", "0.999"]),
    "F": ("A at batch 32 with EMA: twice the steps", ["--ngf", "32", "--ndf", "32", "--lr", "5e-4", "--ema", "0.999",
                                                     "--batch-size", "32"]),
    "G": ("widths 32, lr 1e-3, EMA", ["--ngf", "32", "--ndf", "32", "--lr", "1e-3", "--ema", "0.999"]),
    "H": ("a wider D (64), lr 5e-4, EMA", ["--ngf", "32", "--ndf", "64", "--lr", "5e-4", "--ema", "0.999"]),
}
SAMPLES = 1000


def deepbench(*args: str, log: Path) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "a") as output:
        subprocess.run([sys.executable, "-m", "benchmark.cli", "--threads", "1", *args], env=environment,
                       stdout=output, stderr=subprocess.STDOUT, check=True)


def run(name: str, out: Path, budget: float) -> None:
    """Train, sample and score one candidate into ``out/NAME`` (a finished one is left as it is)."""
    folder = out / name
    if (folder / "results.json").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    deepbench("generate", "--dataset", "embedded", "--generator", "dcgan", "--out", str(folder / "run"),
              "--epochs", "1000", "--max-minutes", str(budget), "--num-samples", str(SAMPLES), "--force",
              *CANDIDATES[name][1], log=log)
    deepbench("report", "--run", str(folder / "run"), "--num-samples", str(SAMPLES), "--export",
              str(folder / "results.json"), log=log)


def table(out: Path) -> pd.DataFrame:
    rows = []
    for name, (summary, _) in CANDIDATES.items():
        path = out / name / "results.json"
        if not path.is_file():
            continue
        (metrics,) = json.loads(path.read_text())["generators"]
        rows.append({"recipe": name, "what": summary, "steps": metrics["train_steps"],
                     "sampled step": metrics["sampled_step"], "FID": round(metrics["fid"], 1),
                     "KID x10^3": f"{1e3 * metrics['kid_mean']:.1f} ± {1e3 * metrics['kid_std']:.1f}",
                     "precision": round(metrics["precision"], 3), "recall": round(metrics["recall"], 3),
                     "fakes/reals": f"{metrics['samples_fake']}/{metrics['samples_real']}"})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=2.35, help="CPU minutes of training per candidate.")
    parser.add_argument("--only", nargs="+", choices=sorted(CANDIDATES), default=sorted(CANDIDATES))
    parser.add_argument("--table", action="store_true", help="Only print the table of the finished runs.")
    args = parser.parse_args()
    if not args.table:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda name: run(name, args.out, args.budget), args.only))
    print(f"DCGAN on the embedded digits, seed 0, {args.budget} CPU-minutes of training at 1 torch thread each; "
          f"Inception FID/KID/PR of {SAMPLES} fakes against {SAMPLES} real training digits")
    print(table(args.out).to_markdown(index=False))


if __name__ == "__main__":
    main()
