"""The detector half of the capsule question: does a capsule detector beat a CNN at an equal parameter count?

For each seed, DCGAN and CapsGAN are trained on full MNIST for 2 CPU-minutes each (learning rate 5e-4, the rate
the capsule question chose on validation for both) and write ``--fakes`` fakes each. Then three detectors of
about 350,000 parameters each are trained on each generator's fakes with deepbench's protocol (robust
augmentation, statistics matching, validation-only selection, 10 epochs) and evaluated on held-out reals
against each generator's held-out fakes: ``capsule`` (345,024 parameters), ``cnn`` at ``--width 38``
(339,227) and ``timm:lcnet_035`` (364,507), beside the trivial-statistics baselines. The seed sets the GANs,
the fakes' split and the detectors' initial weights, so the interval over seeds holds all three.

It prints, per detector, training generator and evaluation set, the clean AUC and accuracy under the matched
protocol (the headline) as mean and 95% t-interval over the seeds, each seed's own figure on 2,000-odd
held-out images, with the parameter count and the seconds of each ``detect`` call (two trainings, set assembly
and evaluation; equal epochs, so not equal time). Resumable: a seed whose fakes exist is not generated again,
and finished detectors are kept. ``--json FILE`` writes the study's summary for the leaderboard;
``--from-json FILE`` summarises the runs recorded in FILE again, without the runs' folders.

    .venv/bin/python benchmarks/detector_question.py --out runs/detector-question --data-root ../shared/data \\
        [--seeds 0 1 2] [--fakes 5000] [--json benchmark/results/detector-question/summary.json]
    .venv/bin/python benchmarks/detector_question.py --from-json benchmark/results/detector-question/summary.json \\
        --json benchmark/results/detector-question/summary.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from seed_intervals import interval_text

from benchmark import versions
from benchmark.fakes import MANIFEST
from benchmark.files import read_json, write_json
from benchmark.rundir import RunDir
from detectors.baselines import BASELINES
from detectors.detect import detect
from detectors.detector import Detector, DetectorConfig
from generators.generate import generate
from generators.train import TrainConfig
from reports.metrics.domain import domain_quality_scorer

GENERATORS = ("dcgan", "capsgan")
DETECTORS = {"capsule": None, "cnn": 38, "timm:lcnet_035": None}  # name -> --width
THREADS = 2
DESCRIPTION = ("Does a capsule detector beat a CNN at an equal parameter count? `capsule` (345,024 parameters), "
               "`cnn` at `--width 38` (339,227) and `timm:lcnet_035` (364,507), each trained for 10 epochs on "
               "MNIST DCGAN or CapsGAN fakes (2 CPU-minutes of GAN training each, lr 5e-4) with deepbench's "
               "protocol, evaluated on held-out reals against each generator's held-out fakes; three seeds, each "
               "setting the GANs, the split and the detectors' initial weights. Run by "
               "`benchmarks/detector_question.py`.")
SUMMARY_CAPTION = ("Clean AUC and accuracy, matched protocol, mean [95% t-interval over seeds]; seconds: one "
                   "detect call per detector (two trainings, set assembly, evaluation), 2 torch threads")


def parameters(name: str, width: int | None) -> int:
    network = Detector(name, 1, 28, DetectorConfig(width=width)).network
    return sum(parameter.numel() for parameter in network.parameters())


def run_seed(out: Path, seed: int, fakes: int, data_root: Path | None) -> list[dict]:
    """Generate (unless done) and detect for one seed; one row per detector call with its seconds."""
    run = RunDir(out)
    if not all((run.fakes(name) / MANIFEST).exists() for name in GENERATORS):
        generate("mnist", GENERATORS, out, TrainConfig(epochs=100, max_minutes=2.0, lr_g=5e-4, lr_d=5e-4, seed=seed),
                 num_samples=fakes, data_root=data_root, scorer_factory=domain_quality_scorer,
                 resume=run.run_json.exists())
    timings = []
    for name, width in DETECTORS.items():
        started = time.perf_counter()
        detect(out, (name,), config=DetectorConfig(seed=seed, width=width), perturbations=("none",),
               data_root=data_root, resume=True, baselines=())
        timings.append({"detector": name, "seed": seed, "seconds": time.perf_counter() - started})
    detect(out, (), config=DetectorConfig(seed=seed), perturbations=("none",), data_root=data_root,
           baselines=tuple(BASELINES.names()))
    return timings


def summarise(runs: pd.DataFrame, timings: list[dict]) -> list[dict]:
    """Per detector, training generator and evaluation set: AUC and accuracy over the seeds, size and seconds."""
    seconds = pd.DataFrame(timings).groupby("detector")["seconds"]
    summary = []
    for (name, trained, evaluated), cell in runs.groupby(["detector", "train_generator", "eval_set"], sort=True):
        learned = name in DETECTORS
        summary.append({"detector": name + (f" (width {DETECTORS[name]})" if DETECTORS.get(name) else ""),
                        "parameters": f"{parameters(name, DETECTORS[name]):,}" if learned else "—",
                        "trained on": trained, "evaluated on": evaluated, "seeds": cell.seed.nunique(),
                        "held-out reals/fakes": f"{cell.n_real.iloc[0]}/{cell.n_fake.iloc[0]}",
                        "AUC": interval_text(cell.auc, (0, 1), ".3f"),
                        "accuracy": interval_text(cell.accuracy, (0, 1), ".3f"),
                        "seconds": f"{seconds.get_group(name).mean():.0f}" if learned else "—"})
    return summary


def measure(out: Path, seeds: list[int], fakes: int, data_root: Path | None) -> tuple[pd.DataFrame, list[dict]]:
    """Each seed's matched, clean detection rows (trained and detected now where missing), and the timings."""
    torch.set_num_threads(THREADS)
    timings, rows = [], []
    for seed in seeds:
        folder = out / f"seed{seed}"
        timings += run_seed(folder, seed, fakes, data_root)
        table = pd.read_csv(RunDir(folder).detection_table)
        rows.append(table.query("perturbation == 'none' and protocol == 'matched'").assign(seed=seed))
    runs = pd.concat(rows, ignore_index=True)
    return runs[["detector", "train_generator", "eval_set", "seed", "auc", "accuracy", "n_real", "n_fake"]], timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--out", type=Path, help="folder of the per-seed runs")
    source.add_argument("--from-json", type=Path, help="a --json file of an earlier call: summarise its runs again")
    parser.add_argument("--data-root", type=Path, help="folder holding MNIST")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fakes", type=int, default=5000, help="fakes per generator")
    parser.add_argument("--json", type=Path, help="also write the summary here (a leaderboard study)")
    args = parser.parse_args()
    if args.from_json:
        recorded = read_json(args.from_json, "study")
        runs, timings = pd.DataFrame(recorded["runs"]), recorded["seconds"]
        made = {key: recorded.get(key) for key in ("protocols", "commit")}  # what made the runs, not this summary
    else:
        runs, timings = measure(args.out, args.seeds, args.fakes, args.data_root)
        made = versions.record()
    summary = summarise(runs, timings)
    print(f"{SUMMARY_CAPTION}:\n")
    print(pd.DataFrame(summary).to_markdown(index=False))
    if args.json:
        write_json(args.json, {**made, "description": DESCRIPTION, "summary_caption": SUMMARY_CAPTION,
                               "summary": summary, "runs": runs.to_dict("records"), "seconds": timings,
                               "threads": THREADS}, "study")


if __name__ == "__main__":
    main()
