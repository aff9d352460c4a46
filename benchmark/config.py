"""Benchmark suites: TOML files that name the experiments of a benchmark (``benchmark/suites/*.toml``).

A suite is a list of experiments. Each experiment is one run directory: a data set, the generators trained
on it, the detectors trained on their fakes and the report's metric options::

    name = "quick"
    description = "..."

    [defaults]                       # merged into every experiment; an experiment's own keys win
    seed = 0
    train = { epochs = 2 }           # generators.train.TrainConfig fields
    detector = { epochs = 3 }        # detectors.detector.DetectorConfig fields

    [[experiment]]
    name = "mnist"                   # the run directory under --out
    dataset = "embedded"             # any data set spec; --dataset NAME=SPEC on the command line replaces it
    generators = ["dcgan", "capsgan"]
    gan = { ngf = 32 }               # generators.registry.GANConfig fields
    num_samples = 2000               # fakes per generator
    detectors = ["cnn", "capsule"]
    perturbations = ["none", "jpeg75", "blur1"]
    metrics = { num_samples = 300 }  # reports.metrics.generator_metrics.MetricOptions fields

A hyperparameter sweep is one experiment per setting (``cifar-dog-lr2e-4``, ``cifar-dog-lr3e-4``). This module
only reads and checks the file's structure; the suite runner turns the tables into each stage's config
class, whose own checks name any bad value.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from benchmark import data
from benchmark.errors import DeepbenchError
from benchmark.files import path_component

SUITES_DIR = Path(__file__).parent / "suites"
TABLES = ("train", "gan", "detector", "metrics")  # sub-tables merged key by key with [defaults]


@dataclass(frozen=True)
class Experiment:
    """One run directory's worth of work."""

    name: str
    dataset: str
    generators: tuple[str, ...]
    detectors: tuple[str, ...] = ()
    num_samples: int | None = None  # fakes per generator; None: the size of the real test split
    perturbations: tuple[str, ...] | None = None  # None: every perturbation
    match_statistics: str = "auto"  # "auto": matched protocol as headline, raw beside it; "off": raw only
    seed: int = 0
    data_root: str | None = None  # None: --data-root, $DEEPBENCH_DATA or the cache
    channels: int | None = None
    image_size: int | None = None
    train: dict = field(default_factory=dict)
    gan: dict = field(default_factory=dict)
    detector: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def stage_config(self, stage: str) -> dict:
        """The options that decide a stage's results: equal options, equal results, so a finished stage is kept."""
        shared = {"dataset": self.dataset, "seed": self.seed, "data_root": self.data_root}
        generate = {**shared, "generators": list(self.generators), "num_samples": self.num_samples,
                    "channels": self.channels, "image_size": self.image_size, "train": self.train, "gan": self.gan}
        if stage == "generate":
            return generate
        detect = {"generate": generate, "detectors": list(self.detectors), "detector": self.detector,
                  "perturbations": self.perturbations, "match_statistics": self.match_statistics}
        if stage == "detect":
            return detect
        return {"detect": detect, "metrics": self.metrics}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    experiments: tuple[Experiment, ...]
    path: Path
    threads: int | None = None  # torch CPU threads the suite's figures were measured with; None: torch's default


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def locate_suite(name_or_path: str | os.PathLike) -> Path:
    """A suite file: an existing path, or the name of a built-in suite."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise DeepbenchError(f"suite file {path} does not exist; pass a TOML file or one of: "
                                 f"{', '.join(suite_names())}")
        return path
    builtin = SUITES_DIR / f"{name_or_path}.toml"
    if not builtin.is_file():
        raise DeepbenchError(f"unknown suite {str(name_or_path)!r}; use one of {', '.join(suite_names())} "
                             f"or a path to a TOML file")
    return builtin


def load_suite(name_or_path: str | os.PathLike, datasets: dict[str, str] | None = None,
               settings: dict | None = None) -> Suite:
    """Read and check a suite; ``datasets`` maps data set names to the specs that replace them, and ``settings``
    (:func:`parse_settings`) set fields of every experiment over the suite's own values."""
    path = locate_suite(name_or_path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DeepbenchError(f"{path} is not valid TOML: {error}") from None
    _known(document, {"name", "description", "threads", "defaults", "experiment"}, f"{path}")
    threads = document.get("threads")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise DeepbenchError(f"{path}: threads must be a positive integer, got {threads!r}")
    defaults = document.get("defaults", {})
    entries = document.get("experiment", [])
    if not isinstance(entries, list) or not entries:
        raise DeepbenchError(f"{path} has no [[experiment]] tables; add at least one")
    _known(settings or {}, {f.name for f in fields(Experiment)} - {"name"}, "--set")
    experiments = tuple(_experiment(path, defaults, _merged(entry, settings or {}), datasets or {})
                        for entry in entries)
    names = [e.name for e in experiments]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DeepbenchError(f"{path}: experiment names must differ, {', '.join(duplicates)} appears twice")
    used = {data.parse_spec(str(entry.get("dataset", defaults.get("dataset", "")))).name for entry in entries}
    unused = sorted(set(datasets or {}) - used)
    if unused:
        raise DeepbenchError(f"--dataset {', '.join(unused)}: no experiment of {path.name} uses that data set")
    return Suite(str(document.get("name", path.stem)), str(document.get("description", "")), experiments, path,
                 threads)


def select_experiments(suite: Suite, names: tuple[str, ...]) -> Suite:
    """The suite cut to the experiments named (all when none are), in the suite's order."""
    if not names:
        return suite
    known = [e.name for e in suite.experiments]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise DeepbenchError(f"--experiment {', '.join(unknown)}: not in suite {suite.name}; it has {', '.join(known)}")
    return replace(suite, experiments=tuple(e for e in suite.experiments if e.name in names))


def parse_pairs(items: tuple[str, ...], option: str, example: str) -> dict[str, str]:
    """``NAME=VALUE`` command-line pairs (``--dataset cifar10=folder:PATH``, ``--eval-fakes other=PATH``)."""
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise DeepbenchError(f"{option} takes NAME=VALUE (e.g. {example}), got {item!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def parse_seeds(text: str | None, option: str) -> tuple[int, ...]:
    """``0,1,2`` as ``(0, 1, 2)``; None or empty as ``()``; anything else a one-line error."""
    if not text:
        return ()
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise DeepbenchError(f"{option} takes integers separated by commas (e.g. 0,1,2), got {text!r}") from None
    return check_seeds(seeds, option)


def check_seeds(seeds, option: str) -> tuple[int, ...]:
    """Distinct integer seeds as a tuple, or a one-line error (a suite's list, detect's argument, --seeds)."""
    if not isinstance(seeds, list | tuple) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise DeepbenchError(f"{option} takes integers, e.g. [0, 1, 2]; got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise DeepbenchError(f"{option} names a seed twice: {list(seeds)!r}")
    return tuple(seeds)


def parse_overrides(items: tuple[str, ...]) -> dict[str, str]:
    """``--dataset`` pairs: data set names (lower case) and the specs that replace them."""
    return {name.lower(): spec for name, spec in
            parse_pairs(items, "--dataset", "cifar10=folder:../shared/data/cifar10-jpeg").items()}


LIST_KEYS = ("generators", "detectors", "perturbations")


def parse_settings(items: tuple[str, ...]) -> dict:
    """``--set KEY=VALUE`` pairs as a table of the suite's shape: ``num_samples=500`` sets an experiment key,
    ``train.epochs=1`` a field of a stage table. A value is read as TOML (``5e-4``, ``true``, ``["cnn"]``), else as
    text; a list key also takes names separated by commas (``detectors=cnn,capsule``)."""
    settings: dict = {}
    for key, text in parse_pairs(items, "--set", "train.epochs=1").items():
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        if key in LIST_KEYS and isinstance(value, str):
            value = [name.strip() for name in value.split(",")]
        table, dot, name = key.partition(".")
        if not dot:
            settings[key] = value
        elif table in TABLES and name:
            settings.setdefault(table, {})[name] = value
        else:
            raise DeepbenchError(f"--set {key}: {table!r} is not a table of options; use TABLE.FIELD with TABLE one "
                                 f"of {', '.join(TABLES)} (train.epochs=1), or an experiment key (num_samples=500)")
    return settings


def override_dataset(spec: str, overrides: dict[str, str]) -> str:
    """Replace a spec's data set by its override, keeping the class subset: cifar10:dog -> folder:PATH:dog."""
    parsed = data.parse_spec(spec)
    if parsed.name not in overrides:
        return spec
    return overrides[parsed.name] + (":" + ",".join(parsed.classes) if parsed.classes else "")


def _known(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise DeepbenchError(f"{where}: unknown key {', '.join(unknown)}; known keys: {', '.join(sorted(allowed))}")


def _merged(defaults: dict, entry: dict) -> dict:
    merged = {**defaults, **entry}
    for table in TABLES:
        merged[table] = {**defaults.get(table, {}), **entry.get(table, {})}
    return merged


def _experiment(path: Path, defaults: dict, entry: dict, datasets: dict[str, str]) -> Experiment:
    allowed = {f.name for f in fields(Experiment)}
    where = f"{path} experiment {entry.get('name', '?')!r}"
    _known(defaults, allowed - {"name"}, f"{path} [defaults]")
    _known(entry, allowed, where)
    merged = _merged(defaults, entry)
    for key in ("name", "dataset", "generators"):
        if key not in merged:
            raise DeepbenchError(f"{where}: missing {key!r}")
    for key in LIST_KEYS:
        if key in merged and not (isinstance(merged[key], list) and all(isinstance(v, str) for v in merged[key])):
            raise DeepbenchError(f"{where}: {key} must be a list of names, got {merged[key]!r}")
        if key in merged:
            merged[key] = tuple(merged[key])
    path_component(str(merged["name"]), f"{where}: the name becomes a folder, so the name")
    merged["dataset"] = override_dataset(str(merged["dataset"]), datasets)
    return Experiment(**merged)
