"""``deepbench generate`` and ``deepbench run`` end to end on the embedded data, with tiny models."""

import json

import pandas as pd

import generators.generate as generate_module
from benchmark import data
from benchmark.files import load_checkpoint
from benchmark.rundir import RunDir
from reports.metrics import domain
from tests.tiny_run import invoke

TINY = ["--nz", "8", "--ngf", "8", "--ndf", "8", "--batch-size", "32"]


class UntouchableSplit:
    """A test split that may be counted but never read: checkpoint selection must not look at it."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getattr__(self, name):
        raise AssertionError(f"generate read the test split ({name}) before the report")


def test_generate_trains_scores_and_samples_two_generators(tmp_path, monkeypatch):
    load, scorer_reals = data.load, []

    def load_keeping_the_test_split_out(spec, split="train", *args, **kwargs):
        dataset = load(spec, split, *args, **kwargs)
        return UntouchableSplit(dataset) if split == "test" else dataset

    monkeypatch.setattr(generate_module.data, "load", load_keeping_the_test_split_out)
    scorer = domain.DomainScorer
    monkeypatch.setattr(domain, "DomainScorer", lambda classifier, reals: scorer_reals.append(reals) or scorer(
        classifier, reals))
    out = tmp_path / "run"
    result = invoke("generate", "--dataset", "embedded:0,1", "--generator", "dcgan", "--generator", "cdcgan",
                    "--max-steps", "30", "--score-every", "10", "--sample-every", "10", "--num-samples", "24",
                    "--out", str(out), *TINY)
    assert result.exit_code == 0, result.output
    run = RunDir(out)
    assert run.generators() == ["cdcgan", "dcgan"]
    for name in ("dcgan", "cdcgan"):
        manifest = pd.read_csv(run.fakes(name) / "manifest.csv")
        assert len(manifest) == 24 and len(list(run.fakes(name).glob("*.png"))) == 24
        best = load_checkpoint(run.checkpoints(name) / "best.pt")
        assert best["best_step"] in (10, 20, 30) and set(manifest["step"]) == {best["step"]}
        assert (run.samples(name) / "step_000030.png").exists()
        assert pd.read_csv(run.generator(name) / "losses.csv")["quality"].notna().sum() == 3
        assert f"{name}: trained 30 steps" in result.output and "from best.pt" in result.output
    assert pd.read_csv(run.fakes("cdcgan") / "manifest.csv")["class"].tolist()[:3] == [0, 1, 0]
    assert run.read_record()["stages"][-1]["finished"]
    train_images, _ = load("embedded:0,1", "train").tensors()
    train_rows = {bytes(image.numpy()) for image in train_images}
    assert len(scorer_reals) == 1 and all(bytes(image.numpy()) in train_rows for image in scorer_reals[0])


def test_generate_resumes_and_samples_from_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = ["generate", "--dataset", "embedded:3", "--out", str(out), "--num-samples", "5", *TINY]
    assert invoke(*args, "--max-steps", "10").exit_code == 0
    again = invoke(*args, "--max-steps", "10")
    assert again.exit_code == 2 and "pass --resume" in again.output
    resumed = invoke(*args, "--max-steps", "20", "--resume")
    assert resumed.exit_code == 0 and "trained 20 steps" in resumed.output and "from last.pt" in resumed.output
    checkpoint = out / "generators" / "dcgan" / "checkpoints" / "last.pt"
    only_sample = invoke("generate", "--dataset", "embedded:3", "--out", str(tmp_path / "other"),
                         "--checkpoint", str(checkpoint), "--num-samples", "7")
    assert only_sample.exit_code == 0 and "7 fakes from last.pt (step 20)" in only_sample.output
    assert not (tmp_path / "other" / "generators" / "dcgan" / "checkpoints").exists()


def test_generate_rejects_a_checkpoint_that_is_not_a_generator(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"junk")
    result = invoke("generate", "--out", str(tmp_path / "r"), "--checkpoint", str(tmp_path / "x.pt"))
    assert result.exit_code == 2 and "x.pt is corrupt or not a deepbench checkpoint" in result.output


def test_force_replaces_a_run_of_other_data_or_retrains_a_generator(tmp_path):
    out = tmp_path / "run"
    args = ["generate", "--out", str(out), "--num-samples", "5", "--max-steps", "5", *TINY]
    assert invoke(*args, "--dataset", "embedded:3").exit_code == 0
    (out / "detectors" / "cnn@dcgan").mkdir(parents=True)
    (out / "metrics").mkdir()
    (out / "metrics" / "dcgan.json").write_text("{}")
    mine = out / "notes.txt"
    mine.write_text("not deepbench's\n")
    retrained = invoke(*args, "--dataset", "embedded:3", "--force", "--max-steps", "3")
    assert retrained.exit_code == 0 and "trained 3 steps" in retrained.output  # from scratch, not resumed
    assert not (out / "detectors").exists() and not (out / "metrics" / "dcgan.json").exists()
    assert len(RunDir(out).read_record()["stages"]) == 2  # same data: the run's history stays
    replaced = invoke(*args, "--dataset", "embedded:4", "--force")
    assert replaced.exit_code == 0, replaced.output
    stages = RunDir(out).read_record()["stages"]
    assert [s["config"]["dataset"] for s in stages] == ["embedded:4"] and mine.read_text() == "not deepbench's\n"


def test_the_families_without_a_discriminator_take_every_familys_path_through_detect_and_report(tmp_path):
    """vae and ddpm in one call, with options only one of them uses (the other says it ignores them): manifests
    with provenance, the cross-generator detection matrix, the report's metrics, and GAM's refusal."""
    out = tmp_path / "run"
    generated = invoke("generate", "--dataset", "embedded:0,1", "--generator", "vae", "--generator", "ddpm",
                       "--nz", "8", "--ngf", "8", "--ndf", "8", "--sampling-steps", "4",
                       "--batch-size", "32", "--max-steps", "10", "--num-samples", "60", "--out", str(out))
    assert generated.exit_code == 0, generated.output
    run = RunDir(out)
    ddpm = pd.read_csv(run.fakes("ddpm") / "manifest.csv")
    assert len(ddpm) == 60 and set(ddpm["step"]) == {10} and ddpm["checkpoint_sha256"].nunique() == 1
    ddpm_config = load_checkpoint(run.last_checkpoint("ddpm"))["gan"]["config"]
    assert (ddpm_config["nz"], ddpm_config["sampling_steps"]) == (784, 4)  # --nz is vae's
    assert "sampling_steps" not in load_checkpoint(run.last_checkpoint("vae"))["gan"]["config"]
    detected = invoke("detect", "--run", str(out), "--detector", "cnn", "--epochs", "1", "--batch-size", "32",
                      "--perturbation", "none")
    assert detected.exit_code == 0, detected.output
    reported = invoke("report", "--run", str(out), "--no-inception", "--num-samples", "40")
    assert reported.exit_code == 0, reported.output
    results = json.loads((out / "report" / "results.json").read_text())
    matrix = pd.DataFrame(results["detectors"]).query("protocol == 'raw'")
    families = {"vae", "ddpm"}
    assert set(zip(matrix["train_generator"], matrix["eval_set"], strict=True)) == {
        (a, b) for a in families for b in families}
    assert matrix["auc"].between(0, 1).all() and (matrix["n_fake"] > 0).all()
    metrics = {row["generator"]: row for row in results["generators"]}
    assert set(metrics) == families and all(metrics[name]["domain_samples_fake"] == 40 for name in families)
    refused = invoke("report", "--gam", str(out / "generators" / "ddpm"), str(out / "generators" / "vae"))
    assert refused.exit_code == 2 and "ddpm, which trains without a discriminator" in refused.output


def test_ddpm_samples_a_checkpoint_at_the_ddim_steps_asked_at_sampling_time(tmp_path):
    """DDIM's step count is a sampling choice: the weights sampled again at the steps they trained with give the
    training run's fakes byte for byte, at other steps other fakes, and the run and the manifest (whose digest
    keys the cached metrics) record the steps."""
    out = tmp_path / "run"
    trained = invoke("generate", "--dataset", "embedded:0,1", "--generator", "ddpm", "--ngf", "8",
                     "--sampling-steps", "4", "--batch-size", "32", "--max-steps", "5", "--num-samples", "12",
                     "--out", str(out))
    assert trained.exit_code == 0, trained.output
    original = RunDir(out).fakes("ddpm")
    checkpoint = out / "generators" / "ddpm" / "checkpoints" / pd.read_csv(original / "manifest.csv")["checkpoint"][0]

    def sampled(steps: str):
        result = invoke("generate", "--dataset", "embedded:0,1", "--checkpoint", str(checkpoint), "--sampling-steps",
                        steps, "--num-samples", "12", "--out", str(tmp_path / steps))
        assert result.exit_code == 0, result.output
        return RunDir(tmp_path / steps)

    files = sorted(path.name for path in original.glob("*.png"))
    again, finer = sampled("4").fakes("ddpm"), sampled("9")
    assert len(files) == 12 and all((again / name).read_bytes() == (original / name).read_bytes() for name in files)
    assert all((finer.fakes("ddpm") / name).read_bytes() != (original / name).read_bytes() for name in files)
    assert finer.generate_config()["gan"]["sampling_steps"] == 9
    manifests = [pd.read_csv(folder / "manifest.csv") for folder in (original, again, finer.fakes("ddpm"))]
    assert [set(manifest["sampling_steps"]) for manifest in manifests] == [{4}, {4}, {9}]  # keys cached metrics
