"""``deepbench report``: a run's metrics, leaderboard tables, figures and HTML page, in ``report/``.

What is already computed is reused: generator metrics are cached per generator in ``metrics/<gen>.json``
(``reports.metrics.generator_metrics``), the reals' Inception features and the domain classifier in the cache
directory, and detector results are read from the detectors' ``eval.json``. Everything the report writes
is rendered from those files, so running it twice gives the same files.

Human evaluation appears once people have taken ``deepbench quiz`` on the run (``quiz/answers.csv``); before
that its table and section are left out rather than shown empty.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from benchmark import data, distributed
from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST, load_fakes, read_manifest
from benchmark.files import read_json, write_csv, write_json, write_text
from benchmark.rundir import RunDir
from detectors.matching import fit_statistics_match
from detectors.sets import fake_split
from reports.metrics.generator_metrics import MetricOptions, RealReference, generator_metrics
from reports.presentation.html import Section, write_report
from reports.presentation.leaderboard import (
    BASELINE_PREFIX,
    HUMAN_CAPTION,
    RESULTS_KIND,
    collect,
    describe,
    detection_warnings,
    detector_table,
    generator_table,
    learned,
    markdown_tables,
    quality_detectability_table,
    readable_tables,
    robustness_table,
)
from reports.presentation.plots import (
    save_auc_heatmap,
    save_image_grid,
    save_learning_curves,
    save_quality_detectability_plot,
    save_robustness_plot,
    save_roc_curves,
)

GRID_ROWS = 8


@dataclass
class StageTimes:
    """Wall seconds of each stage of a report, in the order they ran, for its one timing line."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started

    def line(self) -> str:
        stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())
        return f"report took {sum(self.seconds.values()):.1f} s: {stages}"


@dataclass
class Report:
    folder: Path
    results: dict
    generators: pd.DataFrame
    detectors: pd.DataFrame
    times: StageTimes

    @property
    def index(self) -> Path:
        return self.folder / "index.html"


def report(run_dir: str | os.PathLike, options: MetricOptions | None = None, device: str = "auto",
           data_root: str | os.PathLike | None = None, download: bool = False,
           progress: bool | None = None) -> Report:
    """Compute what is missing and write ``report/``: results.json, leaderboard.csv/.md, figures, index.html."""
    run = RunDir(Path(run_dir))
    if not run.run_json.exists():
        raise DeepbenchError(f"{run.root} is not a run directory (no run.json); pass the --out of deepbench generate")
    generators = [g for g in run.generators() if (run.fakes(g) / MANIFEST).exists()]
    if not generators:
        raise DeepbenchError(f"{run.root} has no fakes to report on; run deepbench generate --out {run.root} first")
    reals = RealReference(run, data_root, download, device)
    times = StageTimes()
    metrics = []
    for generator in generators:  # each stage: Inception and domain scores of one generator, or its cached file
        with times.stage(f"metrics {generator}"):
            metrics.append(generator_metrics(run, generator, reals, options, progress))
    results = collect(run, metrics)
    folder = run.report
    generator_frame, detector_frame = generator_table(results), pd.DataFrame(results["detectors"])
    if not distributed.is_main():  # under torchrun the ranks shared the metrics' work; rank 0 writes
        return Report(folder, results, generator_frame, detector_frame, times)
    with times.stage("tables"):
        write_json(folder / "results.json", results, RESULTS_KIND)
        frames = [generator_frame.assign(kind="generator"), detector_frame.assign(kind="detector")]
        if results["human"]:
            frames.append(pd.DataFrame(results["human"]).assign(kind="human"))
        write_csv(folder / "leaderboard.csv", pd.concat(frames, ignore_index=True))
        write_text(folder / "leaderboard.md",
                   f"# {results['name']}\n\n{describe(results)}\n\n{markdown_tables(results)}")
    with times.stage("figures"):
        figures = draw_figures(run, reals, generators, results)
    with times.stage("page"):
        write_report(folder / "index.html", f"deepbench report: {results['name']}",
                     {"run directory": str(run.root.resolve()), "data set": results["dataset"],
                      "classes": ", ".join(reals.test.classes),
                      "machine": str(results["machine"]), "finished": str(results["finished"])},
                     sections(run, results, figures))
    return Report(folder, results, generator_frame, detector_frame, times)


