"""Keep every test off the network, the user's cache and ../shared: caches and data roots live in tmp.

One exception, for speed: the domain classifiers that in-process tests train (about ten seconds each on the
embedded digits, which most tiny runs use) are cached once for the whole session, under a key of their data
and options as in normal use. Subprocess tests keep their own caches.

Under pytest-xdist (``make test`` runs ``pytest -n auto``) each worker, and every process it starts, uses one
torch thread: the workers already keep the cores busy, and two workers of two threads each on two cores run
several times slower than one worker alone.
"""

import os
import shutil

import pytest
import torch

from benchmark import data
from reports.metrics import domain

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the subprocesses and spawned ranks the tests start
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def shared_domain_classifiers(tmp_path_factory):
    root = tmp_path_factory.mktemp("session-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(domain, "cache_root", lambda: root)
        yield root


@pytest.fixture(scope="session")
def embedded_domain_classifier(shared_domain_classifiers):
    """Copy the embedded digits' domain classifier (trained on first use) into a subprocess test's ``cache``."""
    domain.train_domain_classifier(data.load("embedded", "train"), progress=False)
    return lambda cache: shutil.copytree(shared_domain_classifiers / "domain", cache / "domain", dirs_exist_ok=True)


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DEEPBENCH_CACHE", str(cache))
    monkeypatch.setenv("DEEPBENCH_DATA", str(cache / "data"))
    return cache
