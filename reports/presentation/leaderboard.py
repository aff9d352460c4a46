"""Results as tables: a run's results in one JSON, and the leaderboard in Markdown and CSV (pandas).

A run's results (:func:`collect`) are its generators' metric files, its detectors' evaluation rows and, once
people have taken ``deepbench quiz``, their accuracy per generator, with what is needed to read them: data set,
machine, seed, package versions and how long each stage took. The same JSON is what ``deepbench report
--export`` writes into ``benchmark/results/``, and the committed ``benchmark/LEADERBOARD.md`` is rendered from
those files alone (:func:`render_leaderboard`), so it can be rebuilt and checked for staleness anywhere,
without the runs. A study over many runs (the capsule question: seeds and learning rates) commits its summary
as ``benchmark/results/<study>/summary.json``, and gets a section of its own after the runs'.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST
from benchmark.files import load_checkpoint, read_json, write_text
from benchmark.rundir import RunDir
from detectors.generalisation import family_of
from detectors.learning_curve import PLATEAU_GAIN, last_doubling_gain
from detectors.metrics import BOOTSTRAP, seed_interval
from detectors.sets import UNION
from reports.metrics.fidelity import FEATURE_DIMENSIONS, FID_INFINITY_SPAN
from reports.presentation.provenance import provenance
from reports.quiz.answers import human_rows, read_answers

RESULTS_KIND = "results"
STUDY_KIND = "study"  # a summary over many runs: a description, a summary table and, optionally, GAM verdicts
GAM_COLUMNS = ("A", "B", "seed", "r_test", "r_samples", "winner")
GENERATOR_COLUMNS = {  # raw key -> (Markdown heading, format); CSV keeps the raw keys and values
    "generator": ("generator", "s"), "kid_mean": ("KID x10³", ".2f"), "fid": ("FID", ".2f"), "fid_n": ("FID n", "s"),
    "fid_infinity": ("FID∞", ".2f"), "fid_subsets_shown": ("FID subsets", "s"),
    "precision_shown": ("precision", "s"), "recall_shown": ("recall", "s"), "density_shown": ("density", "s"),
    "coverage_shown": ("coverage", "s"), "inception_score_mean": ("IS", ".2f"), "domain_fid": ("domain FID", ".2f"),
    "domain_kid_mean": ("domain KID", ".2f"), "domain_is_mean": ("domain IS", ".2f"), "gan_train": ("GAN-train", ".3f"),
    "gan_test": ("GAN-test", ".3f"), "train_minutes": ("train min", ".1f"),
}
DETECTOR_COLUMNS = {
    "detector": ("detector", "s"), "augment": ("training", "s"), "train_generator": ("trained on", "s"),
    "eval_set": ("evaluated on", "s"), "auc_shown": ("AUC [95% CI]", "s"),
    "auc_seeds_shown": ("AUC over seeds [95% CI]", "s"), "accuracy_shown": ("accuracy [95% CI]", "s"),
    "accuracy_at_0.5": ("acc@0.5", ".3f"), "tpr_shown": ("TPR@1%FPR", "s"), "eer": ("EER", ".3f"),
    "ece": ("ECE", ".3f"), "n_real": ("reals", "d"), "n_fake": ("fakes", "d"), "converged": ("converged", "s"),
}
BASELINE_PREFIX = "baseline:"
ENDED_SHOWN = {"converged": "yes", "ceiling": "no (ceiling)"}  # how a detector's training ended, for people
SHORTCUT_MARGIN = 0.05  # a trivial baseline this close to the best learned detector's AUC makes it suspect
WITH_STD = {"kid_mean": "kid_std", "inception_score_mean": "inception_score_std",
            "domain_kid_mean": "domain_kid_std", "domain_is_mean": "domain_is_std"}
SCALED = {"kid_mean": 1000, "domain_kid_mean": 1000}  # KID reads as x 10^3, as papers print it
DETECTION_CAPTION = ("Detection, {protocol} protocol (clean held-out images; scores are logits; accuracy at the "
                     "threshold chosen on validation data, acc@0.5 at calibrated P(fake) = 0.5; 95% intervals from "
                     f"{BOOTSTRAP} stratified bootstrap resamples of the test images, so they leave out training's "
                     "own variation, their bounds rounded outward to the decimals that many resamples fix (two "
                     "where the interval is wide); with several training seeds, figures are means over the "
                     "seeds and AUC over seeds gives the 95% t-interval across them, the interval that says whether "
                     "two rows differ; ECE over 15 bins; an AUC is labelled inverted when its whole interval lies "
                     "below 0.5, chance when the interval holds 0.5; training: robust = random blur and JPEG "
                     "augmentation; converged: training stopped when validation loss stopped improving, ceiling: at "
                     "its most epochs while still improving; baseline:* rows are logistic regressions on trivial "
                     "statistics)")
PROTOCOL_CAPTION = ("Protocols (clean AUC on the fakes as written, raw, and after statistics matching gave them the "
                    "real training images' pixel-value histogram (exact histogram specification), matched; "
                    "the other tables lead with matched; networks trained on fakes half of which were matched, "
                    "baselines under each protocol apart)")
HUMAN_CAPTION = ("Human evaluation (deepbench quiz: share of held-out images people judged right; fooling rate: "
                 "share of fakes judged real)")


def stage_seconds(record: dict) -> dict[str, float]:
    """Wall time of the latest finished run of each stage of ``run.json``: a later run of a stage redid the
    earlier one's work (or finished what an interruption left, whose own time was never stamped)."""
    seconds: dict[str, float] = {}
    for stage in record["stages"]:
        if stage.get("finished"):
            took = datetime.fromisoformat(stage["finished"]) - datetime.fromisoformat(stage["started"])
            seconds[stage["command"]] = took.total_seconds()
    return seconds