def draw_figures(run: RunDir, reals: RealReference, generators: list[str], results: dict) -> dict[str, Path]:
    """Sample grids, ROC curves, the cross-generator AUC heatmap and the robustness plot, in ``report/figures``."""
    folder = run.report / "figures"
    figures = {"real": save_image_grid(first_images(reals.test, GRID_ROWS * 8), folder / "real.png")}
    for generator in generators:
        fakes = data.load(f"folder:{run.fakes(generator)}", "train")
        columns = grid_columns(read_manifest(run.fakes(generator))["label"].nunique())
        figures[f"fakes:{generator}"] = save_image_grid(first_images(fakes, GRID_ROWS * columns),
                                                        folder / f"fakes-{generator}.png", columns)
    for files in run.detectors():
        record = read_json(files.evaluation, "eval")
        curves = [{"label": row["eval_set"], "auc": row["auc"], **row["roc"]} for row in record["results"]
                  if row["perturbation"] == "none" and "roc" in row]
        if curves and not record["detector"].startswith(BASELINE_PREFIX):  # baselines: their table rows suffice
            name = files.name
            figures[f"roc:{name}"] = save_roc_curves(curves, folder / f"roc-{name}.png",
                                                     f"{record['detector']} trained on {record['train_generator']}")
    if any(row.get("protocol") == "matched" for row in results["detectors"]):
        real_images, _ = reals.train.tensors()
        for generator in generators:
            fakes, _ = load_fakes(run.fakes(generator), real_images.shape[1], tuple(real_images.shape[2:]))
            matched = fit_statistics_match(fake_split(fakes, "train", run.detect_seed()), real_images)(fakes)
            figures[f"matched:{generator}"] = save_image_grid(torch.cat([fakes[:8], matched[:8]]),
                                                              folder / f"matched-{generator}.png", 8)
    clean = detector_table(results)
    clean = clean if clean.empty else learned(clean)
    if not clean.empty:
        matrices = {name: frame.pivot(index="train_generator", columns="eval_set", values="auc")
                    for name, frame in clean.groupby("detector", sort=True)}
        figures["heatmap"] = save_auc_heatmap(matrices, folder / "auc-heatmap.png")
        quality = quality_detectability_table(results)
        if not quality.empty:
            figures["quality"] = save_quality_detectability_plot(quality, folder / "quality-detectability.png")
        if results.get("learning_curves"):
            figures["learning"] = save_learning_curves(results["learning_curves"], folder / "learning-curves.png")
        robustness = robustness_table(results)
        if not robustness.empty:  # empty when the detectors were trained in another run (evaluate --with-detectors)
            figures["robustness"] = save_robustness_plot(robustness.T, folder / "robustness.png",
                                                         "AUC on held-out fakes of the training generator")
    return figures


def first_images(dataset, count: int) -> torch.Tensor:
    """The first ``count`` images, decoded one by one: a grid needs a few dozen, not the whole folder."""
    return torch.stack([dataset[i][0] for i in range(min(len(dataset), count))])


def grid_columns(classes: int) -> int:
    """Conditional fakes cycle through the classes, so one column per class (up to 16) shows a class per column."""
    return classes if 2 <= classes <= 16 else 8


def sections(run: RunDir, results: dict, figures: dict[str, Path]) -> list[Section]:
    tables = readable_tables(results)
    human = [table for table in tables if table[0] == HUMAN_CAPTION]
    tables = [table for table in tables if table[0] != HUMAN_CAPTION]
    generators = [m["generator"] for m in results["generators"]]
    notes = sorted({m.get(key) or "" for m in results["generators"]
                    for key in ("fid_note", "inception_missing", "inception_score_missing", "domain_missing")} - {""})
    quality = Section("Sample quality", text=[describe(results), *notes], tables=tables[:1])
    samples = Section("Samples", figures=[("Real images (test split)", figures["real"])] + [
        (f"{name}: fakes", figures[f"fakes:{name}"]) for name in generators])
    losses = Section("Training", figures=[(f"{name}: training curves", run.generator(name) / "losses.png")
                                          for name in generators
                                          if (run.generator(name) / "losses.png").is_file()])  # imported: none
    detection = Section("Detection", text=detection_warnings(results), tables=tables[1:])
    detection.figures += [(f"{key.removeprefix('matched:')}: fakes as written (top) and after statistics matching "
                           f"(bottom), the matched protocol's images", path)
                          for key, path in figures.items() if key.startswith("matched:")]
    if "heatmap" in figures:
        detection.figures += [("Cross-generator AUC (rows: trained on; columns: evaluated on)", figures["heatmap"])]
        if "quality" in figures:
            detection.figures.append(("Sample quality against detectability: each generator's quality beside each "
                                      "detector's AUC on its held-out fakes, with 95% bootstrap intervals",
                                      figures["quality"]))
        if "learning" in figures:
            detection.figures.append(("Learning curves: in-distribution AUC against the number of training fakes, "
                                      "with 95% bootstrap intervals", figures["learning"]))
        if "robustness" in figures:
            detection.figures.append(("Robustness to perturbations", figures["robustness"]))
        detection.figures += [(f"ROC curves: {key.removeprefix('roc:')}", path) for key, path in figures.items()
                              if key.startswith("roc:")]
    else:
        detection.text.append(f"No detector results yet: run deepbench detect --run {run.root}.")
    if not human:
        return [quality, samples, losses, detection]
    people = Section("Human evaluation", text=[
        f"Answers of people to deepbench quiz --run {run.root} (quiz/answers.csv): each image is a held-out real "
        f"or a held-out fake; 95% confidence intervals by the Wilson score method."], tables=human)
    return [quality, samples, losses, detection, people]


def export(run_dir: str | os.PathLike, path: str | os.PathLike, name: str | None = None) -> Path:
    """Copy a reported run's results to ``path`` (e.g. ``benchmark/results/NAME.json``), named ``name``."""
    run = RunDir(Path(run_dir))
    results = read_json(run.report / "results.json", RESULTS_KIND)
    results["name"] = name or Path(path).stem
    return write_json(path, results, RESULTS_KIND)
