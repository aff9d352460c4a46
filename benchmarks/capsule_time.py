"""The capsule question against training time: FID of each discriminator's GAN after growing CPU-time budgets.

Each discriminator trains DCGAN's generator at the learning rate the capsule question chose for it (``chosen_lr`` in
``benchmark/results/capsule-question/summary.json``), with the suite's options (full MNIST, 100 epochs at most) at
``--threads`` torch threads (the suite's 2 by default; the JSON records the count), seeds 0-2. One run per
discriminator and seed grows through ``--budgets`` (CPU minutes, what ``train.max_minutes`` counts): each budget
resumes the run where the last one stopped, samples ``--fakes`` fakes from ``best.pt`` as the suite does, and scores
them as ``deepbench report`` does (``MetricOptions(num_samples=1000, seed=SEED)``: FID and KID against 1,000 reals
of the training split). Training scores a checkpoint every 1,000 steps and at the end of each call, so here at every
budget too: ``best.pt`` at a budget is the best of the checkpoints scored up to it, where the suite with that
``max_minutes`` would have scored the last one alone. That differs only where an earlier budget's checkpoint stays
best (``sampled_step`` below ``train_steps``).

With ``--epochs`` the budgets count whole epochs instead, the equal-epochs view: each run trains to the budget's
epoch with no time limit, so every discriminator's GAN has seen the same images, and the seconds of training that
took (wall clock) are recorded beside the FID. The runs of the two views belong in different ``--out`` folders and
their points in different ``--json`` files.

Prints FID per discriminator and budget, mean [95% t-interval over seeds], writes every point to ``--json`` (a
second call with the same ``--out`` and ``--json`` computes only the points missing) and draws ``--plot``.

    .venv/bin/python benchmarks/capsule_time.py --out runs/capsule-time --data-root ../shared/data \\
        --json benchmark/results/capsule-question/fid-against-time.json \\
        --plot benchmark/results/capsule-question/fid-against-time.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402
from seed_intervals import t_interval  # noqa: E402

from benchmark import versions
from benchmark.files import read_json, write_json  # noqa: E402
from benchmark.rundir import RunDir  # noqa: E402
from benchmark.runtime import set_threads  # noqa: E402
from generators.generate import generate  # noqa: E402
from generators.train import TrainConfig  # noqa: E402
from reports.metrics.domain import domain_quality_scorer  # noqa: E402
from reports.metrics.generator_metrics import MetricOptions, RealReference, generator_metrics  # noqa: E402

SUMMARY = Path("benchmark/results/capsule-question/summary.json")
THREADS, EPOCHS, REALS = 2, 100, 1000  # as benchmark/suites/capsule-question.toml
POINTS_KIND = "study-points"


def point(out: Path, generator: str, lr: float, seed: int, budget: float, unit: str, fakes: int,
          data_root: Path | None) -> dict:
    """Train ``generator``'s run on to ``budget`` (CPU minutes or epochs), sample, and score as the report does."""
    run = out / f"{generator}-seed{seed}"
    if unit == "epochs":
        config = TrainConfig(epochs=int(budget), lr_g=lr, lr_d=lr, seed=seed)
    else:
        config = TrainConfig(epochs=EPOCHS, max_minutes=budget, lr_g=lr, lr_d=lr, seed=seed)
    generate("mnist", (generator,), run, config, num_samples=fakes, resume=run.exists(), data_root=data_root,
             scorer_factory=domain_quality_scorer, progress=False)
    directory = RunDir(run)
    metrics = generator_metrics(directory, generator, RealReference(directory, data_root),
                                MetricOptions(num_samples=REALS, seed=seed), progress=False)
    return {"generator": generator, "lr": lr, "seed": seed, f"budget_{unit}": budget,
            "train_steps": metrics["train_steps"], "train_seconds": metrics["train_seconds"],
            "sampled_step": metrics["sampled_step"], "samples_real": metrics["samples_real"],
            "samples_fake": metrics["samples_fake"], "fid": metrics["fid"], "kid_mean": metrics["kid_mean"]}


