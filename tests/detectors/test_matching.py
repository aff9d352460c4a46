"""Statistics matching removes a background shortcut, leaves reals and image content alone, and reaches detect."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from benchmark.errors import DeepbenchError
from detectors.baselines import StatisticsBaseline
from detectors.matching import background_lookup, fit_statistics_match, matched_half, quantile_lookup
from detectors.sets import fake_split, held_out_set, training_sets
from tests.detectors.test_detect_cli import QUICK
from tests.tiny_run import invoke, make_tiny_run


def digits(count: int, seed: int, background_noise: bool) -> torch.Tensor:
    """MNIST-like strokes: flat at one saturation level per image (250-255), with a soft edge of lower values,
    on a black background; with ``background_noise`` the black is values 1 to 6, the near-black of a
    generator's output, where a real digit has exact zeros."""
    rng = torch.Generator().manual_seed(seed)
    strokes = torch.zeros(count, 1, 28, 28)
    for index in range(count):
        row, column = torch.randint(8, 20, (2,), generator=rng).tolist()
        length = int(torch.randint(8, 14, (1,), generator=rng))
        strokes[index, 0, row:row + 3, max(0, column - length):column] = 1
        strokes[index, 0, max(0, row - length):row, column:column + 3] = 1
    edges = (torch.nn.functional.max_pool2d(strokes, 3, 1, 1) - strokes) * torch.rand(strokes.shape, generator=rng)
    level = torch.randint(250, 256, (count, 1, 1, 1), generator=rng).float()
    images = strokes * level + edges * 180 + (edges > 0) * 20  # edges 20-200: apart from the noise band
    if background_noise:
        images = torch.where(images == 0, torch.randint(1, 7, images.shape, generator=rng).float(), images)
    return images.round().to(torch.uint8)


def histogram_auc(reals: torch.Tensor, fakes: torch.Tensor) -> float:
    """Held-out AUC of the histogram baseline; its test reals are none of its training reals."""
    train, val = training_sets(reals[:500], fakes, seed=0)
    test = held_out_set(reals[500:], fake_split(fakes, "test", 0))
    baseline = StatisticsBaseline("histogram").fit(train.images, train.labels, val.images, val.labels)
    return roc_auc_score(test.labels.numpy(), baseline.decision_function(test.images))


def test_matching_removes_a_background_shortcut_that_the_histogram_baseline_finds():
    reals, fakes = digits(1000, 0, False), digits(600, 1, True)
    assert histogram_auc(reals, fakes) > 0.99
    assert abs(histogram_auc(reals, digits(600, 2, False)) - 0.5) < 0.1  # the control: no noise, no shortcut
    matched = fit_statistics_match(fakes, reals[:500])(fakes)
    assert abs(histogram_auc(reals, matched) - 0.5) < 0.1
    assert torch.equal(matched, digits(600, 1, False))  # exactly the fakes without their background noise
    background = fakes <= 6  # the content: the background turns black, and no stroke pixel does
    assert (matched[background] == 0).all() and (matched[fakes > 40] > 0).all()


def test_matching_is_the_identity_on_the_reals_and_never_touches_them():
    reals = digits(300, 0, True)
    before = reals.clone()
    match = fit_statistics_match(reals, reals)
    assert torch.equal(match(reals), reals) and torch.equal(reals, before)
    assert match.record()["changed_values"] == 0
    fakes = digits(200, 1, True) // 2 + 40
    once = fit_statistics_match(fakes, reals)(fakes)
    assert torch.equal(fit_statistics_match(once, reals)(once), once)  # matching matched fakes changes nothing
    assert torch.equal(reals, before)


def test_quantile_lookup_by_hand():
    # source: 4 pixels of 10, 4 of 20 (middles of their mass at 1/4 and 3/4); reference: 6 zeros, 2 of 255
    # (cumulative 3/4 at 0, 1 at 255): 10 -> 0 and 20 -> 0 (3/4 reaches 3/4), nothing else moves past 255
    source, reference = np.zeros(256), np.zeros(256)
    source[[10, 20]] = 4
    reference[0], reference[255] = 6, 2
    lookup = quantile_lookup(source, reference)
    assert lookup[10] == 0 and lookup[20] == 0 and lookup.dtype == np.uint8
    source[30] = 8  # now 10, 20 and 30 sit at 1/8, 3/8 and 3/4 of the mass
    assert quantile_lookup(source, reference)[[10, 20, 30]].tolist() == [0, 0, 0]
    source[[40, 255]] = 1, 100  # 40: the reals never take it, it goes to 0; 255: the reals take it as often, kept
    only_own = background_lookup(source, reference)
    assert only_own[[10, 20, 30]].tolist() == [0, 0, 0] and only_own[255] == 255 and only_own[40] == 0


def test_half_of_the_training_fakes_are_matched_the_rest_untouched():
    reals, fakes = digits(300, 0, False), digits(100, 1, True)
    match = fit_statistics_match(fakes, reals)
    mixed = matched_half(fakes, match, seed=0)
    unchanged = (mixed == fakes).flatten(1).all(1)
    assert unchanged.sum() == 50
    assert torch.equal(mixed[~unchanged], match(fakes)[~unchanged])


def test_channels_must_agree():
    with pytest.raises(DeepbenchError, match="fakes have 3 channels and reals 1"):
        fit_statistics_match(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(DeepbenchError, match="uint8"):
        fit_statistics_match(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4, dtype=torch.uint8))


def test_detect_reports_both_protocols_and_records_the_transform(tmp_path):
    run = make_tiny_run(tmp_path / "run", tmp_path / "cache", "--dataset", "embedded:0", "--num-samples", "100")
    result = invoke("detect", "--run", str(run), *QUICK)
    assert result.exit_code == 0, result.output
    evaluation = json.loads((run / "detectors" / "cnn@dcgan" / "eval.json").read_text())
    cells = {(r["protocol"], r["perturbation"]) for r in evaluation["results"]}
    assert cells == {("matched", "none"), ("matched", "jpeg75"), ("raw", "none")}
    record = evaluation["statistics_match"]
    assert record["mode"] == "auto" and record["dcgan"]["changed_values"] > 0
    assert len(record["dcgan"]["lookup"]) == 1 and len(record["dcgan"]["lookup"][0]) == 256
    baseline = json.loads((run / "detectors" / "baseline-histogram@dcgan" / "eval.json").read_text())
    assert {r["protocol"] for r in baseline["results"]} == {"matched", "raw"}
    off = invoke("detect", "--run", str(run), "--force", "--match-statistics", "off", *QUICK)
    assert off.exit_code == 0, off.output
    evaluation = json.loads((run / "detectors" / "cnn@dcgan" / "eval.json").read_text())
    assert {r["protocol"] for r in evaluation["results"]} == {"raw"}
