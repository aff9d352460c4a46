"""The CLI as the tests drive it, and the tiny finished run that many test modules build once and then read."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli import main

# Networks small enough that ten steps take a second; the samples are noise, which these tests never judge.
TINY_GAN = ["--nz", "8", "--ngf", "8", "--ndf", "8", "--batch-size", "16"]


def invoke(*args):
    """``deepbench -q ARGS`` in-process. User errors come back as exit status 2; any other exception is
    raised, so a bug shows its traceback instead of passing as an exit code."""
    return CliRunner().invoke(main, ["-q", *map(str, args)], catch_exceptions=False)


def make_tiny_run(out: Path, cache: Path, *generate_args, detect_args=None) -> Path:
    """``generate`` ten tiny-network steps into ``out`` (with ``generate_args`` for data, generators and
    sample count), then ``detect`` with ``detect_args`` when given; ``cache`` is the cache both use.

    Module-scoped fixtures call this before the function-scoped cache isolation is active, so the cache is
    set here for the two commands only.
    """
    commands = [["generate", *generate_args, *TINY_GAN, "--max-steps", "10", "--out", out]]
    if detect_args is not None:
        commands.append(["detect", "--run", out, *detect_args])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPBENCH_CACHE", str(cache))
        for command in commands:
            result = invoke(*command)
            assert result.exit_code == 0, result.output
    return out
