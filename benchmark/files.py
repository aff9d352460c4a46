"""Files that survive interruptions and say what they are: atomic writes, JSON with a schema, checkpoints.

Every write is atomic (a temp file in the same folder, then ``os.replace``), so an interrupted or failed write
leaves the previous file intact, and a full disk is one line that says so. Every JSON carries a ``schema``
that readers check, and every checkpoint a ``kind``, so a file of another version or another model fails with
a message instead of a traceback. Checkpoints load with ``weights_only=True``: no pickle code runs.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from benchmark.errors import DeepbenchError

SCHEMA_VERSION = 1


def schema_name(kind: str) -> str:
    """The ``schema`` value of a JSON of this kind, e.g. ``deepbench.run/1``."""
    return f"deepbench.{kind}/{SCHEMA_VERSION}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path``, on any error it is removed.

    The temp file lives in the destination folder so that ``os.replace`` is a same-file-system rename,
    which is atomic: readers see the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared like any file
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as error:
        tmp_path.unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):  # full disk, quota, file size limit
            raise DeepbenchError(f"disk full while writing {path} ({os.strerror(error.errno)}); free space and "
                                 f"run again (the previous file, if any, is intact)") from error
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def building(path: str | os.PathLike) -> Iterator[None]:
    """Hold a lock on ``path`` while checking for it and building it, so that of two processes sharing a cache
    (two runs, or two test workers) one builds an entry and the other waits and then reads it, instead of both
    spending minutes on the same work. The lock is an OS file lock, so a killed holder releases it; its file,
    ``.NAME.lock`` beside ``path``, stays (removing it would let a third process lock a file no one else sees)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.parent / f".{path.name}.lock"):
        yield


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files that writes killed mid-way left in ``folder`` (a killed process cannot clean up)."""
    folder = Path(folder)
    stale = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def path_component(name: str, what: str) -> str:
    """``name`` when it is safe as one folder or file name inside a run; else a one-line error.

    Names of generators, detectors, experiments and evaluation sets become paths; one holding ``/``,
    ``..`` or a NUL byte could write outside ``--out``, so it is refused rather than cleaned up.
    """
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or name.startswith("."):
        raise DeepbenchError(f"{what} {name!r} cannot be a file name; use letters, digits, '-', '_', '@' or ':'")
    return name


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def json_text(data: Any, **options) -> str:
    """JSON that strict parsers accept: a non-finite float (an error ratio over a zero error, say) becomes null,
    where ``json.dumps`` would write ``Infinity`` or ``NaN``, which are not JSON."""
    return json.dumps(_finite(data), allow_nan=False, default=str, **options)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_json(path: str | os.PathLike, data: dict[str, Any], kind: str) -> Path:
    """Atomically write ``data`` as JSON with ``schema`` set to this kind's current schema."""
    document = {"schema": schema_name(kind), **data}
    return write_text(path, json_text(document, indent=2) + "\n")


def read_json(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Read a JSON written by :func:`write_json`, failing with a message that names the file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeepbenchError(f"{path} does not exist; run the stage that writes it first") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DeepbenchError(f"{path} is not valid JSON ({error}); delete it and run the stage again") from None
    expected = schema_name(kind)
    found = document.get("schema") if isinstance(document, dict) else None
    if found != expected:
        raise DeepbenchError(f"{path} has schema {found!r}, expected {expected!r}; "
                             f"it was written by another version or is not a {kind} file")
    return document


def write_csv(path: str | os.PathLike, frame) -> Path:
    """Atomically write a pandas ``DataFrame`` as CSV without its index."""
    return write_text(path, frame.to_csv(index=False))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically ``torch.save`` a checkpoint: a crash mid-save keeps the last good one."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, expected_kind: str | None = None) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check it is the kind the caller expects.

    Checkpoints carry a ``kind`` entry (e.g. ``generator:dcgan``) so that loading one model's checkpoint
    into another fails with a message instead of a wall of missing-key errors.
    """
    path = Path(path)
    if not path.is_file():
        raise DeepbenchError(f"checkpoint {path} does not exist; check the path or train first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for damaged files
        raise DeepbenchError(f"checkpoint {path} is corrupt or not a deepbench checkpoint "
                             f"({type(error).__name__}); delete it and train again") from None
    if not isinstance(state, dict):
        raise DeepbenchError(f"checkpoint {path} is not a deepbench checkpoint; train again")
    if expected_kind is not None and state.get("kind") != expected_kind:
        raise DeepbenchError(f"checkpoint {path} holds {state.get('kind')!r}, not {expected_kind!r}; "
                             f"pass a checkpoint of {expected_kind}")
    return state


@functools.lru_cache(maxsize=8)
def _digest(path: str, algorithm: str, size: int, mtime_ns: int) -> str:
    """Hex digest of a file; size and mtime are part of the cache key so a replaced file is hashed again."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (sha256 by default), as manifests and metric records name their inputs."""
    path = Path(path)
    stat = path.stat()
    return _digest(str(path), algorithm, stat.st_size, stat.st_mtime_ns)
