"""Two gloo processes on the CPU train, sample and fit detectors as one process does, and only rank 0 writes."""

import filecmp

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark import distributed
from generators.sample import load_generator, sample_fakes
from tests.benchmark.fixtures import write_digit_folder
from tests.distributed.workers import (
    TIMM_WITH_BATCHNORM_ACT,
    detector_fit,
    detector_scores,
    run_processes,
    train_gan,
    train_vae,
)
from tests.tiny_run import TINY_GAN, invoke


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """8 steps in 2 processes (global batch 16, synchronised BatchNorm), and the same 8 steps in this process."""
    root = tmp_path_factory.mktemp("ddp")
    torch.set_num_threads(1)
    return root, run_processes("train", root / "two", root / "results"), train_gan(root / "one", 8)


def assert_close_states(a: dict, b: dict, **tolerance):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key].float(), b[key].float(), msg=key, **tolerance)


def test_both_ranks_hold_identical_weights(straight):
    _, (rank0, rank1), _ = straight
    for part in ("generator", "discriminator"):
        assert_close_states(rank0[part], rank1[part], rtol=0, atol=0)
    assert not torch.equal(rank0["rng"], rank1["rng"])  # the global streams differ per rank


def test_two_processes_follow_the_single_process_loss_curve(straight):
    root, (rank0, _), one = straight
    two_losses, one_losses = pd.read_csv(root / "two" / "losses.csv"), pd.read_csv(root / "one" / "losses.csv")
    assert len(two_losses) == len(one_losses) == 8
    pd.testing.assert_frame_equal(two_losses, one_losses, check_exact=False, rtol=1e-4, atol=1e-5)
    for part in ("generator", "discriminator"):
        assert_close_states(rank0[part], one[part], rtol=1e-4, atol=1e-5)


def test_only_rank_0_writes(straight):
    root, (rank0, rank1), _ = straight
    assert rank1["writes"] == []
    assert any(write.endswith("checkpoints") for write in rank0["writes"])
    assert sorted(p.name for p in (root / "two" / "samples").iterdir()) == ["step_000004.png", "step_000008.png"]
    assert not list((root / "two").rglob("*.tmp"))


def test_a_family_without_a_discriminator_trains_in_two_processes_as_in_one(tmp_path):
    """cvae's likelihood step under DDP: both ranks hold the same weights, and they follow the single process's
    losses and weights (the noise is drawn for the global batch and sliced, BatchNorm synchronised)."""
    torch.set_num_threads(1)
    rank0, rank1 = run_processes("train-vae", tmp_path / "two", tmp_path / "results")
    one = train_vae(tmp_path / "one")
    assert_close_states(rank0["generator"], rank1["generator"], rtol=0, atol=0)
    assert_close_states(rank0["generator"], one["generator"], rtol=1e-4, atol=1e-5)
    two_losses, one_losses = (pd.read_csv(tmp_path / run / "losses.csv") for run in ("two", "one"))
    assert len(two_losses) == 8 and {"loss", "loss_reconstruction", "loss_kl"} <= set(two_losses)
    pd.testing.assert_frame_equal(two_losses, one_losses, check_exact=False, rtol=1e-4, atol=1e-5)


def test_resume_under_ddp_reaches_the_uninterrupted_weights(straight, tmp_path):
    root, (rank0, _), _ = straight
    run_processes("train-half", tmp_path / "split", tmp_path / "half")
    resumed, _ = run_processes("resume", tmp_path / "split", tmp_path / "resumed")
    for part in ("generator", "discriminator"):
        assert_close_states(resumed[part], rank0[part], rtol=0, atol=0)
    assert torch.equal(resumed["rng"], rank0["rng"])
    last = torch.load(tmp_path / "split" / "checkpoints" / "last.pt", weights_only=True)
    assert len(last["rank_rng"]) == 2
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "split" / "losses.csv"),
                                  pd.read_csv(root / "two" / "losses.csv"))


def test_sampling_split_over_ranks_writes_the_single_process_set(straight, tmp_path):
    root, _, _ = straight
    rank0, rank1 = run_processes("sample", root / "two", tmp_path / "results")
    sample_fakes(load_generator(root / "two" / "checkpoints" / "last.pt"), tmp_path / "fakes", 30, batch_size=8,
                 progress=False)
    names = sorted(p.name for p in (tmp_path / "fakes").iterdir())
    assert len(names) == 31
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "fakes", root / "two" / "fakes", names, shallow=False)
    assert mismatch == errors == [], (mismatch, errors)
    assert rank1["writes"] == [] and len(rank0["writes"]) == 31
    assert rank0["gathered"].tolist() == rank1["gathered"].tolist() == [0, 1, 0, 1, 2]
    assert (rank0["shard"], rank1["shard"]) == ([0, 1], [2, 3, 4])


