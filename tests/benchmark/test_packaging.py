"""What ``pip install .`` installs: the four packages and the ``deepbench`` command, under a free index name."""

import tomllib
from pathlib import Path

import setuptools

from benchmark import DISTRIBUTION

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_distribution_holds_exactly_the_four_packages():
    """``benchmarks/`` (scripts) and ``tests/`` sit beside them and must not be installed as packages. Like
    ``[tool.setuptools.packages.find]``, the search takes folders without ``__init__.py`` too."""
    include = PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = setuptools.find_namespace_packages(str(REPO), include=include)
    assert {name.split(".")[0] for name in packages} == {"benchmark", "generators", "detectors", "reports"}


def test_name_command_and_licence():
    project = PROJECT["project"]
    assert project["name"] == DISTRIBUTION != "deepbench"
    assert project["scripts"] == {"deepbench": "benchmark.cli:main"}
    assert project["license"] == "MIT" and "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")


def test_every_asset_is_package_data():
    """A non-editable install carries only what package-data names: the embedded digits and their classifier."""
    patterns = PROJECT["tool"]["setuptools"]["package-data"]["benchmark"]
    assets = [path.relative_to(REPO / "benchmark") for path in (REPO / "benchmark" / "assets").iterdir()]
    assert {path.suffix for path in assets} == {".npz", ".pt"}
    assert all(any(path.match(pattern) for pattern in patterns) for path in assets)
