"""The run directory: atomic writes, schema checks, checkpoints that refuse the wrong model."""

import errno
import json
import os
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmark import files
from benchmark.errors import DeepbenchError
from benchmark.rundir import RunDir


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "result.json"
    files.write_json(target, {"value": 1}, "metrics")
    with pytest.raises(RuntimeError, match="boom"):
        with files.atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("boom")
    assert files.read_json(target, "metrics")["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temp file left behind


def test_written_files_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = files.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_full_disk_is_a_clear_error_and_destroys_nothing(tmp_path, monkeypatch):
    target = tmp_path / "losses.csv"
    files.write_text(target, "old\n")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(DeepbenchError, match=r"disk full while writing .*losses.csv \(No space left on device\); free"):
        files.write_text(target, "new\n")
    assert target.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1


REPOSITORY = Path(__file__).resolve().parents[2]


def strict(text: str):
    """json.loads that refuses the non-JSON constants Infinity, -Infinity and NaN, as strict parsers do."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_json_with_non_finite_numbers_as_null(tmp_path):
    path = files.write_json(tmp_path / "gam.json", {"r_test": float("inf"), "rows": [float("nan"), 1.5]}, "eval")
    assert strict(path.read_text())["r_test"] is None and strict(path.read_text())["rows"] == [None, 1.5]
    assert strict(files.json_text({"ratio": (float("-inf"),)})) == {"ratio": [None]}


def test_every_committed_json_parses_strictly():
    committed = [path for folder in ("benchmark", "tests", "docs") for path in (REPOSITORY / folder).rglob("*.json")]
    assert len(committed) > 10
    for path in committed:
        strict(path.read_text())  # raises, naming the constant, on Infinity or NaN


def test_json_carries_and_checks_its_schema(tmp_path):
    path = files.write_json(tmp_path / "eval.json", {"auc": 0.5}, "eval")
    assert json.loads(path.read_text())["schema"] == "deepbench.eval/1"
    with pytest.raises(DeepbenchError, match=r"eval.json has schema 'deepbench.eval/1', expected 'deepbench.run/1'"):
        files.read_json(path, "run")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DeepbenchError, match="bad.json is not valid JSON"):
        files.read_json(tmp_path / "bad.json", "eval")
    with pytest.raises(DeepbenchError, match="missing.json does not exist"):
        files.read_json(tmp_path / "missing.json", "eval")


def test_csv_round_trip(tmp_path):
    frame = pd.DataFrame({"step": [1, 2], "loss_d": [0.5, 0.25]})
    files.write_csv(tmp_path / "losses.csv", frame)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "losses.csv"), frame)


def test_checkpoint_round_trip_and_kind_check(tmp_path):
    state = {"kind": "generator:dcgan", "step": 3, "model": {"w": torch.arange(4.0)}}
    path = files.save_checkpoint(tmp_path / "last.pt", state)
    loaded = files.load_checkpoint(path, "generator:dcgan")
    assert loaded["step"] == 3 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    with pytest.raises(DeepbenchError, match="holds 'generator:dcgan', not 'detector:cnn'"):
        files.load_checkpoint(path, "detector:cnn")


def test_corrupt_or_missing_checkpoint_is_a_one_line_error(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"\x00garbage")
    with pytest.raises(DeepbenchError, match="last.pt is corrupt"):
        files.load_checkpoint(tmp_path / "last.pt")
    with pytest.raises(DeepbenchError, match="none.pt does not exist"):
        files.load_checkpoint(tmp_path / "none.pt")


def test_checkpoint_load_refuses_pickled_code(tmp_path):
    torch.save({"kind": "x", "object": print}, tmp_path / "evil.pt")  # only loadable with weights_only=False
    with pytest.raises(DeepbenchError, match="corrupt or not a deepbench checkpoint"):
        files.load_checkpoint(tmp_path / "evil.pt")


def test_run_record_keeps_every_stage(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start("generate", {"dataset": "embedded"}, seed=1)
    run.start("detect", {"detector": "cnn"}, seed=2)
    record = run.finish("generate")
    assert [s["command"] for s in record["stages"]] == ["generate", "detect"]
    stored = run.read_record()
    assert stored["stages"][0]["finished"] is not None and stored["stages"][1]["finished"] is None
    with pytest.raises(DeepbenchError, match="no unfinished 'report' stage"):
        run.finish("report")
    assert stored["stages"][1]["versions"]["torch"] == metadata.version("torch")
    assert stored["stages"][1]["seed"] == 2


def test_run_paths_follow_the_documented_layout(tmp_path):
    run = RunDir(tmp_path)
    assert run.fakes("dcgan") == tmp_path / "generators" / "dcgan" / "fakes"
    assert run.checkpoints("capsgan") == tmp_path / "generators" / "capsgan" / "checkpoints"
    detector = run.detector("cnn", "dcgan")
    assert detector.folder == tmp_path / "detectors" / "cnn@dcgan"
    assert [path.relative_to(detector.folder).as_posix() for path in detector.trained()] == [
        "checkpoint.pt", "training.pt", "history.csv", "eval.json", "eval.csv", "learning-curve.json"]
    assert detector.baseline("raw") == detector.folder / "raw-baseline.json"
    assert run.last_checkpoint("dcgan") == run.checkpoints("dcgan") / "last.pt"
    assert run.best_checkpoint("dcgan") == run.checkpoints("dcgan") / "best.pt"
    assert run.suite_record == tmp_path / "suite.json" and run.quiz_answers == tmp_path / "quiz" / "answers.csv"
    assert run.detection_table == tmp_path / "detectors" / "eval.csv"
    assert run.metrics("dcgan") == tmp_path / "metrics" / "dcgan.json"
    run.fakes("dcgan").mkdir(parents=True)
    run.fakes("cdcgan").mkdir(parents=True)
    assert run.generators() == ["cdcgan", "dcgan"]