def detector_rows(run: RunDir) -> list[dict]:
    """Every evaluation row of every detector in the run, without the ROC curves."""
    rows = []
    for files in run.detectors():
        record = read_json(files.evaluation, "eval")
        for row in record["results"]:
            flat = {k: v for k, v in row.items() if k != "roc"}
            training = record.get("training") or {}
            rows.append({"detector": record["detector"], "train_generator": record["train_generator"],
                         "augment": (record.get("detector_config") or {}).get("augment"),
                         "training_seed": record.get("training_seed"), "training_ended": training.get("ended"),
                         "training_epochs": training.get("epochs"), "parameters": record.get("parameters"), **flat,
                         "format_match": record["format_match"]["applied"]})
    return rows


def collect(run: RunDir, generator_metrics: list[dict], name: str | None = None) -> dict:
    """The run's results as one JSON-ready dict (the ``--export`` format)."""
    record = run.read_record()
    last = record["stages"][-1]
    generate = run.generate_config()
    generators = [{k: v for k, v in m.items() if k != "key"} for m in generator_metrics]
    protocols = run_protocols(run, generator_metrics)
    return {"name": name or run.root.name, "dataset": generate["dataset"], "seed": last["seed"],
            "machine": last.get("machine"), "versions": last["versions"], "protocols": protocols,
            "commit": last.get("commit"), "finished": last.get("finished"),
            "stage_seconds": stage_seconds(record), "generators": generators, "detectors": detector_rows(run),
            "learning_curves": learning_curves(run), "human": human_rows(read_answers(run))}


def run_protocols(run: RunDir, generator_metrics: list[dict]) -> dict[str, int | None]:
    """The oldest protocol versions the run's results were produced under, read from what produced each part:
    training from each trained generator's ``last.pt``, sampling from its fakes' manifest, detection from each
    detector's ``eval.json``, metrics from each metrics file. A part written before versions were kept falls back
    to its latest stage's record in ``run.json``; a protocol nothing recorded is left out, which the staleness
    check counts as stale. Imported fakes have no training or sampling protocol of ours (None)."""
    stages = run.read_record()["stages"]

    def recorded(protocol: str) -> int | None:
        return next((stage["protocols"][protocol] for stage in reversed(stages)
                     if protocol in (stage.get("protocols") or {})), None)

    found: dict[str, list] = {"training": [], "sampling": [], "detection": [], "metrics": []}
    trained = [g for g in run.generators() if run.last_checkpoint(g).exists()]
    for generator in trained:
        state = load_checkpoint(run.last_checkpoint(generator))
        found["training"].append((state.get("protocols") or {}).get("training") or recorded("training"))
        manifest = run.fakes(generator) / MANIFEST
        first = pd.read_csv(manifest, nrows=1) if manifest.exists() else pd.DataFrame()
        sampled = first["sampling_protocol"].iloc[0] if "sampling_protocol" in first else None
        found["sampling"].append(int(sampled) if sampled is not None and not pd.isna(sampled) else recorded("sampling"))
    for files in run.detectors():
        saved = (read_json(files.evaluation, "eval").get("protocols") or {}).get("detection")
        found["detection"].append(saved if saved is not None else recorded("detection"))
    found["metrics"] = [m.get("key", {}).get("version") for m in generator_metrics]
    protocols = {} if trained else {"training": None, "sampling": None}  # imported fakes only
    for protocol, values in found.items():
        if values and all(isinstance(value, int) for value in values):
            protocols[protocol] = min(values)
    return protocols


def learning_curves(run: RunDir) -> list[dict]:
    """Each detector's learning curve (held-out AUC against training fakes), where one was asked for."""
    curves = []
    for files in run.detectors():
        record = read_json(files.evaluation, "eval")
        if record.get("learning_curve"):
            curves.append({"detector": record["detector"], "train_generator": record["train_generator"],
                           "training_seed": record.get("training_seed"), "points": record["learning_curve"]})
    return curves


