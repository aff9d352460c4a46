"""Make the committed results again: run the commands of every entry of ``benchmark/results/manifest.toml``.

``make results`` runs every entry a CPU can (``device = "cpu"``), in the manifest's order, each entry's commands
one after another in the repository root, and stops at the first that fails; ``make results ONLY=quick`` runs
one entry (names separated by commas for several). Entries for other devices are listed and skipped. Then
``make leaderboard`` renders the leaderboard and findings pages from what was written.

    .venv/bin/python benchmarks/regenerate.py [--only quick,zoo-mnist] [--list]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reports.presentation.provenance import load_manifest, regenerate_hint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="entries to run, comma-separated (default: every cpu entry)")
    parser.add_argument("--list", action="store_true", help="list the entries and their commands, run nothing")
    args = parser.parse_args()
    entries = load_manifest(ROOT / "benchmark" / "results")
    names = [entry.name for entry in entries]
    chosen = args.only.split(",") if args.only else [entry.name for entry in entries if entry.device == "cpu"]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise SystemExit(f"no manifest entry {', '.join(unknown)}; the entries are {', '.join(names)}")
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for entry in entries:
        if args.list or entry.name not in chosen:
            print(f"{'listed' if args.list else 'skipped'}: [{entry.name}] {regenerate_hint(entry)}")
            continue
        for command in entry.commands:
            print(f"[{entry.name}] {command}", flush=True)
            started = time.perf_counter()
            if subprocess.run(command, shell=True, cwd=ROOT, env=environment).returncode != 0:
                raise SystemExit(f"[{entry.name}] failed: {command}")
            print(f"[{entry.name}] {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
