"""``deepbench detect`` end to end: cross-generator matrix, extra fakes, checkpoints, format matching."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

import detectors.detector as detector_module
from benchmark import data
from benchmark.fakes import read_manifest
from benchmark.rundir import RunDir
from detectors.protocols import assemble_sets
from detectors.sets import FAKE_SPLITS, fake_split, fake_split_indices, held_out_set, training_sets
from tests.benchmark.fixtures import write_image, write_mnist
from tests.tiny_run import TINY_GAN, invoke, make_tiny_run

QUICK = ["--epochs", "1", "--batch-size", "32", "--perturbation", "none", "--perturbation", "jpeg75"]


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory):
    """One run with two generators' fakes, made once for the tests that only read it."""
    root = tmp_path_factory.mktemp("generated")
    return make_tiny_run(root / "run", root / "cache", "--dataset", "embedded:0", "--generator", "dcgan",
                         "--generator", "capsgan", "--num-samples", "100")


@pytest.fixture
def mnist_run(generated_run, tmp_path):
    """A private copy, so that each test's detectors start from a run without any."""
    copy = tmp_path / "run"
    shutil.copytree(generated_run, copy)
    return copy


def test_detect_builds_the_cross_generator_matrix(mnist_run, tmp_path):
    other = tmp_path / "other-fakes"
    for i in range(30):  # another generator's fakes at another size
        write_image(other / f"{i}.png", np.full((40, 40), 7 * i, np.uint8))
    result = invoke("detect", "--run", str(mnist_run), "--detector", "cnn", "--eval-fakes", f"other={other}", *QUICK)
    assert result.exit_code == 0, result.output
    assert "cnn@dcgan: capsgan AUC" in result.output and "cnn@capsgan: capsgan AUC" in result.output
    for generator in ("dcgan", "capsgan"):
        folder = mnist_run / "detectors" / f"cnn@{generator}"
        evaluation = json.loads((folder / "eval.json").read_text())
        assert evaluation["schema"] == "deepbench.eval/1" and evaluation["train_generator"] == generator
        cells = {(r["eval_set"], r["perturbation"]) for r in evaluation["results"]}
        assert cells == {(s, p) for s in ("dcgan", "capsgan", "other") for p in ("none", "jpeg75")}
        row = evaluation["results"][0]
        assert row["n_real"] == row["n_fake"] == 20  # the held-out 20% of 100 fakes, with as many held-out reals
        other = [r for r in evaluation["results"] if r["eval_set"] == "other"]
        assert {r["n_fake"] for r in other} == {15}  # the folder's half that its statistics match was not fitted on
        assert evaluation["statistics_match"]["other"]["fitted_on"]["fake_pixels"] == 15 * 28 * 28
        assert {"accuracy", "accuracy_at_0.5", "balanced_accuracy", "auc", "average_precision", "eer"} <= set(row)
        assert evaluation["format_match"]["applied"] is False and "resized" in evaluation["format_match"][
            "eval_fakes:other"]
        assert (folder / "checkpoint.pt").exists() and len(pd.read_csv(folder / "history.csv")) == 1
    summary = pd.read_csv(mnist_run / "detectors" / "eval.csv")
    learned = summary[summary["detector"] == "cnn"]
    assert len(learned) == 2 * 3 * (2 + 1)  # 2 generators, 3 eval sets: 2 perturbations matched, clean raw
    baselines = summary[summary["detector"].str.startswith("baseline:")]
    assert set(baselines["detector"]) == {"baseline:histogram", "baseline:spectrum", "baseline:compression"}
    assert len(baselines) == 3 * 2 * 3 * 2 and set(baselines["perturbation"]) == {"none"}  # clean, both protocols
    for column in ("auc_ci", "accuracy_ci", "tpr_at_fpr_0.01", "ece"):
        assert column in summary.columns


def test_detect_evaluates_a_checkpoint_without_training_and_overwrites_nothing(mnist_run):
    assert invoke("detect", "--run", str(mnist_run), "--train-on", "dcgan", *QUICK, "--perturbation",
                  "blur1").exit_code == 0
    folder = mnist_run / "detectors" / "cnn@dcgan"
    checkpoint, evaluation = folder / "checkpoint.pt", (folder / "eval.json").read_bytes()
    before = checkpoint.stat().st_mtime_ns
    refused = invoke("detect", "--run", str(mnist_run), "--checkpoint", str(checkpoint), *QUICK)
    assert refused.exit_code == 2 and "eval.json exists; pass --force to replace it" in refused.output
    assert (folder / "eval.json").read_bytes() == evaluation  # its blur1 rows are still there
    result = invoke("detect", "--run", str(mnist_run), "--checkpoint", str(checkpoint), "--force", *QUICK)
    assert result.exit_code == 0 and checkpoint.stat().st_mtime_ns == before
    assert not (mnist_run / "detectors" / "cnn@capsgan").exists()


