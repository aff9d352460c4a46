"""The command line: every command has help, errors are one line, the main job runs on embedded data."""

import dataclasses
import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.commands import module_name
from detectors.detector import DetectorConfig
from generators.registry import GANConfig
from generators.train import TrainConfig
from reports.metrics.generator_metrics import MetricOptions
from tests.benchmark.fixtures import write_image_folder, write_mnist

COMMANDS = ["datasets", "generate", "detect", "report", "evaluate", "import-fakes", "run", "quiz"]


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ") and f" {command} [OPTIONS]" in result.output


def test_stage_commands_share_seed_and_device_options():
    for command in ("generate", "detect", "report", "evaluate", "run"):
        output = invoke(command, "--help").output
        assert "--device [auto|cpu|cuda]" in output and "--data-root" in output
        assert ("--seed" in output) == (command != "run")  # a suite sets each experiment's seed


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_do_not_import_torch(option):
    """They answer in well under a second because torch (seconds to import) stays unloaded."""
    probe = ("import sys; from click.testing import CliRunner; from benchmark.cli import main; "
             f"result = CliRunner().invoke(main, ['{option}']); assert result.exit_code == 0, result.output; "
             "print(sorted(name for name in sys.modules if name.split('.')[0] == 'torch' or "
             "name.startswith('benchmark.commands.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_a_command_imports_only_what_it_needs():
    """``report --fid-between`` starts seconds sooner without scikit-learn, the generators and the report page."""
    probe = ("import sys; from click.testing import CliRunner; from benchmark.cli import main; "
             "result = CliRunner().invoke(main, ['report', '--help']); assert result.exit_code == 0, result.output; "
             "print(sorted(name for name in ('sklearn', 'matplotlib', 'generators', 'detectors', 'flask', "
             "'reports.presentation', 'benchmark.commands.detect') if name in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_command_list_is_what_the_commands_say_of_themselves():
    listed = invoke("--help").output.split("Commands:\n")[1].splitlines()
    assert sorted(line.split()[0] for line in listed) == sorted(COMMANDS)
    for line in listed:
        name, summary = line.split(maxsplit=1)
        command = main.get_command(None, name)
        assert isinstance(command, click.Command) and command.get_short_help_str(len(summary)) == summary


@pytest.mark.parametrize("command, configs", [
    ("generate", (TrainConfig, GANConfig)), ("detect", (DetectorConfig,)), ("report", (MetricOptions,)),
    ("evaluate", (DetectorConfig, MetricOptions))])
def test_every_config_field_is_an_option_with_its_default_and_help(command, configs):
    """Options are declared once, as config fields: a new field is a new option with nothing else to edit."""
    module = importlib.import_module(module_name(command))
    options = {param.name: param for param in getattr(module, command).params}
    for config in configs:
        for field in dataclasses.fields(config):
            option = options[field.name]
            assert option.help == field.metadata["help"] or field.name == "seed"
            assert option.default == field.default or field.name == "seed"
            assert f"--{field.name.replace('_', '-')}" in option.opts


def test_options_reach_the_configs(tmp_path, monkeypatch):
    seen = {}

    def generate_sets(*args, **kwargs):
        seen.update(train=args[3], gan=args[4])
        return []

    monkeypatch.setattr(importlib.import_module(module_name("generate")), "generate_sets", generate_sets)
    result = invoke("generate", "--out", str(tmp_path / "run"), "--beta2", "0.99", "--ema", "0.9", "--lr", "0.001",
                    "--routing-iterations", "2", "--spectral-norm", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert (seen["train"].beta2, seen["train"].ema_decay, seen["train"].lr_g, seen["train"].lr_d) == (0.99, 0.9, 1e-3,
                                                                                                     1e-3)
    assert seen["train"].seed == 3 and seen["gan"].routing_iterations == 2 and seen["gan"].spectral_norm


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
