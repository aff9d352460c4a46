"""Suites: the built-in TOML files are valid, bad ones fail with the key or name at fault, and a micro suite runs
end to end, writes the run-directory contract file by file, and resumes after an interruption to the same table."""

import json
import shutil

import pytest

from benchmark import config, suite
from benchmark.errors import DeepbenchError
from benchmark.rundir import RunDir
from reports.presentation.leaderboard import markdown_tables
from tests.tiny_run import invoke

MICRO = """
name = "micro"

[defaults]
seed = 1
num_samples = 40
train = { max_steps = 6, batch_size = 16 }
gan = { nz = 8, ngf = 8, ndf = 8 }
detector = { epochs = 1, batch_size = 16 }
perturbations = ["none", "jpeg75"]
metrics = { num_samples = 20, inception = false }

[[experiment]]
name = "digits"
dataset = "embedded:0,1"
generators = ["dcgan"]
detectors = ["cnn"]
"""


@pytest.fixture
def micro(tmp_path):
    path = tmp_path / "micro.toml"
    path.write_text(MICRO)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """``deepbench run`` of the micro suite, once for the module (with its own cache): its folder and output."""
    root = tmp_path_factory.mktemp("finished")
    (root / "micro.toml").write_text(MICRO)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPBENCH_CACHE", str(root / "cache"))
        patch.setenv("DEEPBENCH_DATA", str(root / "cache" / "data"))
        result = invoke("run", "--suite", str(root / "micro.toml"), "--out", str(root / "out"))
    assert result.exit_code == 0, result.output
    return root / "out", result.output


@pytest.mark.parametrize("name", config.suite_names())
def test_built_in_suites_are_valid(name):
    loaded = config.load_suite(name)
    assert loaded.experiments and all(suite.stage_configs(e) for e in loaded.experiments)


def test_the_quick_suite_is_what_the_readme_promises():
    quick = config.load_suite("quick")
    (experiment,) = quick.experiments
    assert experiment.dataset == "embedded" and set(experiment.generators) == {"dcgan", "capsgan"}
    assert set(experiment.detectors) == {"cnn", "capsule"} and {"jpeg75", "blur1"} <= set(experiment.perturbations)