def generator_table(results: dict) -> pd.DataFrame:
    """One row per generator with the raw metric values (CSV form).

    Results written before FID subsets and FID-infinity (``fid_std`` and ``fid_bootstrap`` instead) lack their
    columns; :func:`readable_tables` shows them as a dash there, and no longer shows ``fid_std``, a bootstrap
    spread far smaller than FID's small-sample bias.
    """
    rows = []
    for metrics in results["generators"]:
        row = dict(metrics)
        row["train_minutes"] = None if metrics.get("train_seconds") is None else metrics["train_seconds"] / 60
        rows.append(row)
    return pd.DataFrame(rows)


KNN_METRICS = ("precision", "recall", "density", "coverage")


def _fid_readable(frame: pd.DataFrame) -> pd.DataFrame:
    """The generator table with FID's sample counts ("reals/fakes"), its subset range ("mean [lo, hi] @n") and
    the k-NN metrics with their intervals as strings: a FID means nothing without the counts it was computed
    at. None (a dash) where missing, also for results older than these fields."""
    rows = frame.to_dict("records")
    counts = [None if _missing(row.get("fid")) or _missing(row.get("samples_real")) or _missing(row.get("samples_fake"))
              else f"{int(row['samples_real'])}/{int(row['samples_fake'])}" for row in rows]
    subsets = [None if _missing(row.get("fid_subset_mean")) or not row.get("fid_subset_interval") else
               "{:.2f} [{:.2f}, {:.2f}] @{}".format(row["fid_subset_mean"], *row["fid_subset_interval"],
                                                   int(row["fid_subset_size"])) for row in rows]
    infinity = [row.get("fid_infinity") if _extrapolation_holds(row) else None for row in rows]
    knn = {f"{name}_shown": [_with_interval(row.get(name), row.get(f"{name}_ci")) for row in rows]
           for name in KNN_METRICS}
    return frame.assign(fid_n=counts, fid_infinity=infinity, fid_subsets_shown=subsets, **knn)


def _extrapolation_holds(row: dict) -> bool:
    """Whether a record's FID-infinity was fitted where FID falls as 1/n: every point at or above the features'
    dimension. Results written before that rule may hold a fit from fewer samples; it is not shown."""
    points = row.get("fid_infinity_points")
    if _missing(row.get("fid_infinity")) or not isinstance(points, list) or not points:
        return False
    return min(points[0]) > FEATURE_DIMENSIONS


def detections(results: dict) -> pd.DataFrame:
    """Every detection row, one per detector, training generator, evaluation set, perturbation and protocol, its
    training seeds averaged (:func:`over_seeds`); rows of results from before statistics matching count as the
    raw protocol."""
    frame = pd.DataFrame(results["detectors"])
    if frame.empty:
        return frame
    return over_seeds(frame.assign(protocol=frame["protocol"].fillna("raw") if "protocol" in frame else "raw"))


SEED_GROUP = ("detector", "train_generator", "augment", "eval_set", "perturbation", "protocol", "format_match")


def over_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per detector trained with several training seeds: the mean of each figure over the seeds, the mean
    of each bootstrap interval's bounds, ``seeds`` (how many), ``auc_seed_ci`` (the 95% t-interval of the mean AUC
    across seeds, :func:`detectors.metrics.seed_interval`, cut at 0 and 1) and ``training_ended`` "ceiling" when any
    seed stopped at its ceiling. Rows of a single seed keep their values, with ``seeds`` 1 and no seed interval."""
    keys = [key for key in SEED_GROUP if key in frame]
    groups = frame.groupby(keys, sort=False, dropna=False)
    if groups.ngroups == len(frame):  # one seed everywhere (every committed result so far): nothing to average
        return frame.assign(seeds=1, auc_seed_ci=None)
    rows = []
    for _, group in groups:
        row = group.iloc[0].to_dict()
        for column in group.columns.difference(keys):
            values = group[column].tolist()
            if all(isinstance(v, list) and len(v) == 2 for v in values):
                row[column] = [float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values]))]
            elif column != "training_seed" and pd.api.types.is_numeric_dtype(group[column]) and len(group) > 1:
                row[column] = float(group[column].mean())
        interval = seed_interval(group["auc"]) if "auc" in group else None
        row["seeds"] = len(group)  # the interval cut at the bounds an AUC cannot cross: above 1 is no statement
        row["auc_seed_ci"] = None if interval is None else [max(0.0, interval[1]), min(1.0, interval[2])]
        if "training_ended" in group:
            row["training_ended"] = "ceiling" if (group["training_ended"] == "ceiling").any() else row["training_ended"]
        rows.append(row)
    return pd.DataFrame(rows)


def headline_protocol(frame: pd.DataFrame) -> str:
    """The protocol the tables lead with: statistics-matched fakes when they were evaluated, else raw."""
    return "matched" if (frame["protocol"] == "matched").any() else "raw"


def detector_table(results: dict, perturbation: str = "none", protocol: str | None = None) -> pd.DataFrame:
    """One row per detector x training generator x evaluation set, for one perturbation and protocol (by default
    the headline one) (CSV form)."""
    frame = detections(results)
    if frame.empty:
        return frame
    protocol = protocol or headline_protocol(frame)
    return frame[(frame["perturbation"] == perturbation) & (frame["protocol"] == protocol)].reset_index(drop=True)


def protocol_table(results: dict) -> pd.DataFrame:
    """Clean AUC under the raw and the matched protocol side by side (empty when only one was evaluated)."""
    frame = detections(results)
    if frame.empty or set(frame["protocol"]) != {"raw", "matched"}:
        return pd.DataFrame()
    clean = frame[frame["perturbation"] == "none"]
    table = clean.pivot_table(index=["detector", "train_generator", "eval_set"], columns="protocol", values="auc",
                              aggfunc="first", sort=False)
    return table.reset_index()[["detector", "train_generator", "eval_set", "raw", "matched"]]


def learned(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of trained networks, without the trivial-statistics baselines."""
    return frame[~frame["detector"].str.startswith(BASELINE_PREFIX)]


