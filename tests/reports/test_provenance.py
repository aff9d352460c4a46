"""Committed results know what produced them: protocol versions recorded by every stage and exported with the
results, and a leaderboard that refuses a result made under an older protocol, naming how to make it again."""

import json

import pytest

from benchmark import versions
from benchmark.errors import DeepbenchError
from benchmark.files import write_json
from benchmark.rundir import RunDir
from reports.presentation.leaderboard import run_protocols, update_leaderboard
from reports.presentation.provenance import provenance
from tests.tiny_run import make_tiny_run

ENTRY = """[small]
files = ["small.json"]
commands = ["deepbench run --suite quick --out runs/small", "deepbench report --run runs/small/mnist --export X"]
threads = 2
device = "cpu"
protocols = ["training", "sampling", "detection", "metrics"]
"""


def result(protocols):
    return {"name": "small", "dataset": "embedded", "seed": 0, "machine": "test", "versions": {},
            "protocols": protocols, "finished": None, "generators": [], "detectors": [], "human": []}


@pytest.fixture
def folder(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "manifest.toml").write_text(ENTRY)
    write_json(results / "small.json", result(dict(versions.PROTOCOLS)), "results")
    return results


def test_a_current_result_passes_and_bumping_a_protocol_makes_it_stale(folder, tmp_path, monkeypatch):
    assert provenance(folder) == {}
    update_leaderboard(folder, tmp_path / "LEADERBOARD.md")
    monkeypatch.setitem(versions.PROTOCOLS, "detection", versions.PROTOCOLS["detection"] + 1)
    with pytest.raises(DeepbenchError) as raised:
        update_leaderboard(folder, tmp_path / "LEADERBOARD.md", check=True)
    message = str(raised.value)
    assert "small.json was produced under older protocols (detection" in message
    assert "make results ONLY=small (on a CPU, 2 torch threads: deepbench run --suite quick" in message


def test_a_stale_result_with_a_stated_reason_stands_and_the_leaderboard_says_so(folder, tmp_path, monkeypatch):
    (folder / "manifest.toml").write_text(ENTRY + 'stale = "a rerun takes hours"\n')
    monkeypatch.setitem(versions.PROTOCOLS, "metrics", versions.PROTOCOLS["metrics"] + 1)
    notes = provenance(folder)
    assert notes["small.json"].startswith("Produced under older protocols (metrics ")
    assert "a rerun takes hours" in notes["small.json"]
    text = update_leaderboard(folder, tmp_path / "LEADERBOARD.md")
    assert "## small\n\n> Produced under older protocols (metrics" in text


def test_a_result_no_entry_makes_or_an_entry_without_its_file_fails(folder):
    write_json(folder / "orphan.json", result(dict(versions.PROTOCOLS)), "results")
    with pytest.raises(DeepbenchError, match="orphan.json is made by no entry of"):
        provenance(folder)
    (folder / "orphan.json").unlink()
    (folder / "small.json").unlink()
    with pytest.raises(DeepbenchError, match=r"small.json is listed in \[small\] .* but missing; make results"):
        provenance(folder)


def test_a_result_from_before_versions_were_recorded_is_stale(folder):
    record = json.loads((folder / "small.json").read_text())
    record.pop("protocols")
    (folder / "small.json").write_text(json.dumps(record))
    with pytest.raises(DeepbenchError, match="training none recorded"):
        provenance(folder)


def test_every_stage_records_its_protocols_and_the_export_collects_them(tmp_path):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.start("generate", {"dataset": "embedded"}, 0)
    run.start("detect", {"detector": {"seed": 0}}, 0)
    stages = run.read_record()["stages"]
    assert stages[0]["protocols"] == {"training": versions.PROTOCOLS["training"],
                                      "sampling": versions.PROTOCOLS["sampling"]}
    assert stages[1]["protocols"] == {"detection": versions.PROTOCOLS["detection"]}
    assert "commit" in stages[0]
    metrics = [{"key": {"version": versions.PROTOCOLS["metrics"]}}, {"key": {"version": 3}}]
    collected = run_protocols(run, metrics)
    assert collected["metrics"] == 3  # the oldest metrics file
    assert collected["training"] is None and collected["sampling"] is None  # no trained generator here


def test_the_protocols_of_a_run_are_read_from_each_part_and_the_oldest_wins(tmp_path):
    out = make_tiny_run(tmp_path / "run", tmp_path / "cache", "--dataset", "embedded:0,1", "--num-samples", "40",
                        detect_args=["--epochs", "1", "--no-baselines", "--perturbation", "none"])
    run = RunDir(out)
    current = {name: versions.PROTOCOLS[name] for name in ("training", "sampling", "detection")}
    assert run_protocols(run, []) == current
    [files] = run.detectors()
    record = json.loads(files.evaluation.read_text())
    record["protocols"] = {"detection": 1}  # a detector kept from older code by --resume
    files.evaluation.write_text(json.dumps(record))
    assert run_protocols(run, [])["detection"] == 1


def test_a_folder_without_a_manifest_is_taken_as_it_is_and_a_broken_file_is_named(folder, tmp_path):
    (folder / "manifest.toml").unlink()
    assert provenance(folder) == {}  # a user's own results: nothing says how to make them again
    (folder / "manifest.toml").write_text(ENTRY)
    (folder / "small.json").write_text("{not json")
    with pytest.raises(DeepbenchError, match="small.json is not valid JSON"):
        provenance(folder)