def held_out_fake_files(run, generator, evaluation):
    """The fake files an evaluation held out, by the split seed it records."""
    manifest = read_manifest(run / "generators" / generator / "fakes")
    test = fake_split_indices(len(manifest), "test", evaluation["split_seed"]).numpy()
    return set(manifest["file"].iloc[test[:evaluation["results"][0]["n_fake"]]])


def test_a_checkpoint_is_evaluated_on_its_own_held_out_split_never_on_its_training_fakes(mnist_run, tmp_path):
    assert invoke("detect", "--run", str(mnist_run), "--train-on", "dcgan", "--seed", "1", *QUICK).exit_code == 0
    trained = mnist_run / "detectors" / "cnn@dcgan"
    manifest = read_manifest(mnist_run / "generators" / "dcgan" / "fakes")
    training_files = set(manifest["file"].iloc[fake_split_indices(len(manifest), "train", 1).numpy()])
    other = tmp_path / "other"
    shutil.copytree(mnist_run, other)
    shutil.rmtree(other / "detectors")
    result = invoke("detect", "--run", str(other), "--checkpoint", str(trained / "checkpoint.pt"), *QUICK)
    assert result.exit_code == 0, result.output
    evaluation = json.loads((other / "detectors" / "cnn@dcgan" / "eval.json").read_text())
    assert evaluation["split_seed"] == 1
    assert evaluation["held_out_sha256"] == json.loads((trained / "eval.json").read_text())["held_out_sha256"]
    assert not held_out_fake_files(other, "dcgan", evaluation) & training_files
    refused = invoke("detect", "--run", str(other), "--checkpoint", str(trained / "checkpoint.pt"), "--seed", "0",
                     "--force", *QUICK)
    assert refused.exit_code == 2 and "trained with seed 1" in refused.output and "--seed 1" in refused.output


def test_unknown_training_generator_is_named(mnist_run):
    result = invoke("detect", "--run", str(mnist_run), "--train-on", "stylegan")
    assert result.exit_code == 2 and "--train-on stylegan: no such generator" in result.output


def jpeg_folder(root, count=40, quality=75):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in ("a", "b"):
            for i in range(count):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                write_image(root / split / label / f"{i}.jpg", pixels, quality=quality)
    return root


@pytest.mark.parametrize("mode, applied", [("auto", True), ("off", False)])
def test_jpeg_reals_trigger_format_matching(tmp_path, mode, applied):
    reals = jpeg_folder(tmp_path / "reals")
    out = tmp_path / "run"
    assert invoke("generate", "--dataset", f"folder:{reals}", "--out", str(out), "--num-samples", "40",
                  *TINY_GAN, "--max-steps", "10").exit_code == 0
    result = invoke("detect", "--run", str(out), "--format-match", mode, *QUICK)
    assert result.exit_code == 0, result.output
    matching = json.loads((out / "detectors" / "cnn@dcgan" / "eval.json").read_text())["format_match"]
    assert matching["applied"] is applied and matching["mode"] == mode
    assert matching["reals"] == "JPEG quality 75, 4:2:0"  # recorded whether or not it was matched


def test_fake_splits_are_disjoint_deterministic_and_balanced():
    fakes = torch.arange(100)[:, None, None, None].to(torch.uint8).expand(100, 1, 2, 2)
    parts = {name: fake_split(fakes, name, seed=3)[:, 0, 0, 0].tolist() for name in FAKE_SPLITS}
    assert [len(parts[n]) for n in ("train", "val", "test")] == [70, 10, 20]
    assert sorted(sum(parts.values(), [])) == list(range(100))
    assert parts["test"] == fake_split(fakes, "test", seed=3)[:, 0, 0, 0].tolist()
    reals = torch.full((300, 1, 2, 2), 200, dtype=torch.uint8)
    train, val = training_sets(reals, fakes, seed=3)
    assert (train.labels.sum().item(), len(train), val.labels.sum().item(), len(val)) == (70, 140, 10, 20)
    held_out = held_out_set(reals[:15], fake_split(fakes, "test", seed=3))
    assert (len(held_out), held_out.labels.sum().item()) == (30, 15)


