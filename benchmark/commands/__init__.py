"""The ``deepbench`` commands, one module each, each command calling one library function.

:mod:`benchmark.cli` lists the commands from this package's ``COMMANDS`` and their modules' source, and imports
a command's module only when that command runs or shows its help, so that each command pays for the imports it
needs and no more: ``deepbench report --fid-between`` loads torch-fidelity but not scikit-learn, the
generators or the report page's plotting. Options that several commands share live in :mod:`.common`.
"""

COMMANDS = ("datasets", "generate", "detect", "report", "evaluate", "import-fakes", "quiz", "run")  # --help's order


def module_name(command: str) -> str:
    """The module that defines ``command`` (``import-fakes`` is ``benchmark.commands.import_fakes``)."""
    return f"{__name__}.{command.replace('-', '_')}"
