"""FID of training recipes at equal CPU time: the quick suite's DCGAN, and SNGAN on full MNIST for the zoo.

A family's default recipe is chosen by measured quality at the time it is given. Each candidate of a sweep
trains with ``deepbench generate --max-minutes BUDGET`` (CPU minutes, steadier against load than the wall clock)
from seed 0 (``--seed``), samples 1,000 fakes from the checkpoint the validation score keeps (``best.pt``), and
``deepbench report`` measures Inception FID, KID and precision/recall against 1,000 real
training images of the tuning slice (``reports.metrics.real_slices``), which neither checkpoint selection nor
reports see. Two candidates run at a time, one torch thread each.

- ``quick``: DCGAN on the embedded digits; the budget is the CPU time that recipe A (the quick suite's before
  this comparison: 7 epochs at batch 64) took at 1 thread. The suite now trains F.
- ``sngan``: SNGAN on full MNIST (``--data-root``) for the zoo's 15 CPU-minutes; S0 was the family's default
  (DCGAN's recipe), S3 is since this comparison; D0 is the peer SNGAN is measured against: DCGAN with its
  default recipe, in the same run.
- ``ddpm``: DDPM on full MNIST for the zoo issue's 30 CPU-minutes (its target: FID below DCGAN's); scored and
  sampled once, at the end of training, since scores of DDIM fakes take minutes. P2 is ``ddpm``'s default on gray
  images since this comparison; P6 and P7 compare it with ``--precision bf16`` (bf16 mixed precision), an
  option of training rather than a default.

    .venv/bin/python benchmarks/recipes.py quick --out runs/quick-recipe [--budget 2.35] [--only A C]
    .venv/bin/python benchmarks/recipes.py sngan --out runs/sngan-recipe --data-root ../shared/data
    .venv/bin/python benchmarks/recipes.py ddpm --out runs/ddpm-recipe --data-root ../shared/data --only P2 \
        --sampling-steps 25 100 200   # P2's weights and noise sampled again in other DDIM step counts
    .venv/bin/python benchmarks/recipes.py quick --out runs/quick-recipe --table   # the finished runs again

FIDs from one seed each: differences of a few points are within what another seed moves them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

SAMPLES = 1000
PAPER_ADAM = ["--beta1", "0", "--beta2", "0.9"]  # Miyato et al.'s ResNet runs (after Gulrajani et al.)


def ddpm_run(sampling_steps: int) -> list[str]:
    """Score and grid once, at the end: a score of ddpm's 1,000 DDIM fakes costs about 4 CPU-minutes at 1 thread
    in 50 steps (outside the budget, but not outside the wall clock). Fakes in ``sampling_steps`` DDIM steps: P0-P5
    in 50, the default when they were compared; ``--sampling-steps`` samples a candidate's weights again at other
    step counts."""
    return ["--score-every", "1000000", "--sample-every", "1000000", "--sampling-steps", str(sampling_steps)]


DDPM_RUN = ddpm_run(50)
DCGAN_BATCH = ["--batch-size", "64", "--ema", "0"]  # DCGAN's batch, no EMA: what sngan trained with before S3


class Recipe(NamedTuple):
    what: str
    options: list[str]  # deepbench generate's
    generator: str | None = None  # None: the sweep's; another family's is the peer at the same time


@dataclass(frozen=True)
class Sweep:
    generator: str
    dataset: str
    budget: float  # CPU minutes of training per candidate
    candidates: dict[str, Recipe]


SWEEPS = {
    "quick": Sweep("dcgan", "embedded", 2.35, {
        "A": Recipe("the previous quick recipe: widths 32, lr 5e-4", ["--ngf", "32", "--ndf", "32", "--lr", "5e-4"]),
        "B": Recipe("A with an EMA of G's weights (0.999)",
                    ["--ngf", "32", "--ndf", "32", "--lr", "5e-4", "--ema", "0.999"]),
        "C": Recipe("widths 32, the paper's lr 2e-4, EMA",
                    ["--ngf", "32", "--ndf", "32", "--lr", "2e-4", "--ema", "0.999"]),
        "D": Recipe("widths 16, lr 5e-4, EMA: more steps",
                    ["--ngf", "16", "--ndf", "16", "--lr", "5e-4", "--ema", "0.999"]),
        "E": Recipe("the paper's widths 64 and lr 2e-4, EMA",
                    ["--ngf", "64", "--ndf", "64", "--lr", "2e-4", "--ema", "0.999"]),
        "F": Recipe("A at batch 32 with EMA: twice the steps",
                    ["--ngf", "32", "--ndf", "32", "--lr", "5e-4", "--ema", "0.999", "--batch-size", "32"]),
        "G": Recipe("widths 32, lr 1e-3, EMA", ["--ngf", "32", "--ndf", "32", "--lr", "1e-3", "--ema", "0.999"]),
        "H": Recipe("a wider D (64), lr 5e-4, EMA", ["--ngf", "32", "--ndf", "64", "--lr", "5e-4", "--ema", "0.999"]),
    }),
    "sngan": Sweep("sngan", "mnist", 15.0, {
        "S0": Recipe("DCGAN's recipe (Adam 2e-4, betas 0.5/0.999, batch 64)",
                     ["--beta1", "0.5", "--beta2", "0.999", *DCGAN_BATCH]),
        "S1": Recipe("the paper's Adam (betas 0/0.9)", [*PAPER_ADAM, *DCGAN_BATCH]),
        "S3": Recipe("S1 at batch 32 with EMA: twice the steps (sngan's default since)",
                     [*PAPER_ADAM, "--ema", "0.999", "--batch-size", "32"]),
        "D0": Recipe("the peer: DCGAN, its default recipe (the zoo's)", [], "dcgan"),
    }),
    "ddpm": Sweep("ddpm", "mnist", 30.0, {
        "P0": Recipe("the colour default: width 32, Adam 2e-4, batch 64, EMA 0.999",
                     ["--ngf", "32", "--lr", "2e-4", *DDPM_RUN]),
        "P1": Recipe("P0 at lr 1e-3", ["--ngf", "32", "--lr", "1e-3", *DDPM_RUN]),
        "P2": Recipe("width 16 at lr 1e-3: more steps (2.7 times P1's; the gray default since)",
                     ["--ngf", "16", "--lr", "1e-3", *DDPM_RUN]),
        "P3": Recipe("P2 with Min-SNR-5 loss weights (Hang et al. 2023)",
                     ["--ngf", "16", "--lr", "1e-3", "--snr-gamma", "5", *DDPM_RUN]),
        "P4": Recipe("P2 at lr 2e-3", ["--ngf", "16", "--lr", "2e-3", *DDPM_RUN]),
        "P5": Recipe("P2 at batch 32: twice the steps",
                     ["--ngf", "16", "--lr", "1e-3", "--batch-size", "32", *DDPM_RUN]),
        "P6": Recipe("P2 in 100 DDIM steps (the gray default since P2@100)",
                     ["--ngf", "16", "--lr", "1e-3", *ddpm_run(100)]),
        "P7": Recipe("P6 in bf16 mixed precision: more steps where the CPU has bfloat16 instructions",
                     ["--ngf", "16", "--lr", "1e-3", "--precision", "bf16", *ddpm_run(100)]),
    }),
}


def deepbench(*args: str, log: Path) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "a") as output:
        subprocess.run([sys.executable, "-m", "benchmark.cli", "--threads", "1", *args], env=environment,
                       stdout=output, stderr=subprocess.STDOUT, check=True)


def run(sweep: Sweep, name: str, out: Path, budget: float, data_root: list[str], seed: int) -> None:
    """Train, sample and score one candidate into ``out/NAME`` (a finished one is left as it is)."""
    folder = out / name
    if (folder / "results.json").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    recipe = sweep.candidates[name]
    deepbench("generate", "--dataset", sweep.dataset, *data_root, "--generator", recipe.generator or sweep.generator,
              "--out", str(folder / "run"), "--epochs", "1000", "--max-minutes", str(budget),
              "--num-samples", str(SAMPLES), "--seed", str(seed), "--force", *recipe.options, log=log)
    score(folder, data_root, log)


def resample(sweep: Sweep, name: str, steps: int, out: Path, data_root: list[str], seed: int) -> None:
    """Sample candidate ``name``'s checkpoint again at ``steps`` DDIM steps into ``out/NAME@STEPS`` and score it:
    the same weights and the same noise, so what differs is the sampler's step count."""
    folder = out / f"{name}@{steps}"
    if (folder / "results.json").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    fakes = pd.read_csv(out / name / "run" / "generators" / sweep.generator / "fakes" / "manifest.csv")
    checkpoint = out / name / "run" / "generators" / sweep.generator / "checkpoints" / fakes["checkpoint"][0]
    deepbench("generate", "--dataset", sweep.dataset, *data_root, "--checkpoint", str(checkpoint),
              "--sampling-steps", str(steps), "--num-samples", str(SAMPLES), "--seed", str(seed),
              "--out", str(folder / "run"), "--force", log=log)
    score(folder, data_root, log)


