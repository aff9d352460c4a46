"""The pictures of a report: sample grids, ROC curves, cross-generator AUC heatmaps, robustness charts, and sample
quality against detectability.

Every function draws one figure, writes it atomically as a PNG sized for a web page and returns the path.
Labels come from generator, detector and data set names, which users choose, so text is drawn literally:
mathtext is off, and a name with ``$`` in it is shown rather than parsed (and possibly failing) as TeX.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from benchmark.errors import DeepbenchError  # noqa: E402
from benchmark.files import atomic_path  # noqa: E402
from generators.progress import save_sample_grid  # noqa: E402

DPI = 100
CHANCE = 0.5
# 0 (inverted) to 1 (perfect) with chance in the middle, the same in every panel; PuOr is colour-blind safe
AUC_NORM = matplotlib.colors.TwoSlopeNorm(vcenter=CHANCE, vmin=0.0, vmax=1.0)
AUC_COLOURS = "PuOr_r"


@contextlib.contextmanager
def _figure(path: Path, **subplots: Any) -> Iterator[tuple[Figure, Any]]:
    """Yield a new figure and its axes; on success save it to ``path`` atomically. The figure is always closed."""
    with plt.rc_context({"text.parse_math": False}):
        figure, axes = plt.subplots(layout="constrained", **subplots)
        try:
            yield figure, axes
            with atomic_path(path) as tmp:
                figure.savefig(tmp, format="png", dpi=DPI)
        finally:
            plt.close(figure)


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    """Save uint8 images of shape (N, C, H, W), C 1 or 3, as one PNG grid with ``nrow`` images a row.

    The pixels are saved exactly: 0..255 maps to [-1, 1] and back without rounding loss.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        found = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise DeepbenchError(f"save_image_grid needs a uint8 tensor, got {found}; pass pixels 0..255 "
                             f"(generators.progress.save_sample_grid takes floats in [-1, 1])")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise DeepbenchError(f"save_image_grid needs images of shape (N, C, H, W) with C 1 or 3, got "
                             f"{tuple(images.shape)}; add the missing axes with unsqueeze")
    if len(images) == 0:
        raise DeepbenchError("save_image_grid got no images; pass at least one")
    if nrow < 1:
        raise DeepbenchError(f"save_image_grid needs nrow >= 1, got {nrow}")
    return save_sample_grid(images.float() / 127.5 - 1, Path(path), nrow=nrow)


def save_roc_curves(curves: list[dict], path: str | Path, title: str) -> Path:
    """ROC curves, one line per dict with ``label``, ``fpr``, ``tpr`` and ``auc``, over the chance diagonal."""
    with _figure(Path(path), figsize=(5.5, 5)) as (_, axes):
        for curve in curves:
            axes.plot(curve["fpr"], curve["tpr"], label=f"{curve['label']} (AUC {curve['auc']:.3f})")
        axes.plot([0, 1], [0, 1], linestyle="--", color="gray", label="chance")
        axes.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", title=title,
                 xlabel="false positive rate (reals called fake)", ylabel="true positive rate (fakes caught)")
        axes.legend(loc="lower right", fontsize="small")
    return Path(path)


