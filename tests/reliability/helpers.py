"""Shared pieces of the reliability tests: ``deepbench`` in a subprocess with a fault, and run comparisons."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmark.files import load_checkpoint
from tests.forkserver import adopt_environment
from tests.reliability import faults as fault_injection

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600


def deepbench(*args: str, faults: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``deepbench -q ARGS`` in a process of its own, with the faults of ``tests.reliability.faults``; its exit
    status (-9 when killed), stdout and stderr.

    The process is a fork of the fork server (``tests/forkserver.py``), which imported deepbench once: a fresh
    interpreter per call was most of these tests' time. What a kill leaves behind is the same, since nothing of
    this test process is in it.
    """
    argv = [*faults, "--", "-q", *map(str, args)]
    with tempfile.TemporaryDirectory() as streams:
        stdout, stderr = Path(streams) / "stdout", Path(streams) / "stderr"
        process = multiprocessing.get_context("forkserver").Process(
            target=_faulty_deepbench, args=(argv, dict(os.environ), REPO, stdout, stderr))
        process.start()
        process.join(TIMEOUT_S)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise TimeoutError(f"deepbench {' '.join(argv)} ran over {TIMEOUT_S} s")
        return subprocess.CompletedProcess(argv, process.exitcode, stdout.read_text(), stderr.read_text())


def _faulty_deepbench(argv: list[str], environment: dict, cwd: Path, stdout: Path, stderr: Path) -> None:
    """In the forked process: this call's environment, folder and output files, then the faulty command."""
    adopt_environment(environment)
    os.chdir(cwd)
    for stream, path in ((sys.stdout, stdout), (sys.stderr, stderr)):
        with open(path, "wb") as file:
            os.dup2(file.fileno(), stream.fileno())
    fault_injection.main(argv)


def error_line(completed: subprocess.CompletedProcess) -> str:
    """The one ``Error: ...`` line a user error prints, after checking there is exactly one and no traceback."""
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert "Traceback" not in completed.stderr and len(errors) == 1, completed.stderr
    return errors[0]


def differences(a, b, where: str = "") -> list[str]:
    """Where two nested structures of tensors, dicts, lists and plain values differ, tensors bit for bit: the
    paths of the differing entries (``[]`` when equal), so that a failure names what differs."""
    if isinstance(a, torch.Tensor):
        same = isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [path for key in a for path in differences(a[key], b[key], f"{where}/{key}")]
    elif isinstance(a, (list, tuple)) and type(a) is type(b) and len(a) == len(b):
        return [path for index, (x, y) in enumerate(zip(a, b, strict=True))
                for path in differences(x, y, f"{where}[{index}]")]
    else:
        same = a == b
    return [] if same else [where or "/"]


def checkpoint_differences(a: Path, b: Path, ignore: tuple[str, ...] = ("seconds", "budget_seconds")) -> list[str]:
    """Where two checkpoints' states differ, apart from their clocks (wall and CPU seconds)."""
    first, second = load_checkpoint(a), load_checkpoint(b)
    return differences({k: v for k, v in first.items() if k not in ignore},
                       {k: v for k, v in second.items() if k not in ignore})


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path: what a failed command must leave as it was."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def temp_files(root: Path) -> list[Path]:
    """Leftovers of interrupted atomic writes."""
    return sorted(root.rglob(".*.tmp"))
