"""Bad input, case by case: one ``Error:`` line that names the problem and the fix, exit status 2, and every
file that was there before is still there, byte for byte (``run.json`` may only gain records).

Each case is a row of ``CASES``: an id, the arguments (``{name}`` placeholders are paths of the workspace
below), and a fragment the error line must hold.
"""

import json
import shutil
from dataclasses import dataclass

import numpy as np
import pytest

from benchmark.files import write_json
from benchmark.rundir import RunDir
from detectors.detector import Detector
from tests.benchmark.fixtures import write_image
from tests.reliability.helpers import snapshot
from tests.tiny_run import TINY_GAN, invoke, make_tiny_run


@dataclass(frozen=True)
class Case:
    id: str
    args: str
    expected: str


TINY = " ".join(TINY_GAN)
CASES = [
    Case("unknown data set", "generate --dataset imagenet --out {new}", "unknown data set 'imagenet'"),
    Case("unknown generator", "generate --dataset embedded:0 --generator stylegan --out {new}",
         "unknown generator 'stylegan'; known: "),
    Case("unknown detector", "detect --run {run} --detector nonet --resume", "unknown detector 'nonet'"),
    Case("unknown class", "generate --dataset embedded:giraffe --out {new}", "unknown class 'giraffe'"),
    Case("unknown suite", "run --suite nosuch --out {new}", "unknown suite 'nosuch'; use one of"),
    Case("data root without the files", "generate --dataset mnist --data-root {empty} --out {new}", "--download"),
    Case("corrupt image under --strict", "generate --strict --dataset folder:{corrupt} --out {new}",
         "cannot read image"),
    Case("images of mixed sizes", "generate --dataset folder:{mixed_sizes} --out {new}", "--image-size"),
    Case("images of mixed channels", "generate --dataset folder:{mixed_channels} --out {new}", "--channels"),
    Case("empty folder", "generate --dataset folder:{empty} --out {new}", "no images found"),
    Case("a detector checkpoint given to generate",
         "generate --dataset embedded:0 --checkpoint {detector28} --out {new}", "not a generator"),
    Case("a generator checkpoint given to detect", "detect --run {run} --checkpoint {last}", "not a detector"),
    Case("a detector for another image size", "detect --run {run} --checkpoint {detector32}",
         "takes uint8 images of (1, 32, 32)"),
    Case("a truncated checkpoint", "generate --dataset embedded:0 --checkpoint {truncated} --out {new}",
         "is corrupt or not a deepbench checkpoint"),
    Case("another model's checkpoint as last.pt",
         "generate --dataset embedded:0 --generator capsgan --resume --out {run_with_swapped_checkpoint}",
         "holds 'generator:dcgan', not 'generator:capsgan'"),
    Case("a results file of another schema", "report --leaderboard {old_results} -o {new}/LEADERBOARD.md",
         "has schema 'deepbench.results/0'"),
    Case("a results file that is not JSON", "report --leaderboard {broken_results} -o {new}/LEADERBOARD.md",
         "is not valid JSON"),
    Case("--resume with --force", "generate --dataset embedded:0 --resume --force --out {run}", "pass one of them"),
    Case("detect --checkpoint with --resume", "detect --run {run} --checkpoint {detector28} --resume",
         "trains none; drop --resume"),
    Case("two report modes", "report --run {run} --leaderboard {old_results}", "pass exactly one of"),
    Case("--out holding a run of other data", "generate --dataset embedded:1 --out {run}",
         "holds a run of other data (dataset 'embedded:0', not 'embedded:1')"),
    Case("--out holding something that is no run", "generate --dataset embedded:0 --out {not_a_run}",
         "holds no run.json"),
    Case("--out holding this generator already", f"generate --dataset embedded:0 {TINY} --out {{run}}",
         "pass --resume to continue that training, --force"),
    Case("a second detect over finished detectors", "detect --run {run}", "pass --resume to keep finished"),
    Case("resuming with other options", f"generate --dataset embedded:0 {TINY} --resume --lr 0.01 --out {{run}}",
         "was trained with other lr_g, lr_d"),
    Case("report on a folder that is no run", "report --run {not_a_run}", "not a run directory"),
    Case("a manifest naming a file outside its folder", "detect --run {run_with_escaping_manifest} --force",
         "names a file outside its folder: '../../../escape.png'"),
    Case("fakes that disagree with their manifest", "detect --run {run_with_extra_fake} --force",
         "1 unlisted images"),
    Case("a suite experiment named to escape --out", "run --suite {escaping_suite} --out {new}",
         "'../escape' cannot be a file name"),
    Case("a seed out of range", "generate --dataset embedded:0 --seed -1 --out {new}", "seed -1 is out of range"),
    Case("a non-positive image size", "generate --dataset embedded:0 --image-size 0 --out {new}",
         "image size 0 is not positive"),
    Case("an --eval-fakes without a name", "detect --run {run} --eval-fakes nowhere --resume", "other=PATH"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Every input the cases name, built once: a tiny run with a detector, folders, checkpoints, results."""
    root = tmp_path_factory.mktemp("workspace")
    run = make_tiny_run(root / "run", root / "cache", "--dataset", "embedded:0", "--num-samples", "40",
                        detect_args=["--epochs", "1", "--perturbation", "none"])
    shutil.rmtree(root / "cache", ignore_errors=True)
    last = RunDir(run).checkpoints("dcgan") / "last.pt"
    (root / "empty").mkdir()
    for name, arrays in (("corrupt", [None, np.zeros((8, 8), np.uint8)]),  # the unreadable file comes first
                         ("mixed_sizes", [np.zeros((8, 8), np.uint8), np.zeros((16, 16), np.uint8)]),
                         ("mixed_channels", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.uint8)])):
        write_image(root / name / "test" / "0.png", np.zeros((8, 8), np.uint8))
        for index, array in enumerate(arrays * 3):
            if array is None:
                write_image(root / name / "train" / f"{index}.png", np.zeros((8, 8), np.uint8))
                (root / name / "train" / f"{index}.png").write_bytes(b"not a png")
            else:
                write_image(root / name / "train" / f"{index}.png", array)
    Detector("cnn", 1, 28).save(root / "detector28.pt")
    Detector("cnn", 1, 32).save(root / "detector32.pt")
    (root / "truncated.pt").write_bytes(last.read_bytes()[:1000])
    (root / "not_a_run").mkdir()
    (root / "not_a_run" / "notes.txt").write_text("mine\n")
    results = write_json(root / "old_results" / "x.json", {"name": "x"}, "results")
    results.write_text(results.read_text().replace("deepbench.results/1", "deepbench.results/0"))
    (root / "broken_results").mkdir()
    (root / "broken_results" / "x.json").write_text("{not json")
    swapped = shutil.copytree(run, root / "run_with_swapped_checkpoint")
    RunDir(swapped).checkpoints("capsgan").mkdir(parents=True)
    shutil.copy(RunDir(swapped).checkpoints("dcgan") / "last.pt", RunDir(swapped).checkpoints("capsgan") / "last.pt")
    escaping = RunDir(shutil.copytree(run, root / "run_with_escaping_manifest")).fakes("dcgan") / "manifest.csv"
    escaping.write_text(escaping.read_text().replace("000000.png", "../../../escape.png"))
    extra = RunDir(shutil.copytree(run, root / "run_with_extra_fake")).fakes("dcgan")
    shutil.copy(extra / "000000.png", extra / "999999.png")
    (root / "escaping_suite.toml").write_text('[[experiment]]\nname = "../escape"\ndataset = "embedded"\n'
                                              'generators = ["dcgan"]\n')
    return root


@pytest.fixture
def workspace(template, tmp_path):
    copy = shutil.copytree(template, tmp_path / "workspace")
    paths = {p.name.removesuffix(".pt").removesuffix(".toml"): p for p in copy.iterdir()}
    paths.update(last=RunDir(copy / "run").checkpoints("dcgan") / "last.pt", new=tmp_path / "new")
    return tmp_path, paths


def run_records(root) -> dict[str, list]:
    return {str(p.relative_to(root)): json.loads(p.read_text())["stages"] for p in root.rglob("run.json")}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_with_exit_status_2_and_destroys_nothing(case, workspace):
    root, paths = workspace
    before, records = snapshot(root), run_records(root)
    result = invoke(*[part.format(**paths) for part in case.args.split()])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert case.expected in lines[0], lines[0]
    after = snapshot(root)
    assert {path: digest for path, digest in after.items() if path in before and not path.endswith("run.json")} == {
        path: digest for path, digest in before.items() if not path.endswith("run.json")}
    for path, stages in records.items():
        assert run_records(root)[path][:len(stages)] == stages
    assert not (root / "escape").exists() and not (root / "escape.png").exists()
