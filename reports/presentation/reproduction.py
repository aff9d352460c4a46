"""Does a fresh run reproduce a committed result? The figures that moved by more than their tolerance.

``make reproduce`` runs the quick suite on a clean run and compares its results with
``benchmark/results/quick.json`` (``deepbench report --run R --compare benchmark/results/quick.json``), so
that a change of what the code produces cannot leave the committed figures stale. The tolerances:

- generator KID: twice the larger of the two KID standard deviations (torch-fidelity's spread over subsets);
- detection AUC, every clean row of either protocol: the across-seed 95% interval's half-width where the
  committed row has several seeds, and never less than ``AUC_TOLERANCE``. At the same thread count a run is
  bit-identical on one machine; across thread counts one detector's AUC moved by under 0.002
  (``benchmark/results/thread-spread``), so ``AUC_TOLERANCE`` leaves room for other CPUs' arithmetic.
"""

from __future__ import annotations

import math
from pathlib import Path

from benchmark.errors import DeepbenchError
from benchmark.files import read_json
from reports.presentation.leaderboard import RESULTS_KIND, SEED_GROUP, detections
from reports.presentation.provenance import MANIFEST, load_manifest, regenerate_hint

AUC_TOLERANCE = 0.01
KID_SIGMAS = 2


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def moved_figures(fresh: dict, committed: dict) -> list[str]:
    """One line per figure of ``committed`` that ``fresh`` lacks or moved beyond its tolerance; empty when the
    fresh run reproduces it."""
    lines = []
    generators = {metrics["generator"]: metrics for metrics in fresh["generators"]}
    for old in committed["generators"]:
        new = generators.get(old["generator"])
        if new is None:
            lines.append(f"generator {old['generator']}: missing from the fresh run")
            continue
        if not _finite(old.get("kid_mean")):
            continue  # nothing committed to reproduce (Inception switched off when it was made)
        if not _finite(new.get("kid_mean")):
            lines.append(f"generator {old['generator']}: KID missing from the fresh run")
            continue
        tolerance = KID_SIGMAS * max(old["kid_std"], new["kid_std"])
        if abs(new["kid_mean"] - old["kid_mean"]) > tolerance:
            lines.append(f"generator {old['generator']}: KID x10³ {1000 * new['kid_mean']:.2f}, committed "
                         f"{1000 * old['kid_mean']:.2f} (tolerance ±{1000 * tolerance:.2f})")
    old_rows, new_rows = (detections(result) for result in (committed, fresh))
    if old_rows.empty:
        return lines
    old_rows = old_rows[old_rows["perturbation"] == "none"]
    keys = [key for key in SEED_GROUP if key in old_rows]
    found = {tuple(row.get(key) for key in keys): row for row in new_rows.to_dict("records")} \
        if not new_rows.empty else {}
    for old in old_rows.to_dict("records"):
        new = found.get(tuple(old[key] for key in keys))
        label = f"{old['detector']} trained on {old['train_generator']}, on {old['eval_set']} ({old['protocol']})"
        if new is None or not _finite(new.get("auc")):
            lines.append(f"{label}: missing from the fresh run")
            continue
        interval = old.get("auc_seed_ci")
        half_width = (interval[1] - interval[0]) / 2 if isinstance(interval, list) else 0.0
        tolerance = max(AUC_TOLERANCE, half_width)
        if abs(new["auc"] - old["auc"]) > tolerance:
            lines.append(f"{label}: AUC {new['auc']:.3f}, committed {old['auc']:.3f} (tolerance ±{tolerance:.3f})")
    return lines


def check_reproduction(fresh: dict, committed: str | Path, run_dir) -> None:
    """Raise, listing the moved figures and the command that makes the committed file again, when ``fresh`` does
    not reproduce ``committed``."""
    committed = Path(committed)
    moved = moved_figures(fresh, read_json(committed, RESULTS_KIND))
    if not moved:
        return
    makers = [entry for entry in load_manifest(committed.parent) if committed.name in entry.files] \
        if (committed.parent / MANIFEST).is_file() else []
    refresh = regenerate_hint(makers[0]) if makers else "make results (benchmark/results/manifest.toml lists how)"
    raise DeepbenchError(f"{len(moved)} figures of {committed} moved beyond their tolerance in {run_dir}:\n  "
                         + "\n  ".join(moved) + f"\nIf the code changed them on purpose, make the results again "
                         f"and commit them: {refresh}")