@pytest.mark.parametrize("task, network", [("detector", "cnn"), ("detector-timm", TIMM_WITH_BATCHNORM_ACT)])
def test_a_detector_trains_in_two_processes_as_in_one(tmp_path, task, network):
    rank0, rank1 = run_processes(task, tmp_path, tmp_path / "results")
    assert_close_states(rank0["network"], rank1["network"], rtol=0, atol=0)  # BatchNorm statistics included
    assert rank0["threshold"] == rank1["threshold"] and rank0["history"] == rank1["history"]
    torch.set_num_threads(1)
    one = detector_fit(network)
    # A gradient left unsynchronised or taken over the wrong batch changes the loss by percents; rounding in the
    # all-reduce changes it in the fourth digit once the rate is at its full 1e-3 from the first step.
    assert rank0["history"]["train_loss"] == pytest.approx(one["history"]["train_loss"], rel=1e-3)
    if network == "cnn":
        # Nearly every weight within a tenth of one AdamW step (lr 1e-3) of the single process's: a gradient left
        # unsynchronised or taken over the wrong batch moves most weights by about a step. Not every weight: one
        # whose gradient is near zero takes a step of rounding noise, which Adam's normalisation scales up to a
        # whole step (a few of 590,000 here). Not for the deep timm network: there a bias feeding the next
        # BatchNorm has a zero gradient up to rounding, so every such step is noise.
        far = sum(int(((rank0["network"][k].float() - one["network"][k].float()).abs() > 1e-4).sum())
                  for k in one["network"])
        assert far <= 1e-3 * sum(t.numel() for t in one["network"].values()), far
        assert rank0["threshold"] == pytest.approx(one["threshold"], rel=1e-3)


def test_detector_scores_are_split_over_the_ranks_and_gathered_in_order(tmp_path):
    rank0, rank1 = run_processes("scores", tmp_path, tmp_path / "results")
    assert (rank0["seen"], rank1["seen"]) == (4, 5)
    torch.set_num_threads(1)
    alone = detector_scores()
    assert alone["seen"] == 9
    np.testing.assert_allclose(rank0["scores"], alone["scores"], rtol=1e-6)
    np.testing.assert_array_equal(rank0["scores"], rank1["scores"])


def test_a_report_in_two_processes_is_written_by_rank_0_alone(tmp_path):
    run = tmp_path / "run"
    digits = write_digit_folder(tmp_path / "digits")
    generated = invoke("generate", "--dataset", f"folder:{digits}", *TINY_GAN, "--max-steps", "4", "--num-samples",
                       "30", "--out", run)
    assert generated.exit_code == 0, generated.output
    rank0, rank1 = run_processes("report", run, tmp_path / "results")
    assert rank1["writes"] == [] and any(write.endswith("report") for write in rank0["writes"])
    assert rank0["generators"] == rank1["generators"]
    assert (run / "report" / "index.html").is_file() and (run / "metrics" / "dcgan.json").is_file()


def test_scored_generation_on_several_classes_finishes_whatever_each_rank_has_cached(tmp_path):
    """Once, rank 0 alone built the domain scorer, its cache barrier met rank 1's DDP construction, and both hung."""
    write_digit_folder(tmp_path / "digits")
    rank0, rank1 = run_processes("generate-caches", tmp_path, tmp_path / "results")
    assert rank0["counts"] == rank1["counts"] == [24, 24, 24]
    for run in ("cold", "warm", "one-rank"):
        assert len(list((tmp_path / run / "generators" / "dcgan" / "fakes").glob("*.png"))) == 24
        assert (tmp_path / run / "generators" / "dcgan" / "checkpoints" / "best.pt").is_file()


def test_a_rank_that_skips_a_collective_gets_a_timeout_that_names_it(tmp_path):
    rank0, _ = run_processes("skip-barrier", tmp_path, tmp_path / "results")
    assert "rank 0 of 2 waited over 4 s at collective" in rank0["error"]
    assert "(barrier (only rank 0 calls this))" in rank0["error"] and "DEEPBENCH_DIST_TIMEOUT" in rank0["error"]


def test_the_micro_suite_runs_end_to_end_in_two_processes(tmp_path):
    write_digit_folder(tmp_path / "digits")
    rank0, rank1 = run_processes("suite", tmp_path, tmp_path / "results")
    assert rank0["generators"] == rank1["generators"]
    (metrics,) = rank0["generators"]
    assert metrics["samples_fake"] == 12 and metrics["fid"] is not None  # Inception ran, its weights shared
    assert (tmp_path / "suite" / "digits" / "report" / "index.html").is_file()


def test_without_torchrun_there_is_no_process_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.init_from_env()
    assert (distributed.rank(), distributed.world_size(), distributed.shard(3)) == (0, 1, range(3))
    assert distributed.local_batch(16) == slice(0, 16)