def robustness_table(results: dict) -> pd.DataFrame:
    """In-distribution AUC of each detector under each perturbation (headline protocol): rows detector@generator,
    columns perturbation."""
    frame = detections(results)
    if frame.empty:
        return frame
    frame = frame[frame["protocol"] == headline_protocol(frame)]
    frame = learned(frame[frame["train_generator"] == frame["eval_set"]])
    frame = frame.assign(trained=frame["detector"] + "@" + frame["train_generator"])
    order = list(dict.fromkeys(frame["perturbation"]))
    return frame.pivot(index="trained", columns="perturbation", values="auc")[order]


def _auc_cells(frame: pd.DataFrame) -> list[str]:
    """Each row's AUC as people read it, with its interval where the row has one."""
    return [_with_bootstrap(v, ci, labelled=True) for v, ci in zip(
        frame["auc"], frame["auc_ci"] if "auc_ci" in frame else [None] * len(frame), strict=True)]


def _trained_detector(frame: pd.DataFrame) -> pd.Series:
    """Each row's detector and how it was trained, as "cnn (robust training)" (robust: with blur and JPEG
    augmentation; "standard" where not recorded): one label for the matrices and the transfer summary."""
    augment = frame["augment"].fillna("standard") if "augment" in frame else "standard"
    return frame["detector"] + " (" + augment + " training)"


def transfer_matrices(results: dict) -> list[tuple[str, pd.DataFrame]]:
    """(detector, matrix) for each learned detector that was evaluated on fakes of generators it was not trained
    on: AUC [95% CI] with rows the generator it was trained on and columns the fakes it was evaluated on (headline
    protocol, clean images); the diagonal is in distribution. Empty without such a cross-generator evaluation."""
    frame = learned(detector_table(results))
    if frame.empty or (frame["train_generator"] == frame["eval_set"]).all():
        return []
    frame = frame.assign(cell=_auc_cells(frame), trained_detector=_trained_detector(frame))
    rows = list(dict.fromkeys(frame["train_generator"]))
    columns = rows + [name for name in dict.fromkeys(frame["eval_set"]) if name not in rows]
    matrices = []
    for detector, cells in frame.groupby("trained_detector", sort=False):
        matrix = cells.pivot(index="train_generator", columns="eval_set", values="cell")
        matrix = matrix.reindex(index=[r for r in rows if r in matrix.index],
                                columns=[c for c in columns if c in matrix.columns]).fillna("—")
        matrices.append((detector,
                         matrix.reset_index().rename(columns={"train_generator": "trained on \\ evaluated on"})))
    return matrices


def transfer_summary(results: dict) -> pd.DataFrame:
    """What transfers between generator families: for each learned detector, family it was trained on and
    family it was evaluated on, the AUCs of every pair of different generators (the diagonal left out), as
    their count, mean and range. A mean over pairs, not a pooled AUC: each pair has its own interval in the
    matrix. Detectors trained on a union of generators have no one family, and are left out. Empty without a
    cross-generator evaluation."""
    frame = learned(detector_table(results))
    frame = frame[(frame["train_generator"] != frame["eval_set"]) &
                  ~frame["train_generator"].str.contains(UNION, regex=False)] if not frame.empty else frame
    if frame.empty:
        return pd.DataFrame()
    frame = frame.assign(trained=frame["train_generator"].map(family_of),
                         evaluated=frame["eval_set"].map(family_of),
                         trained_detector=_trained_detector(frame))
    summary = frame.groupby(["trained_detector", "trained", "evaluated"], sort=False)["auc"].agg(
        ["count", "mean", "min", "max"]).reset_index()
    return pd.DataFrame({
        "detector": summary["trained_detector"], "trained on (family)": summary["trained"],
        "evaluated on (family)": summary["evaluated"], "generator pairs": summary["count"].astype(str),
        "mean AUC": summary["mean"].map(auc_text),
        "range": [f"{low:.3f}–{high:.3f}" for low, high in zip(summary["min"], summary["max"], strict=True)]})