def save_auc_heatmap(matrices: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """One panel of ROC AUCs per detector: rows the generator it was trained on, columns the evaluation set.

    Colours run from 0 to 1 on a diverging map centred on 0.5 (chance) in every panel, so panels can be
    compared and an inverted detector (AUC below 0.5: fakes scored as more real than reals) shows in its own
    colour instead of looking like chance; such cells are also labelled "inv.". NaN cells stay blank.
    """
    if not matrices:
        raise DeepbenchError("save_auc_heatmap got no detectors; evaluate at least one detector first")
    columns = min(len(matrices), 3)
    rows = math.ceil(len(matrices) / columns)
    with _figure(Path(path), nrows=rows, ncols=columns, squeeze=False,
                 figsize=(min(10.0, 1.5 + 3.5 * columns), 0.5 + 3.5 * rows)) as (figure, axes):
        for panel, (detector, matrix) in zip(axes.flat, matrices.items(), strict=False):
            values = matrix.to_numpy(dtype=float)
            image = panel.imshow(values, cmap=AUC_COLOURS, norm=AUC_NORM, aspect="auto")
            for (row, column), value in np.ndenumerate(values):
                if not np.isnan(value):
                    colour = "white" if abs(value - CHANCE) > 0.35 else "black"  # readable on the dark ends
                    label = f"{value:.3f}" + ("\ninv." if value < CHANCE else "")
                    panel.text(column, row, label, ha="center", va="center", fontsize=8, color=colour)
            panel.set_xticks(range(values.shape[1]), [str(c) for c in matrix.columns], rotation=30, ha="right")
            panel.set_yticks(range(values.shape[0]), [str(i) for i in matrix.index])
            panel.set(title=str(detector), xlabel="evaluated on", ylabel="trained on")
        for unused in axes.flat[len(matrices):]:
            unused.set_axis_off()
        figure.colorbar(image, ax=axes, label="ROC AUC", shrink=0.8)
    return Path(path)


def save_robustness_plot(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """AUC under each perturbation (rows, in the given order) as grouped bars, one colour per series (columns)."""
    if frame.empty:
        raise DeepbenchError(f"save_robustness_plot got no AUCs for {title!r}; evaluate with perturbations first")
    width = min(10.0, max(6.0, 2.5 + 0.3 * frame.size))
    with _figure(Path(path), figsize=(width, 4)) as (figure, axes):
        frame.astype(float).plot.bar(ax=axes, rot=30, width=0.8, legend=False)
        axes.axhline(CHANCE, linestyle="--", color="gray", label="chance")
        axes.set(ylim=(0, 1), title=title, xlabel="perturbation", ylabel="ROC AUC")
        figure.legend(loc="outside right upper", fontsize="small")  # beside the bars, which may reach 1.0
    return Path(path)


QUALITY_LABELS = {"fid": "FID (lower: closer to the reals)",
                  "domain_kid_mean": "domain KID (lower: closer to the reals)"}


def save_quality_detectability_plot(table: pd.DataFrame, path: str | Path) -> Path:
    """Each generator's sample quality (x) against a detector's in-distribution AUC on its fakes (y, with its
    bootstrap interval), one series per detector, each point named by its generator: whether better fakes are
    harder to catch. Rows as :func:`reports.presentation.leaderboard.quality_detectability_table` gives them."""
    if table.empty:
        raise DeepbenchError("save_quality_detectability_plot got no points; report two or more generators with "
                             "detectors first")
    with _figure(Path(path), figsize=(6.5, 4.5)) as (_, axes):
        for detector, rows in table.groupby("detector", sort=True):
            intervals = [ci if isinstance(ci, (list, tuple)) else (auc, auc)  # results without intervals: none
                         for auc, ci in zip(rows["auc"], rows["auc_ci"], strict=True)]
            errors = np.array([[auc - low, high - auc] for auc, (low, high) in zip(rows["auc"], intervals,
                                                                                   strict=True)]).T
            axes.errorbar(rows["quality"], rows["auc"], yerr=errors, fmt="o", capsize=3, label=str(detector))
        for name, rows in table.groupby("generator"):  # one name per generator, above its highest point
            top = rows.loc[rows["auc"].idxmax()]
            axes.annotate(str(name), (top["quality"], top["auc"]), textcoords="offset points", xytext=(4, 6),
                          fontsize=8)
        axes.axhline(CHANCE, linestyle="--", color="gray", label="chance")
        axes.set(xlabel=QUALITY_LABELS.get(table["quality_metric"].iloc[0], table["quality_metric"].iloc[0]),
                 ylabel="AUC on its held-out fakes", ylim=(min(0.0, table["auc"].min()), 1.02),
                 title="Sample quality against detectability")
        axes.legend(fontsize="small", title="detector")
    return Path(path)


def save_learning_curves(curves: list[dict], path: str | Path) -> Path:
    """In-distribution AUC against the number of training fakes (log scale), one line per detector and training
    generator, each point with its bootstrap interval: where a line still climbs at its right end, more fakes would
    raise it."""
    with _figure(Path(path), figsize=(6, 4)) as (_, axes):
        for curve in curves:
            points = curve["points"]
            counts, aucs = [p["train_fakes"] for p in points], np.array([p["auc"] for p in points])
            intervals = [p.get("auc_ci") or [p["auc"], p["auc"]] for p in points]
            errors = np.abs(np.array(intervals).T - aucs)
            axes.errorbar(counts, aucs, yerr=errors, marker="o", capsize=3,
                          label=f"{curve['detector']} trained on {curve['train_generator']}")
        axes.set_xscale("log", base=2)
        axes.set_xlabel("training fakes (and as many reals)")
        axes.set_ylabel("AUC on held-out fakes of the training generator")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return Path(path)
