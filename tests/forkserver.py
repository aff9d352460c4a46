"""The fork server that the distributed and reliability tests start their processes from.

A fresh interpreter per process imported torch, torchvision and deepbench again, about ten seconds on a slow
CPU; the fork server imports them once per test process (``tests/conftest.py`` calls :func:`preload`), and each
child is a fork of it. The server holds no threads and has run no torch operation, so a fork is as clean as a
fresh process apart from its environment, which is the first caller's: every child takes its own caller's with
:func:`adopt_environment`.
"""

from __future__ import annotations

import multiprocessing
import os

from benchmark.commands import COMMANDS, module_name


def preload() -> None:
    multiprocessing.set_forkserver_preload(["tests.distributed.workers", "tests.reliability.faults",
                                            *(module_name(command) for command in COMMANDS)])


def adopt_environment(environment: dict[str, str], **extra: str) -> None:
    """In a forked child: the calling test's environment (its caches and data roots), plus ``extra``."""
    os.environ.clear()
    os.environ.update(environment, **extra)
