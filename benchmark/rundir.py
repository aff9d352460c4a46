"""The run directory: the one contract between the generate, detect and report stages.

Each stage reads only what an earlier stage wrote here, so any stage can be re-run, resumed or replaced on
its own. Every write is atomic (a temp file in the same folder, then ``os.replace``), so an interrupted
or failed write leaves the previous file intact; every JSON carries a ``schema`` that readers check.

Layout (docs/architecture.md has every file)::

    runs/<run>/run.json
    runs/<run>/generators/<gen>/{checkpoints/, samples/, losses.csv, fakes/}
    runs/<run>/detectors/<det>@<gen>/{checkpoint.pt, history.csv, eval.json}
    runs/<run>/metrics/<gen>.json
    runs/<run>/report/
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from benchmark import DISTRIBUTION
from benchmark.errors import DeepbenchError

SCHEMA_VERSION = 1
RECORDED_PACKAGES = ("torch", "torchvision", "timm", "torch-fidelity", "numpy", "scikit-learn")


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


def write_json(path: str | os.PathLike, data: dict[str, Any], kind: str) -> Path:
    """Atomically write ``data`` as JSON with ``schema`` set to this kind's current schema."""
    document = {"schema": schema_name(kind), **data}
    return write_text(path, json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


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


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages whose behaviour the numbers depend on."""
    versions: dict[str, str | None] = {"python": platform.python_version(), "deepbench": metadata.version(DISTRIBUTION)}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine() -> str:
    """The hardware the numbers were measured on, for timings to mean something."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({platform.machine()}, {torch.get_num_threads()} torch threads), {gpu}"


def now() -> str:
    """The current UTC time in ISO 8601, as run records store it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


LAST_CHECKPOINT, BEST_CHECKPOINT = "last.pt", "best.pt"
DATA_STAGES = ("generate", "import")  # the stages that put fakes in a run, and say which reals they follow
EVALUATION, EVALUATION_TABLE = "eval.json", "eval.csv"


@dataclass(frozen=True)
class DetectorFiles:
    """The files of one detector folder, ``detectors/<det>@<gen>/``."""

    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def checkpoint(self) -> Path:
        """The trained detector, written when training ends."""
        return self.folder / "checkpoint.pt"

    @property
    def training_state(self) -> Path:
        """The state after the last finished epoch, which ``--resume`` continues; gone once training ends."""
        return self.folder / "training.pt"

    @property
    def history(self) -> Path:
        return self.folder / "history.csv"

    @property
    def evaluation(self) -> Path:
        return self.folder / EVALUATION

    @property
    def evaluation_table(self) -> Path:
        return self.folder / EVALUATION_TABLE

    def baseline(self, protocol: str) -> Path:
        """A trivial-statistics baseline fitted under ``protocol``."""
        return self.folder / f"{protocol}-baseline.json"

    def trained(self) -> tuple[Path, ...]:
        """What retraining replaces (``--force``)."""
        return self.checkpoint, self.training_state, self.history, self.evaluation, self.evaluation_table


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory; creating the object touches nothing on disk."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def suite_record(self) -> Path:
        """What ``deepbench run`` records of the suite experiment this run belongs to."""
        return self.root / "suite.json"

    def generator(self, name: str) -> Path:
        return self.root / "generators" / path_component(name, "generator name")

    def checkpoints(self, generator: str) -> Path:
        return self.generator(generator) / "checkpoints"

    def last_checkpoint(self, generator: str) -> Path:
        """The latest training state, which ``--resume`` continues from."""
        return self.checkpoints(generator) / LAST_CHECKPOINT

    def best_checkpoint(self, generator: str) -> Path:
        """The best-scoring checkpoint on training data, which fakes are sampled from."""
        return self.checkpoints(generator) / BEST_CHECKPOINT

    def samples(self, generator: str) -> Path:
        return self.generator(generator) / "samples"

    def fakes(self, generator: str) -> Path:
        return self.generator(generator) / "fakes"

    def detector(self, detector: str, generator: str) -> DetectorFiles:
        path_component(detector, "detector name")
        return DetectorFiles(self.root / "detectors" / f"{detector}@{path_component(generator, 'generator name')}")

    def detectors(self) -> list[DetectorFiles]:
        """The detector folders that hold an evaluation, sorted by name."""
        return [DetectorFiles(path.parent) for path in sorted((self.root / "detectors").glob(f"*/{EVALUATION}"))]

    @property
    def detection_table(self) -> Path:
        """Every detector's evaluation rows in one CSV."""
        return self.root / "detectors" / EVALUATION_TABLE

    @property
    def quiz_answers(self) -> Path:
        """The answers of people to ``deepbench quiz``; it only grows."""
        return self.root / "quiz" / "answers.csv"

    def metrics(self, generator: str) -> Path:
        return self.root / "metrics" / f"{path_component(generator, 'generator name')}.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def generators(self) -> list[str]:
        """Names of the generators that have a folder in this run, sorted."""
        folder = self.root / "generators"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def discard(self, generators: list[str] | None = None) -> None:
        """Delete the named generators and everything derived from any fakes (detectors, metrics, report);
        ``None`` deletes the whole run. Only the run's own files and folders are touched (``--force``)."""
        derived = [self.root / "detectors", self.report, self.suite_record]
        if generators is None:
            doomed = [self.root / "generators", self.root / "metrics", self.run_json, *derived]
        else:
            doomed = [*(self.generator(g) for g in generators), *(self.metrics(g) for g in generators), *derived]
        for path in doomed:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def start(self, command: str, config: dict[str, Any], seed: int) -> dict[str, Any]:
        """Record a stage's start in ``run.json``, keeping earlier stages' records of the same run."""
        record = self.read_record() if self.run_json.exists() else {"stages": []}
        record.pop("schema", None)
        record["stages"].append({"command": command, "config": config, "seed": seed,
                                 "versions": package_versions(), "machine": machine(), "started": now(),
                                 "finished": None})
        write_json(self.run_json, record, "run")
        return record

    def finish(self, command: str) -> dict[str, Any]:
        """Stamp the end time of the latest unfinished ``command`` stage in ``run.json``."""
        record = self.read_record()
        record.pop("schema")
        open_stages = [s for s in record["stages"] if s["command"] == command and s["finished"] is None]
        if not open_stages:
            raise DeepbenchError(f"{self.run_json} has no unfinished {command!r} stage; it was changed meanwhile")
        open_stages[-1]["finished"] = now()
        write_json(self.run_json, record, "run")
        return record

    def generate_config(self, required: bool = True) -> dict[str, Any]:
        """The latest generate (or import) stage's config: the data set spec, data root and image shape the
        fakes follow; ``{}`` when there is none and it is not ``required``."""
        stages = [s for s in self.read_record()["stages"] if s["command"] in DATA_STAGES]
        if not stages and not required:
            return {}
        if not stages:
            raise DeepbenchError(f"{self.run_json} records no generate stage; run deepbench generate --out "
                                 f"{self.root} first")
        return stages[-1]["config"]

    def detect_seed(self) -> int:
        """The seed that split the fakes for the latest ``detect`` (0, the default, before any detect)."""
        stages = [s for s in self.read_record()["stages"] if s["command"] == "detect"]
        return int(stages[-1]["config"]["detector"]["seed"]) if stages else 0

    def read_record(self) -> dict[str, Any]:
        """``run.json``, validated."""
        record = read_json(self.run_json, "run")
        if not isinstance(record.get("stages"), list):
            raise DeepbenchError(f"{self.run_json} has no 'stages' list; delete it or use a new --out")
        return record
