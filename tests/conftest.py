"""Keep every test off the network, the user's cache and ../shared: caches and data roots live in tmp."""

import pytest


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DEEPBENCH_CACHE", str(cache))
    monkeypatch.setenv("DEEPBENCH_DATA", str(cache / "data"))
    return cache