TRANSFER_CAPTION = ("Across generators, {detector}: AUC [95% CI] of the detector trained on the row's fakes on "
                    "the held-out fakes of the column's generator (and held-out reals), {protocol} protocol; the "
                    "diagonal is in distribution")
TRANSFER_SUMMARY_CAPTION = ("What transfers between generator families (learned detectors, pairs of different "
                            "generators only: their count, the mean of their AUCs and its range; intervals per "
                            "pair in the matrices above)")


SHORTCUT_MEANINGS = {  # what a baseline that matches the networks says about their figure
    None: "the detectors may separate reals from fakes by that statistic rather than by the generator's artefacts",
    "baseline:histogram": "the detectors may separate reals from fakes by their pixel-value histogram rather than "
                          "by the generator's artefacts",
    "baseline:spectrum": "a regression on the Fourier spectrum alone does as well, so the networks' figure shows no "
                         "more than that frequency artefact of the generator",
    "baseline:compression": "a regression on compressibility alone does as well, so the networks' figure shows no "
                            "more than that texture statistic of the generator",
}


def quality_detectability_table(results: dict) -> pd.DataFrame:
    """One row per generator and learned detector: the generator's sample quality (FID, or for every generator
    the domain KID when one of them has no FID) beside the in-distribution AUC of that detector on its held-out
    fakes (headline protocol, no perturbation) with its interval and counts. Every detector is a series of its
    own: picking the best per generator would select on the evaluation split. Empty with fewer than two
    generators or no detector.
    """
    frame = detector_table(results)
    generators = pd.DataFrame(results["generators"])
    if frame.empty or len(generators) < 2:
        return pd.DataFrame()
    metric = "fid" if "fid" in generators and generators["fid"].notna().all() else "domain_kid_mean"
    if metric not in generators or generators[metric].isna().any():
        return pd.DataFrame()
    own = learned(frame[frame["train_generator"] == frame["eval_set"]])
    quality = generators.set_index("generator")[metric]
    return pd.DataFrame({"generator": own["train_generator"], "detector": own["detector"],
                         "quality_metric": metric, "quality": own["train_generator"].map(quality).to_numpy(),
                         "auc": own["auc"], "auc_ci": own["auc_ci"] if "auc_ci" in own else None,
                         "n_real": own["n_real"], "n_fake": own["n_fake"]}).dropna(subset=["quality"])


LEARNING_CURVE_CAPTION = ("Learning curves (in-distribution AUC, {protocol} protocol, of each detector trained on "
                          "nested subsets of its training fakes and as many reals, same options and first training "
                          "seed; last doubling: AUC gained from half the fakes to all of them)")


def learning_curve_table(results: dict) -> pd.DataFrame:
    """One row per detector and training generator whose learning curve was measured: AUC at each training-set
    size, the gain of the last doubling and what it says (empty without curves)."""
    rows = []
    for curve in results.get("learning_curves") or []:
        points, gain = curve["points"], last_doubling_gain(curve["points"])
        verdict = ("—" if gain is None else "more fakes would change the answer" if gain > PLATEAU_GAIN
                   else "plateau")
        rows.append({"detector": curve["detector"], "trained on": curve["train_generator"],
                     "AUC at training fakes": " · ".join(f"{p['train_fakes']}: {p['auc']:.3f}" for p in points),
                     "last doubling": "—" if gain is None else f"{gain:+.3f}", "verdict": verdict})
    return pd.DataFrame(rows)


def convergence_warnings(results: dict) -> list[str]:
    """A sentence for each learned detector that stopped at its ceiling of epochs while validation loss was still
    falling: its figures are not its plateau's."""
    frame = detector_table(results)
    if frame.empty or "training_ended" not in frame:
        return []
    stopped = frame[frame["training_ended"] == "ceiling"].drop_duplicates(["detector", "train_generator"])
    return [f"Not converged: {row.detector} trained on {row.train_generator} stopped at its ceiling of "
            f"{row.training_epochs:.0f} epochs while its validation loss was still falling, so its figures are below "
            f"its plateau; raise --epochs." for row in stopped.itertuples()]


def detection_warnings(results: dict) -> list[str]:
    """What a reader of the detection tables must know first: detectors short of their plateau, then shortcuts."""
    return convergence_warnings(results) + shortcut_warnings(results)


