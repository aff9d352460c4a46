"""Does robust training earn its place? And how far does a detector's AUC move when only the thread count changes?

On the fakes of one run (by default the quick suite's), ``cnn`` is trained to convergence on each generator's
fakes twice, with ``--augment robust`` (blur scaled to the image, JPEG) and with ``--augment none``, once per
training seed on the same split, and evaluated on its own generator's held-out fakes (matched protocol), clean
and under every perturbation. Robust training earns its place when it costs at most 0.01 clean AUC and is better
under every perturbation; a difference counts only where the two across-seed intervals do not overlap.

Then the first seed's robust detector is trained again at 1 torch thread instead of 2: the same data, seed and
options, only the order of floating-point reductions differs. The AUCs' difference is the run-to-run spread
that no bootstrap interval holds.

    .venv/bin/python benchmarks/augment_question.py --run runs/quick/mnist --out runs/augment-question \\
        [--seeds 0 1 2] [--width 32] [--json benchmark/results/augment-question/summary.json] \\
        [--spread-json benchmark/results/thread-spread/summary.json]
    .venv/bin/python benchmarks/augment_question.py --run runs/quick/mnist --out runs/augment-question \\
        --blur-scale 27.4 --json benchmark/results/augment-question-wide-blur/summary.json   # 0-3 px at 28 px
    deepbench --threads 2 generate --dataset mnist --data-root ../shared/data --generator dcgan --epochs 3 \\
        --num-samples 4000 --out runs/mnist-dcgan --seed 0
    .venv/bin/python benchmarks/augment_question.py --run runs/mnist-dcgan --out runs/augment-question-mnist \\
        --width 64 --about "4,000 full-MNIST DCGAN (3 epochs)" \\
        --json benchmark/results/augment-question-mnist/summary.json

Finished detectors are kept (``--resume``), so a second call with another ``--blur-scale`` trains only its
robust arm.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd
import torch

from benchmark import versions
from benchmark.files import write_json
from benchmark.rundir import RunDir
from detectors.detect import detect
from detectors.detector import DetectorConfig
from detectors.perturb import PERTURBATIONS
from reports.presentation.leaderboard import detector_rows, over_seeds

AUGMENTS = ("robust", "none")
THREADS = 2
CLEAN_COST = 0.01  # the most clean AUC robust training may cost


def copy_of(run: Path, folder: Path) -> Path:
    """A run directory that shares ``run``'s fakes (a link to its generators) and holds its own detectors."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "run.json").exists():
        shutil.copy(run / "run.json", folder / "run.json")
        (folder / "generators").symlink_to((run / "generators").resolve())
    return folder


def train(folder: Path, augment: str, seeds: tuple[int, ...], width: int, threads: int,
          perturbations: tuple[str, ...], blur_scale: float) -> pd.DataFrame:
    """cnn on every generator's fakes, one per seed (finished ones kept); its evaluation rows."""
    torch.set_num_threads(threads)
    config = DetectorConfig(augment=augment, width=width, batch_size=32, blur_scale=blur_scale)
    detect(folder, ("cnn",), config=config, seeds=seeds, perturbations=perturbations, resume=True, baselines=())
    return pd.DataFrame(detector_rows(RunDir(folder)))


def own(rows: pd.DataFrame) -> pd.DataFrame:
    """Each generator's detector on its own generator's held-out fakes, matched protocol."""
    return rows[(rows["train_generator"] == rows["eval_set"]) & (rows["protocol"] == "matched")]


def interval_cell(row) -> str:
    low, high = row["auc_seed_ci"] or (float("nan"), float("nan"))
    return f"{row['auc']:.3f} [{low:.3f}, {high:.3f}]"


def verdict(robust, none, perturbation: str) -> str:
    """Which training wins by its across-seed intervals; clean AUC may cost up to CLEAN_COST."""
    if perturbation == "none":
        return "robust costs at most 0.01" if robust["auc"] >= none["auc"] - CLEAN_COST else "robust costs more"
    if robust["auc_seed_ci"][0] > none["auc_seed_ci"][1]:
        return "robust better"
    if none["auc_seed_ci"][0] > robust["auc_seed_ci"][1]:
        return "none better"
    return "no difference (intervals overlap)"


