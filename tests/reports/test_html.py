"""The report page: every title, caption and value shows, figures are embedded PNGs, a missing figure is a
note rather than an error, and caller text never becomes markup, however hostile a class or generator name."""

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reports.presentation.html import Section, render_report, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPT = "<script>alert(1)</script>"


class Tags(HTMLParser):
    """The start tags of a page, to check which elements a browser would build."""

    def __init__(self, page):
        super().__init__()
        self.tags = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "figure.png"
    Image.new("RGB", (4, 3), (200, 10, 10)).save(path)
    return path


@pytest.fixture
def sections(png, tmp_path):
    leaderboard = pd.DataFrame({"detector": ["cnn", "capsule"], "auc": [0.987654321, np.nan], "samples": [1000, 500]})
    cross = pd.DataFrame({"trained on": ["dcgan"], "dcgan": [0.99], "capsgan": [0.61234]})
    return [
        Section("Leaderboard", text=["Higher is better.", "AUC is ROC AUC."],
                tables=[("Detectors on dcgan fakes", leaderboard), ("Cross-generator AUC", cross)],
                figures=[("ROC curves", png)]),
        Section("Samples", figures=[("dcgan samples", png), ("capsgan samples", tmp_path / "gone.png")]),
        Section("Empty"),
    ]


def test_page_shows_everything(sections, png, tmp_path):
    page = render_report("deepbench report", {"run": "runs/demo", "machine": "2 CPU cores"}, sections)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for text in ["deepbench report", "runs/demo", "2 CPU cores", "Higher is better.", "AUC is ROC AUC.",
                 "Leaderboard", "Samples", "Empty", "Detectors on dcgan fakes", "Cross-generator AUC",
                 "ROC curves", "dcgan samples", "capsgan samples",
                 "cnn", "capsule", "0.9877", "—", "1000", "500", "trained on", "0.99", "0.6123"]:
        assert text in page, text
    for number in (1, 2, 3):
        assert f'id="section-{number}"' in page and f'href="#section-{number}"' in page
    assert f"missing: {tmp_path / 'gone.png'}" in page


def test_figures_are_embedded_pngs(sections, png):
    page = render_report("report", {}, sections)
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">', page)
    assert page.count("<img") == len(images) == 2
    assert [alt for _, alt in images] == ["ROC curves", "dcgan samples"]
    for data, _ in images:
        decoded = base64.b64decode(data)
        assert decoded.startswith(PNG_SIGNATURE) and decoded == png.read_bytes()


def test_page_is_self_contained(sections):
    tags = set(Tags(render_report("report", {"run": "x"}, sections)).tags)
    assert tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "dl", "dt", "dd", "nav", "ol",
                    "li", "a", "section", "p", "figure", "figcaption", "img", "table", "thead", "tbody", "tr",
                    "th", "td"}
    assert "src=\"http" not in render_report("report", {}, sections)


def test_named_column_axis_does_not_shift_the_header():
    frame = pd.DataFrame([[0.9, 0.8]], columns=pd.Index(["dcgan", "capsgan"], name="evaluated on"))
    page = render_report("report", {}, [Section("AUC", tables=[("AUC", frame)])])
    assert page.count("<th>") == 2 and "evaluated on" not in page


def test_caller_text_is_escaped(tmp_path, png):
    frame = pd.DataFrame({SCRIPT: [SCRIPT, "cat"], "auc": [0.9, 0.8]})
    sections = [Section(SCRIPT, text=[SCRIPT], tables=[(SCRIPT, frame)],
                        figures=[(SCRIPT, png), ('" onerror="alert(1)', png), (SCRIPT, tmp_path / f"{SCRIPT}.png")])]
    page = render_report(SCRIPT, {SCRIPT: SCRIPT}, sections)
    assert "<script>" not in page
    # <title> and <h1>, fact name and value, contents and <h2>, paragraph, table caption, column name, cell,
    # first figure's caption and alt, missing figure's caption and path
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 14
    assert "script" not in Tags(page).tags
    assert 'alt="&quot; onerror=&quot;alert(1)"' in page


def test_write_report_is_atomic(tmp_path, sections):
    path = tmp_path / "report" / "index.html"
    path.parent.mkdir()
    path.write_text("old report")
    assert write_report(path, "deepbench report", {"run": "runs/demo"}, sections) == path
    assert path.read_text(encoding="utf-8") == render_report("deepbench report", {"run": "runs/demo"}, sections)
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]
