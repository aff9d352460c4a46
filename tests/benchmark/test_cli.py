"""The command line: every command has help, errors are one line, the main job runs on embedded data."""

import pytest
from click.testing import CliRunner

from benchmark.cli import main
from tests.benchmark.fixtures import write_image_folder, write_mnist

COMMANDS = ["datasets", "generate", "detect", "report", "run", "quiz"]


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ") and f" {command} [OPTIONS]" in result.output


def test_stage_commands_share_seed_and_device_options():
    for command in ("generate", "detect", "report", "run"):
        output = invoke(command, "--help").output
        assert "--device [auto|cpu|cuda]" in output and "--data-root" in output
        assert ("--seed" in output) == (command != "run")  # a suite sets each experiment's seed


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


def test_missing_data_set_is_one_line_without_traceback(tmp_path):
    result = invoke("generate", "--dataset", "mnist", "--data-root", str(tmp_path), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("Error: mnist not found") and result.output.strip().count("\n") == 0


def test_unknown_data_set_lists_known_names(tmp_path):
    result = invoke("generate", "--dataset", "svhn", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "known: embedded, mnist" in result.output