def summarise(rows: dict[str, pd.DataFrame]) -> list[dict]:
    """One row per generator and perturbation: both trainings' mean AUC and across-seed interval, and the verdict."""
    shown = {augment: over_seeds(own(frame)).set_index(["train_generator", "perturbation"])
             for augment, frame in rows.items()}
    summary = []
    for key, robust in shown["robust"].iterrows():
        none = shown["none"].loc[key]
        summary.append({"generator": key[0], "perturbation": key[1], "seeds": int(robust["seeds"]),
                        "held-out reals/fakes": f"{int(robust['n_real'])}/{int(robust['n_fake'])}",
                        "robust": interval_cell(robust), "none": interval_cell(none),
                        "robust - none": f"{robust['auc'] - none['auc']:+.3f}",
                        "verdict": verdict(robust, none, key[1])})
    return summary


def spread(two: pd.DataFrame, one: pd.DataFrame, seed: int) -> list[dict]:
    """The first seed's clean in-distribution AUC at 2 and at 1 thread, and their difference."""
    pick = {threads: own(frame[(frame["training_seed"] == seed) & (frame["perturbation"] == "none")])
            .set_index("train_generator")["auc"] for threads, frame in ((2, two), (1, one))}
    return [{"generator": generator, "seed": seed, "AUC at 2 threads": f"{auc:.4f}",
             "AUC at 1 thread": f"{pick[1][generator]:.4f}", "difference": f"{auc - pick[1][generator]:+.4f}"}
            for generator, auc in pick[2].items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/quick/mnist"), help="a run directory with fakes")
    parser.add_argument("--out", type=Path, required=True, help="folder for the detectors' run directories")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--width", type=int, default=32, help="cnn's width (the quick suite's)")
    parser.add_argument("--blur-scale", type=float, default=DetectorConfig().blur_scale,
                        help="robust training's largest blur sigma in px per 256 px (detect --blur-scale)")
    parser.add_argument("--about", default="the quick suite's", help="what made the run's fakes, for the study's "
                                                                   "description")
    parser.add_argument("--json", type=Path, help="write the robust-against-none study here")
    parser.add_argument("--spread-json", type=Path, help="also train the first seed at 1 thread and write the "
                                                         "thread-count study here")
    args = parser.parse_args()
    seeds, rows = tuple(args.seeds), {}
    for augment in AUGMENTS:
        folder = args.out / (augment if augment == "none" else f"{augment}-blur{args.blur_scale:g}")
        scale = args.blur_scale if augment == "robust" else DetectorConfig().blur_scale  # unused without blur
        rows[augment] = train(copy_of(args.run, folder), augment, seeds, args.width, THREADS,
                                                tuple(PERTURBATIONS), scale)
    summary = summarise(rows)
    print(pd.DataFrame(summary).to_markdown(index=False), "\n")
    if args.spread_json:
        one_thread = train(copy_of(args.run, args.out / f"robust-blur{args.blur_scale:g}-1-thread"), "robust",
                           seeds[:1], args.width, 1, ("none",), args.blur_scale)
        threads = spread(rows["robust"], one_thread, seeds[0])
        print(pd.DataFrame(threads).to_markdown(index=False))
    epochs = {augment: float(own(frame).drop_duplicates(["train_generator", "training_seed"])["training_epochs"]
                             .mean()) for augment, frame in rows.items()}
    context = (f"cnn at width {args.width}, batch 32, blur up to {args.blur_scale:g} px per 256 px, trained until "
               f"validation loss stopped improving on {args.about} fakes (run {args.run}) "
               f"(mean epochs: robust {epochs['robust']:.1f}, none {epochs['none']:.1f}; "
               f"{THREADS} torch threads)")
    if args.json:
        write_json(args.json, {**versions.record(),
            "description": "Robust training (random blur scaled to the image and JPEG, `--augment robust`) against "
                           "none, at convergence, by `benchmarks/augment_question.py`: " + context + ".",
            "summary_caption": "AUC on the training generator's held-out fakes, matched protocol, mean [95% t-interval "
                               "over training seeds]; a verdict of better needs intervals that do not overlap",
            "summary": summary}, "study")
    if args.spread_json:
        write_json(args.spread_json, {**versions.record(),
            "description": "How far one detector's AUC moves when only the torch thread count changes (the same "
                           "data, seed and options), by `benchmarks/augment_question.py`: " + context + ".",
            "summary_caption": "Clean AUC on the training generator's held-out fakes, matched protocol, of one "
                               "robust-trained cnn per generator, trained at 2 and at 1 torch thread",
            "summary": threads}, "study")


if __name__ == "__main__":
    main()
