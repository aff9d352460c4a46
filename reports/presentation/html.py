"""The report page: one self-contained HTML file with the run's facts, tables and figures.

The page has inline CSS, no JavaScript and no external resources, and embeds its figures as base64 PNGs, so it
can be mailed, archived or opened from a CI artifact and look the same. Every string from the caller (titles,
facts, captions, paragraphs, table cells and column names) is HTML-escaped: generator, detector and class
names are user input, and one named ``<script>`` must show as text, never run.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pandas as pd

from benchmark.files import write_text

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.5rem; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; font-size: 0.9rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
section { margin-top: 2.5rem; }
figure { margin: 1.5rem 0; overflow-x: auto; }
figcaption { font-size: 0.9rem; color: #555; margin-bottom: 0.4rem; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; }
.missing { color: #a00; font-family: ui-monospace, monospace; }
"""


@dataclass
class Section:
    """One titled part of a report: paragraphs, then (caption, table) pairs, then (caption, PNG path) pairs."""

    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)


def render_report(title: str, facts: dict[str, str], sections: list[Section]) -> str:
    """A complete HTML5 page: the title, the facts, a table of contents, then each section."""
    facts_html = "".join(f"<dt>{escape(str(key))}</dt><dd>{escape(str(value))}</dd>" for key, value in facts.items())
    contents = "".join(f'<li><a href="#section-{number}">{escape(section.title)}</a></li>'
                       for number, section in enumerate(sections, start=1))
    body = "\n".join(_section(number, section) for number, section in enumerate(sections, start=1))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<dl class="facts">{facts_html}</dl>
<nav><h2>Contents</h2><ol>{contents}</ol></nav>
{body}
</body>
</html>
"""


def write_report(path: str | Path, title: str, facts: dict[str, str], sections: list[Section]) -> Path:
    """Render the report and write it to ``path`` atomically."""
    return write_text(path, render_report(title, facts, sections))


def _section(number: int, section: Section) -> str:
    """A section; its id comes from its position, so any title makes a valid, unique anchor."""
    parts = [f'<section id="section-{number}">', f"<h2>{escape(section.title)}</h2>"]
    parts += [f"<p>{escape(paragraph)}</p>" for paragraph in section.text]
    parts += [_table(caption, frame) for caption, frame in section.tables]
    parts += [_figure(caption, Path(png)) for caption, png in section.figures]
    parts.append("</section>")
    return "\n".join(parts)


def _table(caption: str, frame: pd.DataFrame) -> str:
    """A captioned table with floats to 4 significant digits and missing values as a dash."""
    # A named column axis makes pandas add a header cell for it even with index=False, shifting every column.
    table = frame.rename_axis(columns=None).to_html(escape=True, index=False, na_rep="—", float_format="{:.4g}".format)
    return f"<figure><figcaption>{escape(caption)}</figcaption>\n{table}\n</figure>"


def _figure(caption: str, png: Path) -> str:
    """A captioned, embedded PNG; a missing file becomes a visible note so one lost figure spoils no report."""
    if png.is_file():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        content = f'<img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
    else:
        content = f'<p class="missing">missing: {escape(str(png))}</p>'
    return f"<figure>{content}<figcaption>{escape(caption)}</figcaption></figure>"
