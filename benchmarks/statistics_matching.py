"""Held-out AUC of the trivial-statistics baselines on a run's fakes, raw and after statistics matching.

Builds the sets exactly as ``deepbench detect`` does (``detectors.detect.assemble_sets``: fakes split 70/10/20,
the match fitted on the training fakes, format matching last) and fits each baseline under each protocol.
Then the control a transform can fail by itself: "fakes" that are a second sample of the real training images,
matched like a generator's and format-matched like any fakes (JPEG reals, as CIFAR-10's, are then compressed
twice under both protocols, which the compression baseline may see). A good transform leaves the control's
baselines where they were raw and removes what it targets from the generators' fakes.

Matching alters the fakes alone, so anything it adds is correlated with the label. A baseline sees three
statistics; a network sees everything. ``--learned cnn`` therefore also trains that network on the control,
once per training seed, exactly as ``deepbench detect`` trains it (to convergence, its default augmentation):
raw, it separates reals from reals (chance by construction); matched, it separates reals from matched reals,
and any AUC above chance is what matching adds that a network can learn. ``--json`` writes the control as a
study for the leaderboard.

    .venv/bin/python benchmarks/statistics_matching.py --run runs/seeds/mnist --data-root ../shared/data
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/statistics_matching.py --run runs/mnist-dcgan \
        --data-root ../shared/data --learned cnn --seeds 0 1 2 --json benchmark/results/matching-control/summary.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from benchmark import data, versions
from benchmark.fakes import MANIFEST
from benchmark.files import write_json
from benchmark.rundir import RunDir
from detectors.baselines import BASELINES, StatisticsBaseline
from detectors.detector import Detector, DetectorConfig
from detectors.formats import match_format, real_jpeg_settings
from detectors.matching import fit_statistics_match
from detectors.metrics import detection_metrics, seed_interval
from detectors.protocols import assemble_sets
from detectors.sets import fake_split, held_out_set, training_sets


def held_out_auc(kind: str, train, val, test, seed: int) -> float:
    baseline = StatisticsBaseline(kind, seed).fit(train.images, train.labels, val.images, val.labels)
    return roc_auc_score(test.labels.numpy(), baseline.decision_function(test.images))


def learned_control(network: str, train, val, test, seeds: list[int]) -> dict:
    """``network`` trained on one control set per training seed: each seed's held-out AUC with its bootstrap
    interval, their mean with the across-seed t-interval, and the epochs training took."""
    aucs, rows = [], []
    for seed in seeds:
        detector = Detector(network, train.images.shape[1], train.images.shape[-1],
                            DetectorConfig(training_seed=seed, flip=False), "cpu")
        detector.fit(train.images, train.labels, val.images, val.labels, progress=False)
        metrics = detection_metrics(test.labels.numpy(), detector.decision_function(test.images), bootstrap=200)
        aucs.append(metrics["auc"])
        rows.append(f"{metrics['auc']:.3f} [{metrics['auc_ci'][0]:.3f}, {metrics['auc_ci'][1]:.3f}] "
                    f"({detector.training['epochs']} epochs, {detector.training['ended']})")
    over_seeds = seed_interval(aucs)
    return {"per seed": "; ".join(rows), "mean": f"{sum(aucs) / len(aucs):.3f}",
            "95% t-interval over seeds": "—" if over_seeds is None else f"[{over_seeds[1]:.3f}, {over_seeds[2]:.3f}]"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run directory with generated fakes")
    parser.add_argument("--data-root", type=Path, help="folder holding the run's data set")
    parser.add_argument("--control", type=int, default=5000, help="real images that play the fakes in the control")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learned", choices=["cnn", "capsule"], help="also train this network on the control")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="its training seeds")
    parser.add_argument("--json", type=Path, help="write the control as a study (needs --learned)")
    args = parser.parse_args()
    run = RunDir(args.run)
    generators = [g for g in run.generators() if (run.fakes(g) / MANIFEST).exists()]
    first = data.load(f"folder:{run.fakes(generators[0])}", "train")
    shape = {"channels": first.channels, "image_size": first.image_size}
    source = run.data_config(args.data_root).shaped(**shape)
    real_train, real_test = source.load("train"), source.load("test")
    reals, _ = real_train.tensors(progress=False)
    tests, _ = real_test.tensors(progress=False)
    reals = reals[torch.randperm(len(reals), generator=torch.Generator().manual_seed(args.seed))]
    started = time.perf_counter()
    settings = real_jpeg_settings(real_train)
    sets = assemble_sets(run, generators, {}, reals, tests, shape, settings, "auto", args.seed)
    kinds = BASELINES.names()
    print(f"{run.root}: {len(reals)} real training images, {len(tests)} real test images, "
          f"{torch.get_num_threads()} torch threads\n")
    print("| fakes | protocol | held-out reals/fakes | " + " | ".join(f"{k} AUC" for k in kinds) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in kinds) + " |")
    for generator in generators:
        for protocol in ("raw", "matched"):
            train, val = sets.baseline_training(protocol, generator)
            test = sets.eval_sets[protocol][generator]
            aucs = [held_out_auc(kind, train, val, test, args.seed) for kind in kinds]
            count = f"{int((test.labels == 0).sum())}/{int(test.labels.sum())}"
            print(f"| {generator} | {protocol} | {count} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")
    control_reals, control = reals[:len(reals) // 2], reals[len(reals) // 2:][:args.control]
    match = fit_statistics_match(fake_split(control, "train", args.seed), control_reals)
    control_sets = (("raw", match_format(control, settings)), ("matched", match_format(match(control), settings)))
    summary = []
    for protocol, fakes in control_sets:
        train, val = training_sets(control_reals, fakes, args.seed)
        test = held_out_set(tests, fake_split(fakes, "test", args.seed), args.seed)
        aucs = [held_out_auc(kind, train, val, test, args.seed) for kind in kinds]
        count = f"{int((test.labels == 0).sum())}/{int(test.labels.sum())}"
        print(f"| control: reals | {protocol} | {count} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")
        if args.learned:
            learned = learned_control(args.learned, train, val, test, args.seeds)
            print(f"  {args.learned}: {learned}")
            summary.append({"control": f"reals against {'matched ' if protocol == 'matched' else ''}reals",
                            "held-out reals/fakes": count, **{f"{k} AUC": f"{a:.3f}" for k, a in zip(kinds, aucs,
                                                                                                   strict=True)},
                            f"{args.learned} AUC": learned["mean"],
                            "95% t-interval over seeds": learned["95% t-interval over seeds"],
                            "per seed [bootstrap 95%]": learned["per seed"]})
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.0f} s")
    if args.json and summary:
        write_json(args.json, {
            **versions.record(),
            "description": f"Does statistics matching add anything a network can learn? Reals against a second sample "
                           f"of reals, raw and statistics-matched as a generator's fakes are, by "
                           f"`benchmarks/statistics_matching.py` on {source.dataset} ({len(control_reals)} reals "
                           f"and {len(control)} control images, split 70/10/20 as detect splits fakes; "
                           f"{args.learned} trained to convergence once per training seed {args.seeds}; "
                           f"{torch.get_num_threads()} torch threads; {seconds / 60:.0f} minutes).",
            "summary_caption": "Held-out AUC on the control: chance is 0.5 by construction raw; matched, any AUC "
                               "whose interval lies above 0.5 is what matching adds",
            "summary": summary}, "study")


if __name__ == "__main__":
    main()
