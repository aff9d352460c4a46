"""Keep every test off the network, the user's cache and ../shared: caches and data roots live in tmp.

Two exceptions, for speed. The domain classifiers that in-process tests train (seconds each on the small data
sets tests write; the embedded digits' classifier ships with the package) are cached once for the whole session
and all its workers, under a key of their data and options as in normal use; subprocess tests keep their own
caches. And GAN-train, in the reports that in-process tests make, trains a tenth of its steps.

Under pytest-xdist (``make test`` runs ``pytest -n auto``) each worker, and every process it starts, uses one
torch thread: the workers already keep the cores busy, and two workers of two threads each on two cores run
several times slower than one worker alone.
"""

import os

import pytest
import torch

from reports.metrics import classifier_scores, domain
from tests import forkserver

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the subprocesses and spawned ranks the tests start
    torch.set_num_threads(1)

forkserver.preload()  # the distributed and reliability tests' processes import deepbench once


@pytest.fixture(scope="session", autouse=True)
def shared_domain_classifiers(tmp_path_factory):
    """The session's domain classifiers; under xdist one folder for all workers, whose cache lock lets one
    worker train each classifier while the others wait for it, instead of every worker training its own."""
    shared = os.environ.get("PYTEST_XDIST_WORKER")
    root = tmp_path_factory.getbasetemp()
    root = (root.parent if shared else root) / "session-cache"
    root.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(domain, "cache_root", lambda: root)
        yield root


@pytest.fixture(autouse=True)
def short_gan_train(monkeypatch):
    """GAN-train's classifier trains 40 steps, not 400, in the reports the tests make: they check that it is
    reported; its quality is tested in test_classifier_scores, at its own budget."""
    monkeypatch.setattr(classifier_scores, "GAN_TRAIN_STEPS", 40)


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DEEPBENCH_CACHE", str(cache))
    monkeypatch.setenv("DEEPBENCH_DATA", str(cache / "data"))
    return cache
