"""``deepbench evaluate`` on folders of fakes no deepbench generator made: imported with their provenance,
scored, detected across sets, judged by another run's detectors without touching that run, and refused
(one line, nothing written) on bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.transforms.functional import gaussian_blur, to_pil_image

from benchmark import data
from benchmark.rundir import RunDir
from tests.benchmark.fixtures import write_image_folder
from tests.reliability.helpers import snapshot
from tests.tiny_run import invoke, make_tiny_run

QUICK = ["--epochs", "1", "--perturbation", "none", "--no-inception", "--num-samples", "40"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two foreign fake sets of the embedded digits: blurred test digits (28 px PNG) and noise (32 px RGB JPEG,
    in a class folder), so one needs no conversion and the other a resize and a gray conversion."""
    root = tmp_path_factory.mktemp("foreign")
    digits, _ = data.load("embedded", "test").tensors()
    (root / "blurred").mkdir()
    for index in range(120):
        to_pil_image(gaussian_blur(digits[index], 3, 1.0)).save(root / "blurred" / f"{index:04d}.png")
    (root / "noise" / "any").mkdir(parents=True)
    noise = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for index, image in enumerate(noise):
        to_pil_image(image).save(root / "noise" / "any" / f"{index:04d}.jpg", quality=80)
    return root


@pytest.fixture(scope="module")
def evaluated(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluated") / "run"
    result = invoke("evaluate", "--reals", "embedded", "--fakes", f"blurred={folders / 'blurred'}", "--fakes",
                    f"noise={folders / 'noise'}", "--out", out, "--detector", "cnn", *QUICK)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_imported_sets_are_generators_with_their_provenance(evaluated, folders):
    out, _ = evaluated
    run = RunDir(out)
    assert run.generators() == ["blurred", "noise"]
    stage = run.read_record()["stages"][0]
    assert stage["command"] == "import" and stage["config"]["dataset"] == "embedded"
    noise = stage["config"]["sources"]["noise"]
    assert noise["files"] == 100 and noise["sizes"] == {"32x32": 100} and noise["formats"] == {"JPEG": 100}
    assert noise["resized"].startswith("32x32 to 28x28, bilinear")
    assert stage["config"]["sources"]["blurred"]["resized"] is None
    manifest = pd.read_csv(run.fakes("noise") / "manifest.csv")
    assert len(manifest) == 100 and (manifest["checkpoint"] == "imported").all()
    assert (manifest["checkpoint_sha256"] == noise["sha256"]).all() and manifest["source"].iloc[0] == "any/0000.jpg"
    written, _ = data.load(f"folder:{run.fakes('blurred')}", "train").tensors()
    source, _ = data.load(f"folder:{folders / 'blurred'}", "train").tensors()
    assert torch.equal(written, source)  # same size and channels: the pixels are kept exactly


def test_detectors_cross_the_imported_sets_and_the_report_scores_them(evaluated):
    out, output = evaluated
    results = json.loads((out / "report" / "results.json").read_text())
    clean = pd.DataFrame(results["detectors"]).query("perturbation == 'none' and detector == 'cnn'")
    pairs = set(zip(clean["train_generator"], clean["eval_set"], strict=True))
    assert pairs == {(a, b) for a in ("blurred", "noise") for b in ("blurred", "noise")}
    noise = clean.query("train_generator == 'noise' and eval_set == 'noise'").set_index("protocol")["auc"]
    # noise against digits, after one short epoch; matched, the noise has the digits' histogram (black with
    # scattered bright pixels), harder for so little training but still far from chance
    assert noise["raw"] > 0.95 and noise["matched"] > 0.65
    generators = {row["generator"]: row for row in results["generators"]}
    assert generators["noise"]["sampled_step"] is None and generators["noise"]["sampled_checkpoint"] == "imported"
    assert generators["blurred"]["domain_samples_fake"] == 40
    assert "report/index.html" in output


def test_with_detectors_evaluates_another_runs_detectors_and_leaves_that_run_as_it_was(evaluated, folders, tmp_path):
    source, _ = evaluated
    before = snapshot(source)
    out = tmp_path / "judged"
    result = invoke("evaluate", "--reals", "embedded", "--fakes", f"again={folders / 'blurred'}", "--out", out,
                    "--with-detectors", source, "--match-statistics", "off", *QUICK)
    assert result.exit_code == 0, result.output
    assert snapshot(source) == before
    rows = pd.DataFrame(json.loads((out / "report" / "results.json").read_text())["detectors"])
    assert set(rows["train_generator"]) == {"blurred", "noise"} and set(rows["eval_set"]) == {"again"}
    assert set(rows["protocol"]) == {"raw"}  # --match-statistics off: the fakes as written only
    # the same images under another name: split by the detector's own seed, its held-out fakes are the same
    # files, so it scores exactly as it did on them in its own run
    again = rows.query("detector == 'cnn' and train_generator == 'blurred' and perturbation == 'none'")
    own = pd.DataFrame(json.loads((source / "report" / "results.json").read_text())["detectors"]).query(
        "detector == 'cnn' and train_generator == 'blurred' and eval_set == 'blurred' and perturbation == 'none'")
    assert set(own["protocol"]) == {"matched", "raw"}
    assert again.set_index("protocol")["auc"].to_dict() == own.query("protocol == 'raw'").set_index("protocol")[
        "auc"].to_dict()


def test_one_class_reals_leave_out_the_domain_scores_and_say_why(tmp_path, folders):
    reals = write_image_folder(tmp_path / "faces", classes=("face",), per_class=30, size=28)
    result = invoke("evaluate", "--reals", f"folder:{reals}", "--fakes", f"blurred={folders / 'blurred'}", "--out",
                    tmp_path / "run", "--channels", "1", "--no-inception", "--num-samples", "20")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics" / "blurred.json").read_text())
    assert "domain_fid" not in metrics and "one class" in metrics["domain_missing"]
    assert "> blurred: folder:" in result.output and "domain scores are left out" in result.output


@pytest.mark.parametrize("fakes, message", [
    ("x={missing}", "no such folder"),
    ("../x={blurred}", "cannot be a file name"),
    ("x={empty}", "no images found"),
    ("x", "--fakes takes NAME=VALUE"),
    ("a+b={blurred}", "holds '+', which names a union of generators"),
])
def test_bad_input_is_one_line_and_writes_nothing(fakes, message, folders, tmp_path):
    (tmp_path / "empty").mkdir()
    spec = fakes.format(missing=tmp_path / "missing", blurred=folders / "blurred", empty=tmp_path / "empty")
    result = invoke("evaluate", "--reals", "embedded", "--fakes", spec, "--out", tmp_path / "run", *QUICK)
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "run").exists()


