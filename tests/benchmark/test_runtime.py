"""Seeding gives the same numbers twice; device choice never falls back silently; progress bars suit a log."""

import random
import time

import numpy as np
import pytest
import torch

from benchmark import runtime
from benchmark.errors import DeepbenchError
from benchmark.runtime import progress_bar, resolve_device, seed_everything


def draw():
    return random.random(), np.random.rand(), torch.rand(3)


def test_same_seed_same_numbers_other_seed_other_numbers():
    seed_everything(7)
    first = draw()
    seed_everything(7)
    again = draw()
    seed_everything(8)
    other = draw()
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])
    assert first[0] != other[0] and not torch.equal(first[2], other[2])


def test_seed_out_of_range():
    with pytest.raises(DeepbenchError, match="seed -1 is out of range"):
        seed_everything(-1)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeepbenchError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeepbenchError, match="no CUDA GPU is visible; pass --device cpu"):
            resolve_device("cuda")


def test_progress_bars_in_a_log_file_are_not_redrawn_every_step(capsys, monkeypatch):
    """Outside a terminal a bar writes its start and its end, not one line per step into hour-long logs;
    ``-q`` (verbosity -1) writes nothing."""
    monkeypatch.setattr(runtime, "_verbosity", 0)
    for _ in progress_bar(range(30), desc="steps"):
        time.sleep(0.02)  # 0.6 s: a bar redrawn every 0.1 s would write six lines
    assert capsys.readouterr().err.count("steps") == 2
    monkeypatch.setattr(runtime, "_verbosity", -1)
    for _ in progress_bar(range(3), desc="steps"):
        pass
    assert capsys.readouterr().err == ""
