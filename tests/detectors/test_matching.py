"""Statistics matching removes a histogram shortcut, creates none, leaves reals and content alone, reaches detect."""

import json

import pytest
import torch
from sklearn.metrics import roc_auc_score

from benchmark.errors import DeepbenchError
from detectors.baselines import StatisticsBaseline
from detectors.matching import fit_statistics_match, matched_half
from detectors.sets import fake_split, held_out_set, training_sets
from tests.detectors.test_detect_cli import QUICK
from tests.tiny_run import invoke, make_tiny_run


def digits(count: int, seed: int, background_noise: bool) -> torch.Tensor:
    """MNIST-like strokes: saturated (values 250-255, at random), with a soft edge of lower values,
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
    level = torch.randint(250, 256, strokes.shape, generator=rng).float()
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
    matched = fit_statistics_match(fake_split(fakes, "train", 0), reals[:500])(fakes)
    assert abs(histogram_auc(reals, matched) - 0.5) < 0.1
    background, strokes = fakes <= 6, fakes >= 250  # the content stays: black background, bright strokes
    assert (matched[background] == 0).float().mean() > 0.98 and (matched[strokes] >= 250).float().mean() > 0.98
    assert (matched.int() - digits(600, 1, False).int()).abs().float().mean() < 1  # within a value of the clean fakes


def test_matching_fakes_of_the_reals_own_distribution_leaves_no_shortcut():
    """The control a transform can fail by itself: matched, fakes that are a second sample of the reals must
    stay undetectable (a ranking that emptied the values next to the zeros would give them away)."""
    reals, others = digits(1000, 0, True), digits(600, 1, True)
    matched = fit_statistics_match(fake_split(others, "train", 0), reals[:500])(others)
    assert abs(histogram_auc(reals, matched) - 0.5) < 0.1
    assert (matched.int() - others.int()).abs().float().mean() < 0.2  # a tenth of a value level on average


def test_matching_is_the_identity_on_the_reals_and_never_touches_them():
    reals = digits(300, 0, True)
    before = reals.clone()
    assert torch.equal(fit_statistics_match(reals, reals)(reals), reals) and torch.equal(reals, before)
    fakes = digits(200, 1, True) // 2 + 40
    match = fit_statistics_match(fakes, reals)
    once = match(fakes)
    assert torch.equal(reals, before) and torch.equal(fakes, digits(200, 1, True) // 2 + 40)
    assert (fit_statistics_match(once, reals)(once) != once).float().mean() < 0.01  # matched fakes barely move
    assert torch.equal(match(fakes[50:60]), once[50:60])  # an image is matched alike in any batch


def test_exact_histogram_specification_by_hand():
    # one 4 x 4 fake, each row 10 10 10 50; the reals: 8 pixels of 0, 4 of 100, 4 of 200. The 10s hold the
    # first 3/4 of the fakes' mass; among them the third column, next to the 50s, has the highest 3 x 3 mean
    # (23.3 against 10), so it takes the reals' values from quantile 1/2 to 3/4 (100), the other two columns
    # the first half (0); the 50s take the last quarter (200)
    fake = torch.tensor([10, 10, 10, 50], dtype=torch.uint8).repeat(1, 1, 4, 1)
    real = torch.tensor([0] * 8 + [100] * 4 + [200] * 4, dtype=torch.uint8).reshape(1, 1, 4, 4)
    matched = fit_statistics_match(fake, real)(fake)
    assert matched[0, 0].tolist() == [[0, 0, 100, 200]] * 4


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
    assert record["mode"] == "auto" and record["dcgan"]["window"] == 3
    assert len(record["dcgan"]["real_counts"]) == 1 and len(record["dcgan"]["fake_counts"][0]) == 256
    baseline = json.loads((run / "detectors" / "baseline-histogram@dcgan" / "eval.json").read_text())
    assert {r["protocol"] for r in baseline["results"]} == {"matched", "raw"}
    off = invoke("detect", "--run", str(run), "--force", "--match-statistics", "off", *QUICK)
    assert off.exit_code == 0, off.output
    evaluation = json.loads((run / "detectors" / "cnn@dcgan" / "eval.json").read_text())
    assert {r["protocol"] for r in evaluation["results"]} == {"raw"}
