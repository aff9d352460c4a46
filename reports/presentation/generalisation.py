"""Generalisation tables: leave one family out, the more-generators curve, and one summary row per detector.

They read the protocols back from the detection rows (:mod:`detectors.generalisation` only adds training
unions): a row trained on a union that holds every generator of the run but one family's is a
leave-one-family-out row when evaluated on that family; a row trained on k generators and evaluated on one it
has not seen is a point of the more-generators curve at k. Figures are means over the training seeds, as in
every table; the intervals are Student-t intervals across the cells averaged (generators, pairs or orders), a
spread of the protocol's cases rather than of training.
"""

from __future__ import annotations

import pandas as pd

from detectors.generalisation import family_of
from detectors.metrics import seed_interval
from detectors.sets import union_members
from reports.presentation.leaderboard import auc_text, detector_table, learned

SUMMARY_CAPTION = ("Generalisation, one row per detector (its parameters; clean AUC, headline protocol, means over "
                   "training seeds; 95% t-intervals across the cells averaged): in distribution (each generator's "
                   "own fakes), train on one, test on another family, and leave one family out (trained on every "
                   "other family's generators)")
LEAVE_OUT_CAPTION = ("Leave one family out: each detector trained on the union of every other family's "
                     "generators, on each held-out generator's fakes (clean AUC [95% interval], headline protocol)")
CURVE_CAPTION = ("More generators: mean AUC on the generators a detector has not seen, against the number of "
                 "generators it was trained on (95% t-interval across the training sets of that size)")


def _learned_rows(results: dict) -> pd.DataFrame:
    frame = learned(detector_table(results))
    if frame.empty:
        return frame
    return frame.assign(members=frame["train_generator"].map(union_members))


def leave_out_rows(results: dict) -> pd.DataFrame:
    """The leave-one-family-out rows: trained on every family but one, evaluated on that family's generators."""
    frame = _learned_rows(results)
    generators = [metrics["generator"] for metrics in results["generators"]]
    if frame.empty or len({family_of(g) for g in generators}) < 2:
        return pd.DataFrame()
    families = {g: family_of(g) for g in generators}

    def held_out_family(members: list[str]) -> str | None:
        unseen = {families[g] for g in generators if g not in members}
        seen = {families[g] for g in members if g in families}
        return next(iter(unseen)) if len(unseen) == 1 and not unseen & seen else None

    frame = frame.assign(held_out=frame["members"].map(held_out_family))
    frame = frame[frame["held_out"].notna() & (frame["eval_set"].map(families.get) == frame["held_out"])]
    return frame.reset_index(drop=True)


def leave_out_table(results: dict) -> pd.DataFrame:
    frame = leave_out_rows(results)
    if frame.empty:
        return frame
    return pd.DataFrame({"detector": frame["detector"], "held-out family": frame["held_out"],
                         "trained on": frame["train_generator"], "evaluated on": frame["eval_set"],
                         "AUC": [_with_bounds(v, i) for v, i in zip(frame["auc"], _intervals(frame), strict=True)]})


def curve_table(results: dict) -> pd.DataFrame:
    """Mean held-out AUC per detector and number of training generators, when more than one size was trained."""
    frame = _learned_rows(results)
    generators = {metrics["generator"] for metrics in results["generators"]}
    if frame.empty:
        return frame
    frame = frame[[not set(m) - generators and e in generators and e not in m
                   for m, e in zip(frame["members"], frame["eval_set"], strict=True)]]
    frame = frame.assign(size=frame["members"].map(len))
    if frame.empty or frame["size"].nunique() < 2:
        return pd.DataFrame()
    rows = []
    for (detector, size), cells in frame.groupby(["detector", "size"], sort=True):
        per_set = cells.groupby("train_generator")["auc"].mean()  # one value per training set of this size
        rows.append({"detector": detector, "training generators": str(size), "training sets": str(len(per_set)),
                     "mean held-out AUC": _mean_with_interval(per_set.tolist())})
    return pd.DataFrame(rows)


def summary_table(results: dict) -> pd.DataFrame:
    """One row per learned detector: in distribution, cross-family train-on-one, leave one family out."""
    frame = _learned_rows(results)
    if frame.empty:
        return frame
    single = frame[frame["members"].map(len) == 1]
    own = single[single["train_generator"] == single["eval_set"]]
    known = {metrics["generator"] for metrics in results["generators"]}
    cross = single[(single["train_generator"] != single["eval_set"]) & single["eval_set"].isin(known)]
    cross = cross[cross["train_generator"].map(family_of) != cross["eval_set"].map(family_of)]
    leave_out = leave_out_rows(results)
    if cross.empty and leave_out.empty:
        return pd.DataFrame()
    rows = []
    for detector in dict.fromkeys(frame["detector"]):
        counts = frame.loc[frame["detector"] == detector, "parameters"].dropna() if "parameters" in frame else []
        rows.append({"detector": detector, "parameters": f"{int(counts.iloc[0]):,}" if len(counts) else "—",
                     "in distribution": _mean_with_interval(own.loc[own["detector"] == detector, "auc"].tolist()),
                     "train on one, other family": _mean_with_interval(
                         cross.loc[cross["detector"] == detector, "auc"].tolist()),
                     "leave one family out": _mean_with_interval(
                         leave_out.loc[leave_out["detector"] == detector, "auc"].tolist()
                         if not leave_out.empty else [])})
    return pd.DataFrame(rows)


def _mean_with_interval(values: list[float]) -> str:
    """"0.912 [0.880, 0.944] (n=5)": the mean, its t-interval across the values, and their count."""
    if not values:
        return "—"
    interval = seed_interval(values)
    if interval is None:
        return f"{auc_text(values[0])} (n=1)"
    mean, low, high = interval
    bounds = [max(0.0, low), min(1.0, high)]
    return f"{auc_text(mean, bounds)} [{bounds[0]:.3f}, {bounds[1]:.3f}] (n={len(values)})"


def _intervals(frame: pd.DataFrame) -> list:
    seeds = frame["seeds"] if "seeds" in frame else [1] * len(frame)
    seed_ci = frame["auc_seed_ci"] if "auc_seed_ci" in frame else [None] * len(frame)
    boot = frame["auc_ci"] if "auc_ci" in frame else [None] * len(frame)
    return [s_ci if (n or 1) > 1 and isinstance(s_ci, list) else b for n, s_ci, b in zip(seeds, seed_ci, boot,
                                                                                           strict=True)]


def _with_bounds(value: float, interval) -> str:
    if not isinstance(interval, list):
        return auc_text(value)
    return f"{auc_text(value, interval)} [{interval[0]:.3f}, {interval[1]:.3f}]"