def shortcut_warnings(results: dict) -> list[str]:
    """A sentence for each evaluation set where a trivial baseline comes within ``SHORTCUT_MARGIN`` AUC of the
    best learned detector trained on the same fakes: there, the detectors may have learned that statistic."""
    clean = detector_table(results)
    if clean.empty:
        return []
    warnings = []
    for (generator, eval_set), cell in clean.groupby(["train_generator", "eval_set"], sort=True):
        networks, baselines = learned(cell), cell[cell["detector"].str.startswith(BASELINE_PREFIX)]
        if networks.empty or baselines.empty or eval_set != generator:
            continue
        best, trivial = networks.loc[networks["auc"].idxmax()], baselines.loc[baselines["auc"].idxmax()]
        if trivial["auc"] >= best["auc"] - SHORTCUT_MARGIN:
            how = "above" if trivial["auc"] > best["auc"] else f"within {SHORTCUT_MARGIN} of"
            meaning = SHORTCUT_MEANINGS.get(trivial["detector"], SHORTCUT_MEANINGS[None])
            warnings.append(f"Shortcut warning: on {eval_set} fakes, {trivial['detector']} (trained on {generator}) "
                            f"reaches AUC {trivial['auc']:.3f}, {how} the best learned detector ({best['detector']}, "
                            f"{best['auc']:.3f}); {meaning}.")
    return warnings


def auc_text(value, interval=None) -> str:
    """An AUC for people, labelled by its interval: "inverted" when the whole interval lies below 0.5 (the detector
    ranks fakes as more real than reals), "chance" when it holds 0.5. Without an interval there is no label: a
    point below 0.5 may be chance."""
    if _missing(value):
        return "—"
    if not isinstance(interval, list | tuple) or len(interval) != 2 or any(_missing(bound) for bound in interval):
        return f"{value:.3f}"
    label = " (inverted)" if interval[1] < 0.5 else " (chance)" if interval[0] <= 0.5 <= interval[1] else ""
    return f"{value:.3f}{label}"


def bound_decimals(interval, resamples: int = BOOTSTRAP, level: float = 0.95, most: int = 3) -> int:
    """How many decimals a percentile-bootstrap bound holds: its Monte-Carlo standard error with ``resamples``
    resamples, sqrt(q (1 - q) / B) / f(x_q) for the tail q, with f the normal density the interval implies, must
    stay below half the last digit. So a narrow interval keeps three decimals, and a wide one, whose bounds move
    in the third decimal with the resampling seed, prints two."""
    normal, tail = NormalDist(), (1 - level) / 2
    z = normal.inv_cdf(1 - tail)
    sigma = (interval[1] - interval[0]) / (2 * z)
    error = sigma * math.sqrt(tail * (1 - tail) / resamples) / normal.pdf(z)
    return next((decimals for decimals in range(most, 0, -1) if error < 0.5 * 10 ** -decimals), 1)


def _with_bootstrap(value, interval, labelled: bool = False) -> str:
    """A detection figure with its bootstrap interval, the bounds to the decimals they hold (:func:`bound_decimals`)
    and rounded outward, so that the interval shown holds the one computed; ``labelled``: an AUC, labelled
    inverted or chance by the interval as shown, so that label and bounds never disagree."""
    if _missing(value) or not isinstance(interval, list):
        return _with_interval(value, None, text=auc_text(value) if labelled else None)
    decimals = bound_decimals(interval)
    scale = 10 ** decimals
    shown = [math.floor(interval[0] * scale + 1e-9) / scale, math.ceil(interval[1] * scale - 1e-9) / scale]
    return _with_interval(value, shown, text=auc_text(value, shown) if labelled else None,
                          bound_spec=f".{decimals}f")


def _with_interval(value, interval, spec: str = ".3f", text=None, bound_spec: str | None = None) -> str:
    if _missing(value):
        return "—"
    shown, bound_spec = text if text is not None else format(value, spec), bound_spec or spec
    return shown if interval is None or not isinstance(interval, list) else \
        f"{shown} [{interval[0]:{bound_spec}}, {interval[1]:{bound_spec}}]"


def _detection_readable(frame: pd.DataFrame) -> pd.DataFrame:
    """The detection table's shown columns: AUC, accuracy and TPR at 1% FPR with their bootstrap intervals."""
    def column(name):
        return frame[name] if name in frame else [None] * len(frame)
    seeds = [1 if _missing(n) else int(n) for n in column("seeds")]
    over_seeds = {"auc_seeds_shown": [  # a column only where some row has several seeds
        _with_interval(v, ci, text=auc_text(v, ci)) + f" (n={n})" if n > 1 else "—"
        for v, ci, n in zip(frame["auc"], column("auc_seed_ci"), seeds, strict=True)]} if max(seeds) > 1 else {}
    ended = column("training_ended")
    converged = {"converged": [ENDED_SHOWN.get(e, "—") for e in ended]} if any(e in ENDED_SHOWN for e in ended) else {}
    return frame.assign(
        **over_seeds, **converged,
        auc_shown=_auc_cells(frame),
        accuracy_shown=[_with_bootstrap(v, ci) for v, ci in zip(frame["accuracy"], column("accuracy_ci"),
                                                                strict=True)],
        tpr_shown=[_with_bootstrap(v, ci) for v, ci in zip(column("tpr_at_fpr_0.01"), column("tpr_at_fpr_0.01_ci"),
                                                          strict=True)])