def test_an_unknown_key_names_itself_and_the_known_ones(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(MICRO.replace('detectors = ["cnn"]', 'detectors = ["cnn"]\nepoch = 3'))
    with pytest.raises(DeepbenchError, match="unknown key epoch; known keys: .*detectors"):
        config.load_suite(path)


def test_an_unknown_config_field_fails_before_any_work(micro, tmp_path):
    micro.write_text(MICRO.replace("epochs = 1,", "epoks = 1,"))
    result = invoke("run", "--suite", str(micro), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert "unknown detector option epoks; known: augment, batch_size, blur_prob, blur_scale, epochs," in result.output
    micro.write_text(MICRO.replace("epochs = 1,", "seed = 1, epochs = 1,"))  # the experiment's key, not a table's
    assert "unknown detector option seed" in invoke("run", "--suite", str(micro), "--out", str(tmp_path / "out")).output


def test_unknown_suite_lists_the_built_in_ones():
    with pytest.raises(DeepbenchError, match="unknown suite 'nope'; use one of .*quick"):
        config.load_suite("nope")


def test_dataset_override_keeps_the_class_subset(micro):
    assert config.override_dataset("cifar10:dog", {"cifar10": "folder:/data/c"}) == "folder:/data/c:dog"
    loaded = config.load_suite(micro, {"embedded": "mnist"})
    assert loaded.experiments[0].dataset == "mnist:0,1"
    with pytest.raises(DeepbenchError, match="no experiment of micro.toml uses that data set"):
        config.load_suite(micro, {"cifar10": "folder:x"})
    with pytest.raises(DeepbenchError, match="--dataset takes NAME=VALUE"):
        config.parse_overrides(("cifar10",))  # no value


def test_set_overrides_every_experiment_over_the_suite_and_its_defaults(micro):
    settings = config.parse_settings(("train.max_steps=2", "detectors=cnn,capsule", "metrics.inception=true",
                                      "train.lr_g=5e-4", "match_statistics=off"))
    (experiment,) = config.load_suite(micro, settings=settings).experiments
    assert experiment.train == {"max_steps": 2, "batch_size": 16, "lr_g": 5e-4}
    assert experiment.detectors == ("cnn", "capsule") and experiment.match_statistics == "off"
    assert experiment.metrics == {"num_samples": 20, "inception": True}
    assert suite.stage_configs(experiment).train.max_steps == 2
    with pytest.raises(DeepbenchError, match="--set: unknown key epochs; known keys: .*detectors"):
        config.load_suite(micro, settings=config.parse_settings(("epochs=1",)))
    with pytest.raises(DeepbenchError, match="'trian' is not a table of options; use TABLE.FIELD with TABLE one "
                                             "of train, gan, detector, metrics"):
        config.parse_settings(("trian.epochs=1",))


def test_a_set_field_no_config_has_fails_before_any_work(micro, tmp_path):
    result = invoke("run", "--suite", str(micro), "--out", str(tmp_path / "out"), "--set", "detector.epoks=1")
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert "unknown detector option epoks; known: augment, batch_size, blur_prob, blur_scale, epochs," in result.output
    micro.write_text(MICRO.replace("epochs = 1,", "seed = 1, epochs = 1,"))  # the experiment's key, not a table's
    assert "unknown detector option seed" in invoke("run", "--suite", str(micro), "--out", str(tmp_path / "out")).output


def test_micro_suite_writes_the_run_directory_contract(finished):
    out, output = finished
    assert "## digits: ran generate, detect, report" in output and "| cnn" in output
    run = out / "digits"
    expected = ["run.json", "suite.json", "generators/dcgan/checkpoints/last.pt", "generators/dcgan/losses.csv",
                "generators/dcgan/losses.png", "generators/dcgan/fakes/manifest.csv",
                "generators/dcgan/fakes/000039.png", "detectors/cnn@dcgan/checkpoint.pt",
                "detectors/cnn@dcgan/history.csv", "detectors/cnn@dcgan/eval.json", "detectors/cnn@dcgan/eval.csv",
                "detectors/eval.csv", "metrics/dcgan.json", "report/index.html", "report/leaderboard.csv",
                "report/leaderboard.md", "report/results.json", "report/figures/auc-heatmap.png"]
    missing = [name for name in expected if not (run / name).is_file()]
    assert not missing
    assert list((run / "generators" / "dcgan" / "samples").glob("*.png"))
    assert len(list((run / "generators" / "dcgan" / "fakes").glob("*.png"))) == 40
    for name in ("run.json", "suite.json", "metrics/dcgan.json", "report/results.json",
                 "detectors/cnn@dcgan/eval.json"):
        assert json.loads((run / name).read_text())["schema"].startswith("deepbench.")
    assert "## digits" in (out / "leaderboard.md").read_text()


def untimed(results: dict) -> dict:
    """The results without the wall-clock training time, which two runs of the same training never share."""
    return {**results, "generators": [{**metrics, "train_seconds": None} for metrics in results["generators"]]}


def test_an_interrupted_suite_resumes_to_the_same_table(finished, micro, tmp_path, monkeypatch):
    straight = config.load_suite(micro)
    reference = json.loads((finished[0] / "digits" / "report" / "results.json").read_text())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(suite, "detect", interrupted)
        suite.run_suite(straight, tmp_path / "split")
    assert "pass --resume" in invoke("run", "--suite", str(micro), "--out", str(tmp_path / "split")).output
    resumed = suite.run_suite(straight, tmp_path / "split", resume=True)
    (outcome,) = resumed.experiments
    assert outcome.skipped == ["generate"] and outcome.ran == ["detect", "report"]
    assert markdown_tables(untimed(outcome.report.results)) == markdown_tables(untimed(reference))
    again = suite.run_suite(straight, tmp_path / "split", resume=True)
    assert again.experiments[0].ran == [] and again.experiments[0].skipped == ["generate", "detect", "report"]


def test_resume_refuses_changed_options_and_force_starts_again(finished, micro, tmp_path):
    shutil.copytree(finished[0], tmp_path / "out")
    micro.write_text(MICRO.replace("max_steps = 6", "max_steps = 7"))
    result = invoke("run", "--suite", str(micro), "--out", str(tmp_path / "out"), "--resume")
    assert result.exit_code == 2 and "other generate options" in result.output and "--force" in result.output
    forced = invoke("run", "--suite", str(micro), "--out", str(tmp_path / "out"), "--force")
    assert forced.exit_code == 0 and "ran generate, detect, report" in forced.output, forced.output
    assert RunDir(tmp_path / "out" / "digits").read_record()["stages"][0]["config"]["train"]["max_steps"] == 7


def test_experiments_can_be_selected_by_name():
    seeds = config.load_suite("seeds")
    chosen = config.select_experiments(seeds, ("cifar-dog-lr3e-4", "mnist-0"))
    assert [e.name for e in chosen.experiments] == ["mnist-0", "cifar-dog-lr3e-4"]
    with pytest.raises(DeepbenchError, match="not in suite seeds; it has mnist-0"):
        config.select_experiments(seeds, ("nope",))


def test_a_suite_asks_for_the_generalisation_protocols_in_its_detector_table(micro):
    def configs(*settings):
        (experiment,) = config.load_suite(micro, settings=config.parse_settings(settings)).experiments
        return suite.stage_configs(experiment)

    chosen = configs("detector.leave_one_family_out=true", "detector.generator_orders=3")
    assert chosen.leave_one_family_out is True and chosen.generator_orders == 3
    with pytest.raises(DeepbenchError, match="leave_one_family_out takes true or false, got 'yes'"):
        configs('detector.leave_one_family_out="yes"')
    with pytest.raises(DeepbenchError, match="generator_orders takes a non-negative integer, got -1"):
        configs("detector.generator_orders=-1")