def summary(points: pd.DataFrame, budget: str) -> pd.DataFrame:
    """Mean and 95% t-interval over the seeds of FID, and the mean steps and seconds of training, per discriminator and
    ``budget`` (the column of the budgets)."""
    rows = []
    for (generator, value), cell in points.groupby(["generator", budget]):
        mean, low, high = t_interval(cell.fid, (0, None))
        rows.append({"generator": generator, budget: value, "seeds": len(cell), "steps": round(cell.train_steps.mean()),
                     "train_seconds": round(cell.train_seconds.mean()), "fid": mean, "fid_low": low,
                     "fid_high": high})
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, budget: str, threads: int, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    for generator, rows in table.groupby("generator"):
        line, = axis.plot(rows[budget], rows.fid, marker="o", label=f"{generator}")
        axis.fill_between(rows[budget], rows.fid_low, rows.fid_high, color=line.get_color(), alpha=0.2)
    unit = "epochs" if budget == "budget_epochs" else f"CPU minutes at {threads} threads"
    axis.set(xscale="log", yscale="log", xlabel=f"training budget ({unit})",
             ylabel=f"FID ({REALS:,} fakes vs {REALS:,} training reals)",
             title=f"MNIST: FID against training {unit.split()[0]}, mean and 95% t-interval over seeds")
    axis.title.set_fontsize(9)
    budgets = sorted(table[budget].unique())
    axis.set_xticks(budgets, [f"{budget:g}" for budget in budgets])
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.yaxis.set_major_formatter(ScalarFormatter())
    axis.yaxis.set_minor_formatter(ScalarFormatter())
    axis.legend(title="discriminator")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def save(path: Path, points: list[dict], unit: str, threads: int) -> None:
    """Every point so far, with what they measure, so that a second call computes only the missing ones."""
    paragraphs = __doc__.split("\n\n")[1:3] if unit == "epochs" else __doc__.split("\n\n")[1:2]
    write_json(path, {**versions.record(), "description": " ".join(paragraphs).replace("\n", " "), "threads": threads,
                      "points": points}, POINTS_KIND)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the runs (one per discriminator and seed)")
    parser.add_argument("--data-root", type=Path, help="folder holding MNIST")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.5, 1, 2, 4],
                        help="CPU minutes (epochs with --epochs), ascending")
    parser.add_argument("--epochs", action="store_true",
                        help="the budgets count epochs, not CPU minutes: the equal-epochs view")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads (recorded with the points)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--discriminators", nargs="+", help="only these (default: every one the question chose a rate "
                                                                "for)")
    parser.add_argument("--fakes", type=int, default=REALS, help="fakes sampled at each budget")
    parser.add_argument("--json", type=Path, required=True, help="every point; the points it holds are kept")
    parser.add_argument("--plot", type=Path, help="PNG of FID against the budget")
    args = parser.parse_args()
    unit = "epochs" if args.epochs else "minutes"
    budget = f"budget_{unit}"
    if args.epochs and any(value != int(value) or value < 1 for value in args.budgets):
        parser.error(f"--epochs takes whole epochs as budgets, got {args.budgets}")
    set_threads(args.threads)
    chosen = read_json(SUMMARY, "study")["chosen_lr"]
    points = read_json(args.json, POINTS_KIND)["points"] if args.json.exists() else []
    if any(budget not in p for p in points):
        parser.error(f"{args.json} holds points of the other view (not {budget}); use another --json")
    done = {(p["generator"], p["seed"], p[budget]) for p in points}
    for generator, lr in sorted(chosen.items()):
        if args.discriminators and generator not in args.discriminators:
            continue
        for seed in args.seeds:
            for value in sorted(args.budgets):
                if (generator, seed, value) not in done:
                    points.append(point(args.out, generator, lr, seed, value, unit, args.fakes, args.data_root))
                    print(points[-1], flush=True)
                    save(args.json, points, unit, args.threads)
    save(args.json, points, unit, args.threads)
    table = summary(pd.DataFrame(points), budget)
    print(table.to_markdown(index=False, floatfmt=".4g"))
    if args.plot:
        plot(table, budget, args.threads, args.plot)


if __name__ == "__main__":
    main()
