"""The ``deepbench`` command line: a thin click group over the modules of :mod:`benchmark.commands`.

The commands need torch and torchvision, whose import alone takes seconds, so the group loads a command's
module only when that command runs or shows its help: ``deepbench --help`` lists them from their docstrings,
read from the source without importing it, and ``deepbench --version`` reads the installed metadata.

Errors a user can fix (:class:`~benchmark.errors.DeepbenchError`) print as one line and exit with status 2,
as click's own usage errors do; anything else is a bug, keeps its traceback and exits with status 1.
"""

from __future__ import annotations

import ast
import functools
import importlib
import os
import sys
from importlib import metadata
from pathlib import Path

import click

from benchmark import DISTRIBUTION
from benchmark.commands import COMMANDS, module_name
from benchmark.errors import DeepbenchError


class UserError(click.ClickException):
    """A :class:`DeepbenchError` on its way out: one ``Error: ...`` line, exit status 2."""

    exit_code = 2


@functools.cache
def command_docstrings() -> dict[str, str]:
    """Each command of ``COMMANDS`` and its docstring, from the source of its module: the function decorated
    ``@click.command()`` there, named as click names it (``import_fakes`` is ``import-fakes``)."""
    return {name: command_docstring(name) for name in COMMANDS}


def command_docstring(name: str) -> str:
    source = Path(importlib.util.find_spec(module_name(name)).origin).read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if (isinstance(node, ast.FunctionDef) and node.name == name.replace("-", "_")
                and any(is_click_command(decorator) for decorator in node.decorator_list)):
            return ast.get_docstring(node) or ""
    raise LookupError(f"{module_name(name)} defines no click command {name.replace('-', '_')}")


def is_click_command(decorator: ast.expr) -> bool:
    return (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "command")


class DeepbenchGroup(click.Group):
    """Loads a command on first use, and turns library errors into click's one-line ``Error: ...`` output."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(command_docstrings())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in command_docstrings():
            return None
        return getattr(importlib.import_module(module_name(name)), name.replace("-", "_"))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands' one-line summaries, as click writes them, without importing the commands."""
        limit = formatter.width - 6 - max(len(name) for name in command_docstrings())
        rows = [(name, click.Command(name, help=doc).get_short_help_str(limit))
                for name, doc in command_docstrings().items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DeepbenchError as error:
            raise UserError(str(error)) from None


@click.group(cls=DeepbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(metadata.version(DISTRIBUTION), prog_name="deepbench")
@click.option("-v", "--verbose", "verbosity", flag_value=1, help="Debug logging.")
@click.option("-q", "--quiet", "verbosity", flag_value=-1, help="No progress bars; warnings and errors only.")
@click.option("--threads", type=int, help="torch CPU threads; results on a CPU are bit-identical only at the same "
                                          "count (run.json records it) [default: torch's, or the suite's].")
def main(verbosity: int | None, threads: int | None):
    """deepbench: train GANs, build synthetic data sets, and benchmark fake-image detectors on them."""
    from benchmark import distributed
    from benchmark.runtime import set_threads, set_verbosity

    if threads is not None:
        set_threads(threads)
    distributed.init_from_env()  # under torchrun: join its process group; alone: nothing
    # one rank's log, not N interleaved; with -v every rank's, so that their collectives can be compared
    set_verbosity((verbosity or 0) if distributed.is_main() or verbosity == 1 else -1)
    if not distributed.is_main():
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # one rank's results; errors still reach stderr


if __name__ == "__main__":
    main()