def human_table(results: dict) -> pd.DataFrame:
    """One row per generator's fakes and one for the reals: answers, accuracy with its 95% Wilson interval, and
    the fooling rate (share of fakes judged real); empty when nobody took the quiz (results without ``human``)."""
    rows = results.get("human") or []
    return pd.DataFrame({
        "images": ["reals" if row["source"] == "real" else f"{row['source']} fakes" for row in rows],
        "answers": [_number(row["answers"], "d") for row in rows],
        "sessions": [_number(row["sessions"], "d") for row in rows],
        "human accuracy": [_number(row["accuracy"]) for row in rows],
        "95% CI (Wilson)": [f"{row['ci_low']:.3f}–{row['ci_high']:.3f}" for row in rows],
        "fooling rate": [_number(row["fooling_rate"]) for row in rows],
    })


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value, spec: str = ".3f", scale: float = 1, std=None) -> str:
    if _missing(value):
        return "—"
    if spec == "s":
        return str(value)
    text = format(int(value), "d") if spec == "d" else format(value * scale, spec)
    return text if _missing(std) else f"{text} ± {std * scale:{spec}}"


def _formatted(frame: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Readable strings under readable headings: means with their std, KID x 10^3, missing values as a dash."""
    shown = {}
    for key, (heading, spec) in columns.items():
        if key not in frame:
            continue
        stds = frame[WITH_STD[key]] if WITH_STD.get(key) in frame else [None] * len(frame)
        shown[heading] = [_number(v, spec, SCALED.get(key, 1), s) for v, s in zip(frame[key], stds, strict=True)]
    return pd.DataFrame(shown)


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, disable_numparse=True)


def readable_tables(results: dict) -> list[tuple[str, pd.DataFrame]]:
    """(caption, table) pairs of one results dict, formatted for people: sample quality, detection, robustness,
    and human evaluation when there are answers."""
    tables = []
    generators = generator_table(results)
    if not generators.empty:
        tables.append(("Sample quality (KID x 10³, unbiased at any count; FID is biased upward, the more the fewer "
                       "samples, so it compares only at equal FID n, reals/fakes; FID∞: extrapolated to infinitely "
                       f"many samples from fits at more samples than Inception's {FEATURE_DIMENSIONS} "
                       f"dimensions, so a dash below {FID_INFINITY_SPAN * FEATURE_DIMENSIONS} per set; "
                       "FID subsets: mean [min, max] of FIDs of disjoint subsets of n reals and n fakes, "
                       "so FIDs at n; precision, recall, density and coverage with 95% bootstrap intervals over the "
                       "samples judged, the k-NN balls held fixed; IS needs torch-fidelity's own Inception weights)",
                       _formatted(_fid_readable(generators), GENERATOR_COLUMNS)))
    detections = detector_table(results)
    if not detections.empty:
        from reports.presentation import generalisation  # it builds on this module's tables

        summary = generalisation.summary_table(results)
        if not summary.empty:  # the first thing to read where detectors met generators they never saw
            tables.append((generalisation.SUMMARY_CAPTION, summary))
        caption = DETECTION_CAPTION.format(protocol=detections["protocol"].iloc[0])
        tables.append((caption, _formatted(_detection_readable(detections), DETECTOR_COLUMNS)))
        protocols = protocol_table(results)
        if not protocols.empty:
            tables.append((PROTOCOL_CAPTION, pd.DataFrame({
                "detector": protocols["detector"], "trained on": protocols["train_generator"],
                "evaluated on": protocols["eval_set"], "AUC raw": protocols["raw"].map(auc_text),
                "AUC matched": protocols["matched"].map(auc_text)})))
        for detector, matrix in transfer_matrices(results):
            tables.append((TRANSFER_CAPTION.format(detector=detector, protocol=detections["protocol"].iloc[0]),
                           matrix))
        transfer = transfer_summary(results)
        if not transfer.empty:
            tables.append((TRANSFER_SUMMARY_CAPTION, transfer))
        for caption, table in ((generalisation.LEAVE_OUT_CAPTION, generalisation.leave_out_table(results)),
                               (generalisation.CURVE_CAPTION, generalisation.curve_table(results))):
            if not table.empty:
                tables.append((caption, table))
        curves = learning_curve_table(results)
        if not curves.empty:
            tables.append((LEARNING_CURVE_CAPTION.format(protocol=detections["protocol"].iloc[0]), curves))
        robustness = robustness_table(results)
        if not robustness.empty:  # empty when the detectors were trained on another run's generators
            tables.append((f"Robustness, {detections['protocol'].iloc[0]} protocol (AUC on the training generator's "
                           "held-out fakes, per perturbation; below 0.5, fakes scored as more real than reals, "
                           "which the detection table's interval tells from chance)",
                           robustness.map(auc_text).reset_index().rename(columns={"trained": "detector"})))
    humans = human_table(results)
    if not humans.empty:
        tables.append((HUMAN_CAPTION, humans))
    return tables


def markdown_tables(results: dict) -> str:
    """The readable tables as Markdown, each under its caption in bold, then shortcut warnings and figures left out."""
    tables = [f"**{caption}**:\n\n{_markdown(table)}\n" for caption, table in readable_tables(results)]
    notes = [f"{metrics['generator']}: {metrics['domain_missing']}" for metrics in results["generators"]
             if metrics.get("domain_missing")]  # a dash in a table says nothing of why
    return "\n".join(tables + [f"> {line}\n" for line in detection_warnings(results) + notes])


def describe(results: dict) -> str:
    """One line saying where, how long and on how many samples the figures were measured."""
    seconds = results.get("stage_seconds", {})
    took = ", ".join(f"{stage} {value / 60:.1f} min" for stage, value in seconds.items())
    counts = sorted({(g.get("samples_fake"), g.get("samples_real")) for g in results["generators"]
                     if g.get("samples_fake")})
    samples = "; ".join(f"{fake} fakes vs {real} reals" for fake, real in counts) or "no Inception metrics"
    return (f"Data set {results['dataset']}, seed {results['seed']}. Machine: {results.get('machine') or 'unknown'}."
            f" Time: {took or 'unknown'}. Inception samples: {samples}.")


def load_results(folder: Path) -> list[dict]:
    """Every ``*.json`` results file in ``folder``, sorted by name."""
    paths = sorted(Path(folder).glob("*.json"))
    if not paths:
        raise DeepbenchError(f"{folder} holds no results JSON; write one with deepbench report --run R --export "
                             f"{folder}/NAME.json")
    return [read_json(path, RESULTS_KIND) for path in paths]


def load_studies(folder: Path) -> dict[str, dict]:
    """Each study's summary under ``folder`` (``<study>/summary.json``), by study name."""
    return {path.parent.name: read_json(path, STUDY_KIND) for path in sorted(Path(folder).glob("*/summary.json"))}


def study_lines(name: str, study: dict, note: str | None = None) -> list[str]:
    """A study's section: its description, its summary table and its GAM verdicts, as recorded."""
    lines = [f"## {name}", "", *([f"> {note}", ""] if note else []), study["description"], "",
             f"**{study['summary_caption']}**:", "",
             _markdown(pd.DataFrame(study["summary"]).astype(str)), ""]
    if study.get("gam"):
        gam = pd.DataFrame(study["gam"])[list(GAM_COLUMNS)]
        gam[["r_test", "r_samples"]] = gam[["r_test", "r_samples"]].map(  # JSON holds no infinity: a ratio over
            lambda value: "∞" if value is None else _number(value, ".3f"))  # a flawless judge's zero is null
        lines += ["**Generative adversarial metric (Im et al. 2016), seed by seed, at the chosen rates: A wins when "
                  "r_samples < 1; a verdict needs r_test within 0.1 of 1; ∞: B made no error**:", "",
                  _markdown(gam.astype(str)), ""]
    return lines


def render_leaderboard(results: list[dict], studies: dict[str, dict] | None = None,
                       notes: dict[str, str] | None = None) -> str:
    """``LEADERBOARD.md``: one section per results file, then one per study, each with the note on its
    provenance where ``notes`` has one (by file, as :func:`reports.presentation.provenance.provenance` gives
    them); the same files always give the same text."""
    notes = notes or {}
    lines = ["# deepbench leaderboard", "",
             "Generated by `deepbench report --leaderboard benchmark/results -o benchmark/LEADERBOARD.md` from the "
             "result files in `benchmark/results/`; do not edit by hand (CI checks it with `--check`).", ""]
    for entry in results:
        note = notes.get(f"{entry['name']}.json")
        lines += [f"## {entry['name']}", "", *([f"> {note}", ""] if note else []), describe(entry), "",
                  markdown_tables(entry)]
    for name, study in (studies or {}).items():
        note = notes.get(f"{name}/summary.json")
        lines += study_lines(name, study, note)
    return "\n".join(lines).rstrip() + "\n"


def update_leaderboard(folder: str | Path, output: str | Path, check: bool = False) -> str:
    """Render the leaderboard from ``folder`` into ``output``; with ``check``, only fail when ``output`` differs.
    Either way, a result that is stale or made by no entry of ``folder/manifest.toml`` fails first."""
    folder = Path(folder)
    results, studies = load_results(folder), load_studies(folder)  # each file's schema checked first
    notes = provenance(folder)  # then: refuses results that are stale without a stated reason
    text, output = render_leaderboard(results, studies, notes), Path(output)
    if check:
        if not output.is_file() or output.read_text(encoding="utf-8") != text:
            raise DeepbenchError(f"{output} is stale: it differs from what {folder} gives; run deepbench report "
                                 f"--leaderboard {folder} -o {output} and commit the result")
        return text
    write_text(output, text)
    return text