def test_an_existing_name_is_refused_without_force(evaluated, folders, tmp_path):
    source, _ = evaluated
    out = tmp_path / "run"
    args = ["evaluate", "--reals", "embedded", "--fakes", f"blurred={folders / 'blurred'}", "--out", out,
            "--no-inception", "--num-samples", "20"]
    assert invoke(*args).exit_code == 0
    before = snapshot(out)
    refused = invoke(*args)
    assert refused.exit_code == 2 and "pass --force" in refused.output and snapshot(out) == before
    assert invoke(*args, "--force", "--detector", "cnn", "--epochs", "1", "--perturbation", "none",
                  "--no-baselines").exit_code == 0
    assert [files.name for files in RunDir(out).detectors()] == ["cnn@blurred"]  # and no baseline
    assert np.array_equal(pd.read_csv(RunDir(out).fakes("blurred") / "manifest.csv")["file"],
                          pd.read_csv(RunDir(source).fakes("blurred") / "manifest.csv")["file"])


def test_import_fakes_puts_a_folder_beside_a_gan_runs_generators_in_both_directions(folders, tmp_path):
    detect = ["--epochs", "1", "--perturbation", "none", "--no-baselines"]
    run = make_tiny_run(tmp_path / "run", tmp_path / "cache", "--dataset", "embedded", "--num-samples", "100",
                        detect_args=detect)
    trained = (run / "detectors" / "cnn@dcgan" / "checkpoint.pt").read_bytes()
    result = invoke("import-fakes", "--run", run, "--name", "blurred", folders / "blurred")
    assert result.exit_code == 0, result.output
    assert "120 images imported as blurred" in result.output and RunDir(run).generators() == ["blurred", "dcgan"]
    stage = RunDir(run).read_record()["stages"][-1]
    assert stage["command"] == "import" and stage["config"]["sources"]["blurred"]["files"] == 120
    assert RunDir(run).data_config().dataset == "embedded"  # the run's reals stay the reals
    result = invoke("detect", "--run", run, "--resume", *detect)
    assert result.exit_code == 0, result.output
    old = json.loads((run / "detectors" / "cnn@dcgan" / "eval.json").read_text())
    new = json.loads((run / "detectors" / "cnn@blurred" / "eval.json").read_text())
    assert {row["eval_set"] for row in old["results"]} == {row["eval_set"] for row in new["results"]} == {
        "blurred", "dcgan"}
    assert (run / "detectors" / "cnn@dcgan" / "checkpoint.pt").read_bytes() == trained  # evaluated, not retrained
    again = invoke("import-fakes", "--run", run, "--name", "blurred", folders / "blurred")
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    nowhere = invoke("import-fakes", "--run", tmp_path / "empty", "--name", "x", folders / "blurred")
    assert nowhere.exit_code == 2 and "is not a run" in nowhere.output and not (tmp_path / "empty").exists()


def test_json_is_one_object_on_stdout_with_sample_counts(folders, tmp_path):
    result = invoke("evaluate", "--reals", "embedded", "--fakes", f"blurred={folders / 'blurred'}", "--out",
                    tmp_path / "run", "--json", *QUICK)
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    (generator,) = parsed["generators"]
    assert generator["generator"] == "blurred" and generator["domain_samples_fake"] == 40
    assert parsed["report"].endswith("index.html") and parsed["dataset"] == "embedded"
