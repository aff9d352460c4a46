"""A fresh run reproduces a committed result when no figure moved beyond its tolerance; the check names those
that did and the command that refreshes the committed file."""

import copy

import pytest

from benchmark.errors import DeepbenchError
from benchmark.files import write_json
from reports.presentation.reproduction import AUC_TOLERANCE, check_reproduction, moved_figures
from tests.reports.rows import detection_row

COMMITTED = {
    "generators": [{"generator": "dcgan", "kid_mean": 0.0300, "kid_std": 0.0030}],
    "detectors": [detection_row("cnn", "dcgan", "dcgan", 0.990), detection_row("cnn", "dcgan", "capsgan", 0.700),
                  detection_row("cnn", "dcgan", "dcgan", 0.800, perturbation="jpeg75")],
}


def test_an_identical_run_reproduces_and_small_moves_are_within_tolerance():
    assert moved_figures(copy.deepcopy(COMMITTED), COMMITTED) == []
    fresh = copy.deepcopy(COMMITTED)
    fresh["generators"][0]["kid_mean"] += 0.0059  # under 2 KID standard deviations
    fresh["detectors"][0]["auc"] += AUC_TOLERANCE * 0.9
    fresh["detectors"][2]["auc"] = 0.5  # perturbed rows are not compared
    assert moved_figures(fresh, COMMITTED) == []


def test_moved_and_missing_figures_are_named():
    fresh = copy.deepcopy(COMMITTED)
    fresh["generators"][0]["kid_mean"] = 0.0400
    fresh["detectors"][1]["auc"] = 0.720
    del fresh["detectors"][0]
    fresh["detectors"].append(detection_row("cnn", "dcgan", "dcgan", float("nan")))  # a NaN never reproduces
    moved = moved_figures(fresh, COMMITTED)
    assert moved == ["generator dcgan: KID x10³ 40.00, committed 30.00 (tolerance ±6.00)",
                     "cnn trained on dcgan, on dcgan (matched): missing from the fresh run",
                     "cnn trained on dcgan, on capsgan (matched): AUC 0.720, committed 0.700 (tolerance ±0.010)"]


def test_a_missing_fresh_kid_is_named():
    fresh = copy.deepcopy(COMMITTED)
    fresh["generators"][0]["kid_mean"] = None
    assert moved_figures(fresh, COMMITTED) == ["generator dcgan: KID missing from the fresh run"]


def test_several_seeds_widen_the_tolerance_to_their_interval():
    committed = copy.deepcopy(COMMITTED)
    for row, seed in zip([copy.deepcopy(committed["detectors"][1]) for _ in range(3)], range(3), strict=True):
        committed["detectors"].append({**row, "auc": 0.70 + 0.02 * (seed - 1), "training_seed": seed})
    del committed["detectors"][1]
    fresh = copy.deepcopy(COMMITTED)
    fresh["detectors"][1]["auc"] = 0.73  # beyond 0.01, inside the three seeds' t-interval (half-width 0.05)
    assert moved_figures(fresh, committed) == []


def test_the_check_names_the_command_that_makes_the_file_again(tmp_path):
    (tmp_path / "manifest.toml").write_text('[quick]\nfiles = ["quick.json"]\ncommands = ["make it"]\nthreads = 2\n'
                                            'device = "cpu"\nprotocols = []\n')
    write_json(tmp_path / "quick.json", COMMITTED, "results")
    fresh = copy.deepcopy(COMMITTED)
    fresh["detectors"][0]["auc"] = 0.9
    with pytest.raises(DeepbenchError, match=r"(?s)1 figures of .*quick.json moved.*0.900.*make results ONLY=quick"):
        check_reproduction(fresh, tmp_path / "quick.json", "runs/x")
    check_reproduction(copy.deepcopy(COMMITTED), tmp_path / "quick.json", "runs/x")
