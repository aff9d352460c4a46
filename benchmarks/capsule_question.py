"""The capsule question's table: each discriminator at the learning rate its validation score chose, over seeds.

Reads a finished ``capsule-question`` suite (``deepbench run --suite capsule-question --out OUT``), whose
experiments each train the three GANs at one learning rate and one seed. For each discriminator the learning
rate is the one with the lowest mean validation score over the seeds: the domain KID of 1,000 fakes against
1,000 training reals at the step ``best.pt`` was kept (the score training itself selects with), never a reported
metric. At that rate it prints, over the seeds, the mean and 95% t-interval of the reported metrics (FID, KID,
precision, recall of 1,000 fakes against 1,000 reals of the training split, as ``deepbench report`` computes
Inception metrics by the field's convention; for seed 0 the same 1,000 reals the validation score uses), training
steps and seconds; then GAM between each pair of discriminators on the test split, seed by seed, each at its
chosen rate. With ``--json FILE`` it also writes every number.
An interval is cut at the bounds its metric cannot cross (FID, steps and seconds at 0; precision and recall at
0 and 1): with three seeds a t-interval is wide, and a negative recall would be no statement at all.
``--from-json FILE`` summarises the runs and GAM verdicts recorded in FILE again, without the suite's folder.

    .venv/bin/python benchmarks/capsule_question.py --out runs/capsule-question --data-root ../shared/data \\
        [--json benchmark/results/capsule-question/summary.json]
    .venv/bin/python benchmarks/capsule_question.py --from-json benchmark/results/capsule-question/summary.json \\
        --json benchmark/results/capsule-question/summary.json
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
from pathlib import Path

import pandas as pd
from seed_intervals import interval_text

from benchmark import versions
from benchmark.files import load_checkpoint, read_json, write_json
from benchmark.rundir import RunDir
from reports.metrics.gam import gam

BOUNDS = {"fid": (0, None), "kid_mean": (None, None),  # the unbiased KID estimate can be negative
          "precision": (0, 1), "recall": (0, 1), "train_steps": (0, None), "train_seconds": (0, None)}
METRICS = tuple(BOUNDS)
SUMMARY_CAPTION = ("Reported metrics at the chosen learning rate ({fakes:,} fakes against {reals:,} training reals), "
                   "mean [95% t-interval over seeds, cut at the metric's bounds]")


def describe(table: pd.DataFrame) -> str:
    """The protocol in words, from what the runs recorded: data set, budget, machine, rates and seeds."""
    budget = table.budget_minutes.iloc[0]
    compute = (f"{budget:g} minutes of training each on {table.machine.iloc[0]} (CPU time on a CPU, the wall "
               f"clock on a GPU)" if budget else "no time budget")
    rates = " and ".join(f"{lr:g}" for lr in sorted(table.lr.unique()))
    seeds = ", ".join(str(seed) for seed in sorted(table.seed.unique()))
    return (f"Do capsules help? DCGAN's generator trained against three discriminators (DCGAN's, deepbench's capsule "
            f"discriminator `capsgan`, and the CapsuleGAN paper's `capsgan-paper`) on {table.dataset.iloc[0]}, "
            f"{compute}, learning rates {rates}, seeds {seeds}; the rate of each discriminator chosen on the "
            f"validation score (domain KID against training reals), never on a reported metric. Reported metrics: "
            f"FID, KID, precision and recall of {table.samples_fake.iloc[0]:,} fakes against "
            f"{table.samples_real.iloc[0]:,} reals of the training split (the convention for Inception metrics, as "
            f"`deepbench report` computes them; the test split serves GAM). Summarised by "
            f"`benchmarks/capsule_question.py`.")


def runs_table(out: Path) -> pd.DataFrame:
    """One row per (experiment, generator): learning rate, seed, validation score and reported metrics."""
    rows = []
    for folder in sorted(p for p in out.iterdir() if (p / "report" / "results.json").exists()):
        run = RunDir(folder)
        config = run.generate_config()
        train = config["train"]
        machine = next(s["machine"] for s in reversed(run.read_record()["stages"]) if s["command"] == "generate")
        results = read_json(run.report / "results.json", "results")
        for metrics in results["generators"]:
            name = metrics["generator"]
            state = load_checkpoint(run.last_checkpoint(name))
            rows.append({"experiment": folder.name, "generator": name, "dataset": config["dataset"],
                         "budget_minutes": train["max_minutes"], "machine": machine,
                         "lr": state["train"]["lr_g"], "seed": train["seed"],  # the rate used, a default too
                         "validation_kid": state["best_score"], "samples_real": metrics["samples_real"],
                         "samples_fake": metrics["samples_fake"], **{key: metrics[key] for key in METRICS}})
    if not rows:
        raise SystemExit(f"{out} holds no reported experiments; run deepbench run --suite capsule-question first")
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, list[dict]]:
    """The validation score per discriminator and rate, the rate each chose, and the reported metrics there."""
    selection = table.groupby(["generator", "lr"])["validation_kid"].mean().unstack()
    chosen = selection.idxmin(axis=1)
    summary = []
    for generator, lr in chosen.items():
        cell = table[(table.generator == generator) & (table.lr == lr)]
        summary.append({"generator": generator, "lr": lr, "seeds": len(cell),
                        "samples (real/fake)": f"{cell.samples_real.iloc[0]}/{cell.samples_fake.iloc[0]}",
                        **{key: interval_text(cell[key], BOUNDS[key]) for key in METRICS}})
    return selection, chosen, summary


def judge(table: pd.DataFrame, chosen: pd.Series, out: Path, data_root: Path | None, device: str) -> list[dict]:
    """GAM between each pair of discriminators, seed by seed, each at its chosen rate."""
    judged = []
    for first, second in itertools.combinations(chosen.index, 2):
        for seed in sorted(table.seed.unique()):
            folders = [out / table[(table.generator == name) & (table.lr == chosen[name]) & (table.seed == seed)]
                       .experiment.iloc[0] / "generators" / name for name in (first, second)]
            result = gam(*folders, device=device, data_root=data_root, seed=int(seed))
            judged.append({"A": first, "B": second, "seed": seed, "r_test": result["test_ratio"],
                           "r_samples": result["sample_ratio"], "winner": result["winner"],
                           "error A on reals": result["error_a_reals"], "error B on reals": result["error_b_reals"],
                           "error A on B's fakes": result["error_a_on_b_fakes"],
                           "error B on A's fakes": result["error_b_on_a_fakes"]})
    return judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--out", type=Path, help="the suite's --out folder")
    source.add_argument("--from-json", type=Path, help="a --json file of an earlier call: summarise its runs again")
    parser.add_argument("--data-root", type=Path, help="folder holding the data sets")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--device", default="auto", help="where GAM's discriminators judge: auto, cpu, cuda")
    args = parser.parse_args()
    recorded = read_json(args.from_json, "study") if args.from_json else None
    table = pd.DataFrame(recorded["runs"]) if recorded else runs_table(args.out)
    print("every run (steps are what the budget bought: similar across seeds, or the machine's load changed it):\n")
    print(table[["experiment", "generator", "train_steps", "train_seconds", "validation_kid", "fid"]]
          .to_markdown(index=False, floatfmt=".4g"), "\n")
    selection, chosen, summary = summarise(table)
    print("validation score (domain KID against training reals, lower is better; mean over seeds) per learning "
          "rate; the lowest chooses the rate:\n")
    print(selection.to_markdown(floatfmt=".4f"), "\n")
    print("reported metrics at the chosen rate, mean [95% t-interval] over seeds:\n")
    print(pd.DataFrame(summary).to_markdown(index=False), "\n")
    judged = recorded["gam"] if recorded else judge(table, chosen, args.out, args.data_root, args.device)
    print("GAM at the chosen rates (A wins: r_samples < 1; a verdict needs r_test within 0.1 of 1):\n")
    print(pd.DataFrame(judged).to_markdown(index=False, floatfmt=".3f"))
    medians = {pair: statistics.median(math.inf if row["r_samples"] is None else row["r_samples"]  # null: infinite
                                       for row in judged if (row["A"], row["B"]) == pair)
               for pair in itertools.combinations(chosen.index, 2)}
    print("\nmedian r_samples per pair:", {f"{a} vs {b}": round(value, 3) for (a, b), value in medians.items()})
    if args.json:
        caption = SUMMARY_CAPTION.format(fakes=table.samples_fake.iloc[0], reals=table.samples_real.iloc[0])
        description = recorded["description"] if recorded else describe(table)
        made = {key: recorded.get(key) for key in ("protocols", "commit")} if recorded else versions.record()
        write_json(args.json, {**made, "description": description, "summary_caption": caption,
                               "runs": table.to_dict("records"), "chosen_lr": chosen.to_dict(), "summary": summary,
                               "gam": judged}, "study")


if __name__ == "__main__":
    main()
