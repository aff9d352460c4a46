"""Run the ``deepbench`` command line with one fault injected, in a subprocess of a reliability test.

    python -m tests.reliability.faults [FAULT ...] -- DEEPBENCH_ARGS ...

Faults:

``--kill-at MODULE:ATTR:N``
    The Nth call of ``MODULE.ATTR`` (``ATTR`` may be ``Class.method``) sends SIGKILL to this process before it
    runs: no ``finally`` block, handler or flush runs after it, as when the OOM killer or a power cut strikes.
``--torn-write TEXT:N``
    The Nth atomic write of a temp file whose name holds ``TEXT`` writes half its bytes, then SIGKILL:
    a kill in the middle of writing a checkpoint.
``--nan-at MODULE:ATTR:N``
    From the Nth call on, ``MODULE.ATTR`` returns its result times NaN: a loss that diverges.
``--file-size-limit BYTES``
    ``RLIMIT_FSIZE``: a write that grows a file past BYTES fails with EFBIG, as a full disk fails with
    ENOSPC (SIGXFSZ is ignored so that the write fails instead of killing the process).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import pathlib
import resource
import signal
import sys


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def patch(target: str, make_wrapper) -> None:
    """Replace ``MODULE:ATTR`` (``ATTR`` dotted through classes) with ``make_wrapper(original, count)``."""
    module_name, attribute, count = target.split(":")
    owner = importlib.import_module(module_name)
    *parents, name = attribute.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    setattr(owner, name, make_wrapper(getattr(owner, name), int(count)))


def counting(original, on_call):
    """Call ``on_call(calls, original, args, kwargs)`` for every call, numbering them from 1."""
    calls = 0

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        return on_call(calls, original, args, kwargs)

    return wrapper


def kill_at(original, count: int):
    def on_call(calls, original, args, kwargs):
        if calls == count:
            kill_now()
        return original(*args, **kwargs)

    return counting(original, on_call)


def nan_at(original, count: int):
    def on_call(calls, original, args, kwargs):
        result = original(*args, **kwargs)
        return result * float("nan") if calls >= count else result

    return counting(original, on_call)


def tear_writes(text: str, count: int) -> None:
    original = pathlib.Path.write_bytes

    def on_call(calls, original, args, kwargs):
        path, data = args
        if text in path.name and path.name.endswith(".tmp"):
            on_call.torn += 1
            if on_call.torn == count:
                with open(path, "wb") as handle:
                    handle.write(data[:len(data) // 2])
                kill_now()
        return original(*args, **kwargs)

    on_call.torn = 0
    pathlib.Path.write_bytes = counting(original, on_call)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-at", action="append", default=[])
    parser.add_argument("--nan-at", action="append", default=[])
    parser.add_argument("--torn-write")
    parser.add_argument("--file-size-limit", type=int)
    parser.add_argument("deepbench_args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    for target in options.kill_at:
        patch(target, kill_at)
    for target in options.nan_at:
        patch(target, nan_at)
    if options.torn_write:
        text, count = options.torn_write.rsplit(":", 1)
        tear_writes(text, int(count))
    if options.file_size_limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (options.file_size_limit, options.file_size_limit))
    from benchmark.cli import main as deepbench

    args = options.deepbench_args[1:] if options.deepbench_args[:1] == ["--"] else options.deepbench_args
    deepbench(args, prog_name="deepbench")


if __name__ == "__main__":
    main(sys.argv[1:])