def test_detect_reads_the_reals_from_where_generate_found_them(tmp_path, monkeypatch):
    write_mnist(tmp_path / "data", count=40)
    out = tmp_path / "run"
    assert invoke("generate", "--dataset", "mnist", "--data-root", str(tmp_path / "data"), "--out", str(out),
                  "--num-samples", "20", *TINY_GAN, "--max-steps", "10").exit_code == 0
    monkeypatch.chdir(tmp_path)  # no --data-root, and $DEEPBENCH_DATA points elsewhere
    result = invoke("detect", "--run", str(out), *QUICK)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "detectors" / "cnn@dcgan" / "eval.json").read_text())["results"][0]["n_real"] == 4


def detect_dcgan(run, *flags):
    return invoke("detect", "--run", str(run), "--train-on", "dcgan", *QUICK, *flags)


def test_a_second_detect_refuses_to_overwrite_and_resume_keeps_the_detector(mnist_run):
    assert detect_dcgan(mnist_run).exit_code == 0
    folder = mnist_run / "detectors" / "cnn@dcgan"
    checkpoint = (folder / "checkpoint.pt").read_bytes()
    results = json.loads((folder / "eval.json").read_text())["results"]
    refused = detect_dcgan(mnist_run)
    assert refused.exit_code == 2 and "cnn@dcgan exists; pass --resume" in refused.output
    assert "--force to retrain them" in refused.output and (folder / "checkpoint.pt").read_bytes() == checkpoint
    (folder / "eval.json").unlink()
    resumed = detect_dcgan(mnist_run, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert (folder / "checkpoint.pt").read_bytes() == checkpoint  # evaluated again, not retrained
    assert json.loads((folder / "eval.json").read_text())["results"] == results


def test_resume_refuses_other_options_and_force_retrains_with_them(mnist_run):
    assert detect_dcgan(mnist_run).exit_code == 0
    refused = detect_dcgan(mnist_run, "--resume", "--lr", "0.01")
    assert refused.exit_code == 2 and "was trained with other lr; use the same options, or --force" in refused.output
    forced = detect_dcgan(mnist_run, "--force", "--lr", "0.01")
    assert forced.exit_code == 0, forced.output
    checkpoint = mnist_run / "detectors" / "cnn@dcgan" / "checkpoint.pt"
    assert torch.load(checkpoint, weights_only=True)["config"]["lr"] == 0.01


def test_an_interrupted_detect_resumes_to_the_same_detector(generated_run, mnist_run, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    shutil.copytree(generated_run, straight)
    assert detect_dcgan(straight, "--epochs", "2").exit_code == 0
    validations = []

    def validate(*args, **kwargs):  # once per epoch; killed in the second
        validations.append(1)
        if len(validations) == 2:
            raise KeyboardInterrupt
        return roc_auc_score(*args, **kwargs)

    monkeypatch.setattr(detector_module, "roc_auc_score", validate)
    assert "Aborted" in detect_dcgan(mnist_run, "--epochs", "2").output
    folder = mnist_run / "detectors" / "cnn@dcgan"
    assert (folder / "training.pt").exists() and not (folder / "checkpoint.pt").exists()
    assert "pass --resume" in detect_dcgan(mnist_run, "--epochs", "2").output
    assert detect_dcgan(mnist_run, "--epochs", "2", "--resume").exit_code == 0
    assert len(validations) == 4 and not (folder / "training.pt").exists()  # epoch 2 again, then calibration
    expected = straight / "detectors" / "cnn@dcgan"
    assert (folder / "history.csv").read_text() == (expected / "history.csv").read_text()
    assert json.loads((folder / "eval.json").read_text())["results"] == json.loads(
        (expected / "eval.json").read_text())["results"]


@pytest.mark.parametrize("flags, message", [
    (["--resume", "--force"], "--resume keeps existing detectors and --force retrains them; pass one of them"),
    (["--checkpoint", "x.pt", "--resume"], "--checkpoint only evaluates the given detector and trains none"),
])
def test_contradictory_flags_are_refused(mnist_run, flags, message):
    result = invoke("detect", "--run", str(mnist_run), *flags)
    assert result.exit_code == 2 and message in result.output


def test_seeds_train_one_detector_each_on_one_split_and_the_curve_ends_at_the_first(mnist_run):
    """--seeds 0,1 trains cnn@dcgan (seed 0, the split's) and cnn-seed1@dcgan on the same held-out set; the
    learning curve is the first seed's; the report collapses the seeds into one row with their interval."""
    result = invoke("detect", "--run", mnist_run, "--detector", "cnn", "--train-on", "dcgan", "--no-baselines",
                    "--seeds", "0,1", "--learning-curve", "0.5", *QUICK)
    assert result.exit_code == 0, result.output
    assert "cnn@dcgan:" in result.output and "cnn-seed1@dcgan:" in result.output
    records = [json.loads((mnist_run / "detectors" / name / "eval.json").read_text())
               for name in ("cnn@dcgan", "cnn-seed1@dcgan")]
    assert [r["training_seed"] for r in records] == [0, 1] and records[0]["split_seed"] == records[1]["split_seed"]
    assert records[0]["held_out_sha256"] == records[1]["held_out_sha256"]
    assert records[0]["training"]["ended"] == "ceiling" and records[0]["training"]["epochs"] == 1  # --epochs 1
    curve = records[0]["learning_curve"]
    assert [p["fraction"] for p in curve] == [0.5, 1.0] and curve[0]["train_fakes"] == 35 == curve[1]["train_fakes"] / 2
    assert curve[1]["auc"] == next(r["auc"] for r in records[0]["results"] if r["eval_set"] == "dcgan")
    assert "learning_curve" not in records[1]
    weights = [torch.load(mnist_run / "detectors" / name / "checkpoint.pt", weights_only=True)["network"]
               for name in ("cnn@dcgan", "cnn-seed1@dcgan")]
    assert not torch.equal(weights[0]["body.0.weight"], weights[1]["body.0.weight"])
    bad = invoke("detect", "--run", mnist_run, "--seeds", "0,x", "--force", *QUICK)
    assert bad.exit_code == 2 and "--seeds takes integers separated by commas" in bad.output
    report = invoke("report", "--run", mnist_run, "--no-inception", "--num-samples", "20")
    assert report.exit_code == 0, report.output
    page = (mnist_run / "report" / "leaderboard.md").read_text()
    assert "AUC over seeds [95% CI]" in page and "(n=2)" in page and "Learning curves" in page
    assert "Not converged: cnn trained on dcgan stopped at its ceiling of 1 epochs" in page
    assert (mnist_run / "report" / "figures" / "learning-curves.png").is_file()


def detection_sets(run_dir):
    """The sets deepbench detect builds for a run, at its defaults (split seed 0, statistics matching on)."""
    run = RunDir(run_dir)
    first = data.load(f"folder:{run.fakes(run.generators()[0])}", "train")
    shape = {"channels": first.channels, "image_size": first.image_size}
    reals = run.data_config().shaped(**shape)
    train, test = (reals.load(split).tensors()[0] for split in ("train", "test"))
    return assemble_sets(run, run.generators(), {}, train, test, shape, None, "auto", 0)


def test_a_union_of_generators_trains_one_detector_on_all_their_fakes(mnist_run):
    """dcgan+capsgan: one detector on both generators' training fakes, as many of each, evaluated on every
    held-out set; a member that is not in the run is refused by name."""
    refused = invoke("detect", "--run", str(mnist_run), "--train-on", "dcgan+sngan", *QUICK)
    assert refused.exit_code == 2 and "--train-on sngan: no such generator" in refused.output
    result = invoke("detect", "--run", str(mnist_run), "--train-on", "dcgan+capsgan", *QUICK)
    assert result.exit_code == 0, result.output
    evaluation = json.loads((mnist_run / "detectors" / "cnn@capsgan+dcgan" / "eval.json").read_text())
    assert evaluation["train_generator"] == "capsgan+dcgan"  # one name per union, whatever the order given
    assert {row["eval_set"] for row in evaluation["results"]} == {"dcgan", "capsgan"}
    sets = detection_sets(mnist_run)
    union, alone = sets.training("dcgan+capsgan")[0], sets.training("dcgan")[0]
    assert int(union.labels.sum()) == 2 * int(alone.labels.sum())  # as many fakes of each generator
    held_out = {bytes(image.numpy()) for image in sets.eval_sets["matched"]["dcgan"].images}
    assert not held_out & {bytes(image.numpy()) for image in union.images}  # nothing held out is trained on
