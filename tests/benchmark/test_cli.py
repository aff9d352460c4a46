"""The command line: every command has help, errors are one line, the main job runs on embedded data."""

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.rundir import RunDir
from tests.benchmark.fixtures import write_image_folder, write_mnist

COMMANDS = ["datasets", "generate", "detect", "report", "run"]


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ") and f" {command} [OPTIONS]" in result.output


def test_stage_commands_share_seed_and_device_options():
    for command in ("generate", "detect", "run"):
        output = invoke(command, "--help").output
        assert "--seed" in output and "--device [auto|cpu|cuda]" in output and "--data-root" in output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and "deepbench, version 0.1.0" in result.output


def test_datasets_lists_what_is_found(tmp_path):
    write_mnist(tmp_path)
    write_image_folder(tmp_path / "cifar10-jpeg")
    output = invoke("datasets", "--data-root", str(tmp_path)).output
    lines = {line.split()[0]: line for line in output.splitlines()[1:]}
    assert "found" in lines["mnist"] and "missing" in lines["cifar10"] and "found" in lines["embedded"]
    assert f"folder:{tmp_path / 'cifar10-jpeg'}" in output


def test_unbuilt_command_says_so_and_writes_nothing(tmp_path):
    result = invoke("report", "--run", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "not yet available" in result.output
    assert not (tmp_path / "run").exists()


def test_missing_data_set_is_one_line_without_traceback(tmp_path):
    result = invoke("run", "--dataset", "mnist", "--data-root", str(tmp_path), "--out", str(tmp_path / "r"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: mnist not found") and result.output.strip().count("\n") == 0


def test_unknown_data_set_lists_known_names(tmp_path):
    result = invoke("run", "--dataset", "svhn", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1 and "known: embedded, mnist" in result.output


def test_run_records_the_run(tmp_path):
    result = invoke("-q", "run", "--dataset", "embedded:4", "--out", str(tmp_path / "run"), "--seed", "3",
                    "--device", "cpu", "--max-steps", "2", "--num-samples", "30")
    assert result.exit_code == 0, result.output
    assert "data      done: InMemoryImages(embedded:4 (train):" in result.output
    stage = RunDir(tmp_path / "run").read_record()["stages"][0]
    assert stage["command"] == "run" and stage["seed"] == 3 and stage["config"]["dataset"] == "embedded:4"
    assert stage["config"]["train_images"] == 1184 and stage["finished"]
