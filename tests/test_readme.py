"""The README's Python API examples run as written (in a fresh folder, with this session's isolated caches)."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
API = README.split("\n## Python API\n")[1].split("\n## ")[0]
EXAMPLES = re.findall(r"```python\n(.*?)```", API, re.DOTALL)


def test_the_api_section_has_its_examples():
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_an_api_example_runs_as_written(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(EXAMPLES[index], f"README.md, Python API example {index + 1}", "exec"), {})
    printed = capsys.readouterr().out
    assert "index.html" in printed if index == 0 else re.search(r"AUC \d\.\d{3} \[", printed), printed