def score(folder: Path, data_root: list[str], log: Path) -> None:
    """Inception FID, KID and precision/recall of ``folder/run``'s fakes into ``folder/results.json``, against the
    tuning slice of the reals, which reports never compare with."""
    deepbench("report", "--run", str(folder / "run"), *data_root, "--num-samples", str(SAMPLES), "--reals-slice",
              "tuning", "--export",
              str(folder / "results.json"), log=log)


def table(sweep: Sweep, out: Path) -> pd.DataFrame:
    rows = []
    for name, recipe in sweep.candidates.items():
        for path in [out / name / "results.json", *sorted(out.glob(f"{name}@*/results.json"),
                                                          key=lambda path: int(path.parent.name.split("@")[1]))]:
            if path.is_file():
                rows.append(row(path, path.parent.name, recipe))
    return pd.DataFrame(rows)


def row(path: Path, name: str, recipe: Recipe) -> dict:
    """One finished candidate's line; ``NAME@STEPS`` is its checkpoint sampled again at STEPS DDIM steps."""
    (metrics,) = json.loads(path.read_text())["generators"]
    trained, _, steps = name.partition("@")
    what = f"{trained}'s weights sampled at {steps} DDIM steps" if steps else recipe.what
    return {"recipe": name, "generator": metrics["generator"], "what": what,
            "steps": metrics["train_steps"] or metrics["sampled_step"], "sampled step": metrics["sampled_step"],
            "FID": round(metrics["fid"], 1),
            "KID x10^3": f"{1e3 * metrics['kid_mean']:.1f} ± {1e3 * metrics['kid_std']:.1f}",
            "precision": round(metrics["precision"], 3), "recall": round(metrics["recall"], 3),
            "fakes/reals": f"{metrics['samples_fake']}/{metrics['samples_real']}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", choices=sorted(SWEEPS))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, help="CPU minutes of training per candidate (default: the sweep's).")
    parser.add_argument("--data-root", help="Where the data set lies (full MNIST for the sngan and ddpm sweeps).")
    parser.add_argument("--seed", type=int, default=0, help="Training seed of every candidate (another seed: another "
                                                                "--out).")
    parser.add_argument("--only", nargs="+", help="Candidates to run (default: all of the sweep's).")
    parser.add_argument("--table", action="store_true", help="Only print the table of the finished runs.")
    parser.add_argument("--sampling-steps", type=int, nargs="+", help="ddpm: then sample each candidate's "
                        "checkpoint again at these DDIM steps (same weights, same noise) and score it.")
    args = parser.parse_args()
    sweep = SWEEPS[args.sweep]
    budget = args.budget or sweep.budget
    data_root = ["--data-root", args.data_root] if args.data_root else []
    unknown = sorted(set(args.only or ()) - set(sweep.candidates))
    if unknown:
        parser.error(f"unknown candidate {', '.join(unknown)}; {args.sweep} has {', '.join(sweep.candidates)}")
    if not args.table:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda name: run(sweep, name, args.out, budget, data_root, args.seed),
                          args.only or sweep.candidates))
            again = [(name, steps) for name in args.only or sweep.candidates for steps in args.sampling_steps or ()]
            list(pool.map(lambda task: resample(sweep, *task, args.out, data_root, args.seed), again))
    print(f"{sweep.generator} on {sweep.dataset}, seed {args.seed}, {budget} CPU-minutes of training at 1 torch thread "
          f"each; Inception FID/KID/PR of {SAMPLES} fakes against {SAMPLES} real training images")
    print(table(sweep, args.out).to_markdown(index=False))


if __name__ == "__main__":
    main()
