"""Versions of what each stage produces, so that a committed result made by older code can be told from a fresh one.

Library versions (``rundir.package_versions``) say what ran; these say what the code meant by each stage. A
stage's version goes up whenever the same inputs and options would now give other numbers: a training fix, a
new split, another metric computation. Every stage records its protocols and the code's commit in ``run.json``,
every exported result carries them, and ``deepbench report --leaderboard DIR --check`` fails on a committed
result whose versions are older than these, naming the command that regenerates it
(``benchmark/results/manifest.toml``).

========== ===================================================================== =======================
protocol   what it covers                                                        recorded by
========== ===================================================================== =======================
training   generator training: losses, schedules, EMA, checkpoint selection    generate
sampling   sampling fakes from a checkpoint (noise, DDIM steps, EMA weights)      generate
detection  detector training, splits, augmentation, protocols, evaluation        detect
metrics    sample-quality metrics and the reals they compare with                each metrics file
========== ===================================================================== =======================

Fakes imported from elsewhere have no training or sampling protocol of ours: a result records None for them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PROTOCOLS = {
    "training": 2,  # 2: the EMA of G warms up from the first step
    "sampling": 1,
    "detection": 2,  # 2: trained to convergence, blur scaled to the image, validation AUC recorded
    "metrics": 4,  # 4: the report's reals disjoint from the checkpoint score's; k-NN intervals; FID-inf above D
}
STAGE_PROTOCOLS = {"generate": ("training", "sampling"), "detect": ("detection",)}


def stage_protocols(command: str) -> dict[str, int]:
    """The protocol versions a stage of ``command`` produces under this code."""
    return {name: PROTOCOLS[name] for name in STAGE_PROTOCOLS.get(command, ())}


def code_commit() -> str | None:
    """The git commit of the code that runs, with "+changes" when its tracked files differ from it; None outside
    a git checkout (an installed wheel)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if changed else "")


def stale_protocols(recorded: dict | None, needed=tuple(PROTOCOLS)) -> dict[str, tuple[int | None, int]]:
    """{protocol: (recorded, current)} for each of the ``needed`` protocols a result was produced under an older
    version of, or recorded no version for (a missing key; None means the protocol does not apply, as for
    imported fakes)."""
    recorded = recorded or {}
    return {name: (recorded.get(name), PROTOCOLS[name]) for name in needed
            if name not in recorded or recorded[name] is not None and recorded[name] < PROTOCOLS[name]}


def record() -> dict:
    """What a study's JSON records of the code that made it: every protocol's version and the commit."""
    return {"protocols": dict(PROTOCOLS), "commit": code_commit()}
