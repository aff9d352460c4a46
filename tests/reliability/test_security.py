"""Nothing runs that should not, nothing is written outside the run, and nothing from a file name reaches the
HTML report as markup."""

import ast
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.errors import DeepbenchError
from benchmark.rundir import RunDir
from tests.benchmark.fixtures import write_image
from tests.reliability.helpers import REPO
from tests.tiny_run import TINY_GAN, invoke, make_tiny_run

PACKAGES = ("benchmark", "generators", "detectors", "reports")


class Payload:
    """Unpickling this object creates ``marker``: the proof that loading ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    return make_tiny_run(root / "run", root / "cache", "--dataset", "embedded:0", "--num-samples", "40",
                         detect_args=["--epochs", "1", "--perturbation", "none"])


@pytest.mark.parametrize("entry", ["generate --checkpoint", "generate --resume", "detect --checkpoint",
                                   "detect --resume"])
def test_a_checkpoint_that_runs_code_when_unpickled_is_refused_without_running_it(entry, tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    marker = tmp_path / "pwned"
    evil = {"kind": "generator:dcgan", "generator": Payload(marker)}
    targets = {"generate --checkpoint": tmp_path / "evil.pt",
               "generate --resume": RunDir(run).checkpoints("dcgan") / "last.pt",
               "detect --checkpoint": tmp_path / "evil.pt",
               "detect --resume": RunDir(run).detector("cnn", "dcgan").checkpoint}
    torch.save(evil, targets[entry])
    command, flag = entry.split()
    args = {"generate": ["generate", "--dataset", "embedded:0", *TINY_GAN, "--max-steps", "20", "--out", run],
            "detect": ["detect", "--run", run, "--epochs", "1", "--perturbation", "none"]}[command]
    result = invoke(*args, flag, *([targets[entry]] if flag == "--checkpoint" else []))
    assert result.exit_code == 2 and "is corrupt or not a deepbench checkpoint" in result.output, result.output
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # the payload is real: an unrestricted load runs it
        torch.load(targets[entry], weights_only=True)
    torch.load(targets[entry], weights_only=False)
    assert marker.exists()


def calls(tree: ast.AST, module: str, function: str):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == function
                and isinstance(node.func.value, ast.Name) and node.func.value.id == module):
            yield node


def test_every_torch_load_in_the_package_is_weights_only_and_nothing_unpickles():
    sources = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    loads = 0
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in calls(tree, "torch", "load"):
            loads += 1
            options = {k.arg: k.value for k in call.keywords}
            assert isinstance(options.get("weights_only"), ast.Constant) and options["weights_only"].value is True, (
                f"{path}:{call.lineno} calls torch.load without weights_only=True")
        for function in ("load", "loads", "Unpickler"):
            assert not list(calls(tree, "pickle", function)), f"{path} unpickles"
        for call in calls(tree, "np", "load"):
            assert not any(k.arg == "allow_pickle" for k in call.keywords), f"{path}:{call.lineno} allows pickles"
    assert loads >= 1  # the scan sees the one loader, benchmark.files.load_checkpoint


@pytest.mark.parametrize("name", ["../escape", "..", "a/b", "/abs", ".hidden", "", "nul\0byte"])
def test_names_that_would_leave_the_run_directory_are_refused(name, tmp_path):
    run = RunDir(tmp_path / "run")
    for make_path in (run.generator, run.metrics, lambda n: run.detector("cnn", n), lambda n: run.detector(n, "x")):
        with pytest.raises(DeepbenchError, match="cannot be a file name"):
            make_path(name)


def test_names_with_markup_reach_the_html_report_as_text(tmp_path):
    """A data folder and class folders named like HTML, end to end through generate and report."""
    data = tmp_path / "<svg onload=alert('data')>"  # file names cannot hold '/', so no closing tags
    rng = np.random.default_rng(0)
    for split, count in (("train", 40), ("test", 12)):
        for label in ("<img src=x onerror=alert(1)>", "<b>bold"):
            for index in range(count):
                write_image(data / split / label / f"{index}.png", rng.integers(0, 256, (28, 28), dtype=np.uint8))
    run = tmp_path / "<i>run"
    generated = invoke("generate", "--dataset", f"folder:{data}", "--generator", "cdcgan", *TINY_GAN,
                       "--max-steps", "5", "--num-samples", "24", "--out", run)
    assert generated.exit_code == 0, generated.output
    reported = invoke("report", "--run", run, "--no-inception", "--num-samples", "20")
    assert reported.exit_code == 0, reported.output
    page = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "&lt;svg onload=alert(&#x27;data&#x27;)&gt;" in page and "&lt;i&gt;run" in page
    assert "&lt;b&gt;bold, &lt;img src=x onerror=alert(1)&gt;" in page  # the classes
    for markup in ("<svg", "<img src=x", "<b>", "<i>"):
        assert markup not in page
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([data.name, run.name])
