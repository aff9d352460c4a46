"""Runs killed with SIGKILL (mid-step, mid-checkpoint-write, mid-sampling, mid-report), diverging or hitting a full
disk: each is finished by ``--resume`` (or a plain rerun) into exactly what an uninterrupted run gives.

Every fault happens in a real ``deepbench`` subprocess (see ``faults.py``), so nothing of the test process
can clean up after it. The kill step is drawn at random and named in the failure message.
"""

import random
import shutil
import signal

import pandas as pd
import pytest
import torch

from benchmark.fakes import read_manifest
from benchmark.files import load_checkpoint
from benchmark.rundir import RunDir
from detectors.sets import training_sets
from tests.reliability.helpers import checkpoint_differences, deepbench, error_line, snapshot, temp_files
from tests.tiny_run import TINY_GAN

STEPS = 40


def generate(out, *extra, steps=STEPS, samples=100) -> list:
    """``deepbench generate`` arguments of a tiny DCGAN that checkpoints every 10 steps."""
    return ["generate", "--dataset", "embedded:0", "--generator", "dcgan", *TINY_GAN, "--max-steps", steps,
            "--checkpoint-every", "10", "--sample-every", "10", "--score-every", "20", "--num-samples", samples,
            "--out", out, *extra]


DETECT = ["detect", "--detector", "cnn", "--epochs", "3", "--batch-size", "16", "--perturbation", "none"]
REPORT = ["report", "--no-inception", "--num-samples", "40"]
KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run: generated, detected and reported (the domain classifier ships with the package)."""
    root = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPBENCH_CACHE", str(root / "cache"))
        out = root / "run"
        for args in (generate(out), DETECT + ["--run", out], REPORT + ["--run", out]):
            completed = deepbench(*args)
            assert completed.returncode == 0, completed.stderr
    return out


def copy_generated(reference, tmp_path, isolated_paths):
    """The reference run as ``generate`` left it, and its cache."""
    copy = tmp_path / "run"
    shutil.copytree(reference, copy, ignore=shutil.ignore_patterns("detectors", "report", "metrics"))
    shutil.copytree(reference.parent / "cache", isolated_paths, dirs_exist_ok=True)
    return copy


def assert_same_generator(reference, run):
    first, second = RunDir(reference), RunDir(run)
    names = sorted(p.name for p in first.checkpoints("dcgan").iterdir())
    assert names == sorted(p.name for p in second.checkpoints("dcgan").iterdir())
    for name in names:
        assert not checkpoint_differences(first.checkpoints("dcgan") / name, second.checkpoints("dcgan") / name), name
    assert not temp_files(run.parent)
    for folder in (first.fakes("dcgan"), second.fakes("dcgan")):
        assert len(read_manifest(folder)) == 100
    assert snapshot(first.fakes("dcgan")).keys() == snapshot(second.fakes("dcgan")).keys()
    pngs = {k: v for k, v in snapshot(first.fakes("dcgan")).items() if k.endswith(".png")}
    assert pngs == {k: v for k, v in snapshot(second.fakes("dcgan")).items() if k.endswith(".png")}
    assert (pd.read_csv(first.generator("dcgan") / "losses.csv").equals(
        pd.read_csv(second.generator("dcgan") / "losses.csv")))


def test_a_generator_killed_at_a_random_step_resumes_to_the_same_weights(reference, tmp_path, isolated_paths):
    step = random.randint(1, STEPS - 1)
    out = tmp_path / "run"
    killed = deepbench(*generate(out), faults=("--kill-at", f"generators.train:Trainer.train_step:{step}"))
    assert killed.returncode == KILLED, f"step {step}: {killed.stderr}"
    if step > 10:  # a checkpoint was written: a rerun without --resume must not overwrite it
        assert "pass --resume" in error_line(deepbench(*generate(out)))
    resumed = deepbench(*generate(out, "--resume"))
    assert resumed.returncode == 0, f"step {step}: {resumed.stderr}"
    assert_same_generator(reference, out)


def test_a_kill_during_a_checkpoint_write_keeps_the_previous_checkpoint(reference, tmp_path, isolated_paths):
    out = tmp_path / "run"
    killed = deepbench(*generate(out), faults=("--torn-write", ".last.pt.:2"))
    assert killed.returncode == KILLED, killed.stderr
    checkpoints = RunDir(out).checkpoints("dcgan")
    assert load_checkpoint(checkpoints / "last.pt")["step"] == 10  # the first save; the second was torn
    assert len(temp_files(checkpoints)) == 1
    resumed = deepbench(*generate(out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_generator(reference, out)


def test_a_nan_loss_stops_cleanly_and_resumes_from_the_last_good_checkpoint(reference, tmp_path, isolated_paths):
    out = tmp_path / "run"
    diverged = deepbench(*generate(out), faults=("--nan-at", "generators.train:discriminator_loss:25"))
    assert diverged.returncode == 2
    assert "dcgan diverged at step 25" in error_line(diverged) and "last good checkpoint" in error_line(diverged)
    assert load_checkpoint(RunDir(out).checkpoints("dcgan") / "last.pt")["step"] == 20
    resumed = deepbench(*generate(out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_generator(reference, out)


def test_a_kill_during_sampling_keeps_the_previous_set_whole(reference, tmp_path, isolated_paths):
    out = copy_generated(reference, tmp_path, isolated_paths)
    fakes = RunDir(out).fakes("dcgan")
    before = snapshot(fakes)
    killed = deepbench(*generate(out, "--resume", samples=150),
                       faults=("--kill-at", "generators.sample:to_pil_image:120"))
    assert killed.returncode == KILLED, killed.stderr
    assert snapshot(fakes) == before and len(read_manifest(fakes)) == 100
    resumed = deepbench(*generate(out, "--resume", samples=150))
    assert resumed.returncode == 0, resumed.stderr
    manifest = read_manifest(fakes)  # checks the folder holds exactly the listed files
    assert len(manifest) == 150 and manifest["file"].is_unique
    assert sorted(p.name for p in fakes.parent.iterdir()) == ["checkpoints", "fakes", "losses.csv", "losses.png",
                                                               "samples"]


def test_a_detector_killed_at_a_random_batch_resumes_to_the_same_weights(reference, tmp_path, isolated_paths):
    run = copy_generated(reference, tmp_path, isolated_paths)
    fakes, reals = torch.zeros(100, 1, 28, 28, dtype=torch.uint8), torch.zeros(1206, 1, 28, 28, dtype=torch.uint8)
    batches = len(training_sets(reals, fakes)[0].images) // 16 * 3
    batch = random.randint(1, batches - 1)
    killed = deepbench(*DETECT, "--run", run, faults=("--kill-at", f"detectors.detector:Detector._loss:{batch}"))
    assert killed.returncode == KILLED, f"batch {batch} of {batches}: {killed.stderr}"
    resumed = deepbench(*DETECT, "--run", run, "--resume")
    assert resumed.returncode == 0, f"batch {batch}: {resumed.stderr}"
    folder, expected = RunDir(run).detector("cnn", "dcgan"), RunDir(reference).detector("cnn", "dcgan")
    assert not checkpoint_differences(expected.checkpoint, folder.checkpoint), f"batch {batch}"
    assert not folder.training_state.exists() and not temp_files(folder.folder)
    assert folder.evaluation_table.read_bytes() == expected.evaluation_table.read_bytes()


@pytest.mark.parametrize("target", ["reports.metrics.generator_metrics:domain_scores:1",
                                    "reports.presentation.report:save_image_grid:2"])
def test_a_report_killed_midway_is_finished_by_running_it_again(reference, tmp_path, isolated_paths, target):
    run = copy_generated(reference, tmp_path, isolated_paths)
    shutil.copytree(reference / "detectors", run / "detectors")
    killed = deepbench(*REPORT, "--run", run, faults=("--kill-at", target))
    assert killed.returncode == KILLED, killed.stderr
    again = deepbench(*REPORT, "--run", run)
    assert again.returncode == 0, again.stderr
    for name in ("leaderboard.csv", "leaderboard.md"):
        assert (run / "report" / name).read_bytes() == (reference / "report" / name).read_bytes(), name
    assert sorted(p.name for p in (run / "report" / "figures").iterdir()) == sorted(
        p.name for p in (reference / "report" / "figures").iterdir())
    assert not temp_files(run)


def test_a_full_disk_stops_training_and_keeps_the_last_good_checkpoint(reference, tmp_path, isolated_paths):
    out = copy_generated(reference, tmp_path, isolated_paths)
    last = RunDir(out).checkpoints("dcgan") / "last.pt"
    before = snapshot(out)
    limit = last.stat().st_size - 1  # the next checkpoint cannot be written; sample grids and logs can
    full = deepbench(*generate(out, "--resume", steps=50), faults=("--file-size-limit", str(limit)))
    assert full.returncode == 2, full.stderr
    message = error_line(full)
    assert "disk full while writing" in message and ".pt (File too large)" in message and "intact" in message
    assert load_checkpoint(last)["step"] == STEPS and not temp_files(out)
    assert all(snapshot(out)[path] == digest for path, digest in before.items() if not path.endswith("run.json"))


def test_a_full_disk_while_reporting_keeps_the_previous_results(reference, tmp_path, isolated_paths):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    before = snapshot(run / "report")
    full = deepbench(*REPORT, "--run", run, faults=("--file-size-limit", "2000"))
    assert full.returncode == 2, full.stderr
    assert "disk full while writing" in error_line(full)
    assert snapshot(run / "report") == before and not temp_files(run)
