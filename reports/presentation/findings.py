"""Findings pages rendered from the committed results: every number in their prose comes from the JSON.

A findings page is a Jinja2 template, ``docs/findings/<name>.md.j2``, rendered to ``<name>.md`` beside it.
Its prose reads figures through the helpers below, so a number in a finding cannot drift from the results it
states, and ``deepbench report --leaderboard ... --findings DIR --check`` fails when a page is stale, as for the
leaderboard. A template that names a result, generator or detection row that is not there fails to render
(``StrictUndefined``, and a lookup that finds nothing raises): a finding cannot outlive its data.

The template sees ``results`` (each ``benchmark/results/<name>.json`` by name), ``studies`` (each
``<study>/summary.json`` by study name), ``files`` (every JSON under the results folder, by its path there
without ``.json``, for studies' other files) and the helpers:

- ``detection(result, detector, trained, evaluated, protocol=None, perturbation="none")``: one detection row,
  averaged over its training seeds as the leaderboard shows it (``protocol`` defaults to the headline one);
- ``rows(result, detector=None, trained=None, evaluated=None, transfer=None, baseline=None, protocol=None,
  perturbation="none")``: every matching row (``transfer`` True for pairs of different generators, False for
  in-distribution ones; ``baseline`` True for the trivial-statistics baselines, False for the networks);
- ``span(values, spec)``: "0.975–0.995", the range of a list of figures (one figure alone when they agree);
- ``generator(result, name)``: one generator's metrics;
- ``auc(row)``: "0.990 [0.985, 0.994]", the across-seed interval where there are several seeds, else the
  bootstrap one, labelled inverted or chance by that interval;
- ``verdict(row)``: "above chance", "chance" or "inverted", by the same interval;
- ``differ(a, b)``: whether two rows' across-seed (else bootstrap) intervals are disjoint, the condition a
  finding needs before it calls one detector or generator better than another;
- ``over_seeds(values, spec)``: "63.7 [58.8, 68.6]", the mean of a figure over seeds and its 95% t-interval
  (:func:`detectors.metrics.seed_interval`);
- ``plateau(curve)``: the last doubling's AUC gain of a learning curve (``result["learning_curves"]``) and
  whether it is within ``detectors.learning_curve.PLATEAU_GAIN``;
- ``provenance_note(*files)``: for each named results file produced under an older protocol, the manifest's
  reason and the command that makes it again, as a quote (empty when every file is current);
- ``number(value, spec)``: a figure formatted, a dash when missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from benchmark.errors import DeepbenchError
from benchmark.files import write_text
from detectors.learning_curve import PLATEAU_GAIN, last_doubling_gain
from detectors.metrics import seed_interval
from reports.presentation.leaderboard import (
    BASELINE_PREFIX,
    auc_text,
    detections,
    headline_protocol,
    load_results,
    load_studies,
)
from reports.presentation.provenance import provenance

TEMPLATE_SUFFIX = ".md.j2"
GENERATED_NOTE = ("<!-- Rendered from {template} and benchmark/results by deepbench report --findings; edit the "
                  "template, not this file. -->\n\n")


def detection(result: dict, detector: str, trained: str, evaluated: str, protocol: str | None = None,
              perturbation: str = "none") -> dict:
    """The one detection row of ``result`` for these keys, seed-averaged; an error naming them when absent."""
    frame = detections(result)
    if frame.empty:
        raise DeepbenchError(f"{result.get('name', 'a result')} holds no detection rows")
    protocol = protocol or headline_protocol(frame)
    chosen = frame[(frame["detector"] == detector) & (frame["train_generator"] == trained) &
                   (frame["eval_set"] == evaluated) & (frame["protocol"] == protocol) &
                   (frame["perturbation"] == perturbation)]
    if len(chosen) != 1:
        raise DeepbenchError(f"no single detection row for {detector} trained on {trained}, evaluated on "
                             f"{evaluated} ({protocol}, {perturbation}): found {len(chosen)}")
    return chosen.iloc[0].to_dict()


def rows(result: dict, detector: str | None = None, trained: str | None = None, evaluated: str | None = None,
         transfer: bool | None = None, baseline: bool | None = None, protocol: str | None = None,
         perturbation: str = "none") -> list[dict]:
    """Every seed-averaged detection row of ``result`` that matches (``baseline`` True for the trivial-statistics
    baselines only, False for the networks only); an error when none does."""
    frame = detections(result)
    if frame.empty:
        raise DeepbenchError(f"{result.get('name', 'a result')} holds no detection rows")
    keep = (frame["protocol"] == (protocol or headline_protocol(frame))) & (frame["perturbation"] == perturbation)
    for column, wanted in (("detector", detector), ("train_generator", trained), ("eval_set", evaluated)):
        if wanted is not None:
            keep &= frame[column] == wanted
    if transfer is not None:
        keep &= (frame["train_generator"] != frame["eval_set"]) == transfer
    if baseline is not None:
        keep &= frame["detector"].str.startswith(BASELINE_PREFIX) == baseline
    chosen = frame[keep]
    if chosen.empty:
        raise DeepbenchError(f"no detection rows for detector={detector} trained={trained} evaluated={evaluated} "
                             f"transfer={transfer} in {result.get('name', 'a result')}")
    return chosen.to_dict("records")


def span(values, spec: str = ".3f") -> str:
    low, high = format(min(values), spec), format(max(values), spec)
    return low if low == high else f"{low}–{high}"


def generator(result: dict, name: str) -> dict:
    """One generator's metrics in ``result``; an error naming it when absent."""
    for metrics in result["generators"]:
        if metrics["generator"] == name:
            return metrics
    raise DeepbenchError(f"no generator {name!r} in the result (it has "
                         f"{', '.join(m['generator'] for m in result['generators'])})")


def interval(row: dict) -> list[float] | None:
    """The interval a finding must respect: across training seeds where there are several, else the bootstrap's."""
    chosen = row.get("auc_seed_ci") if (row.get("seeds") or 1) > 1 else row.get("auc_ci")
    return chosen if isinstance(chosen, list) and len(chosen) == 2 else None


def auc(row: dict) -> str:
    """An AUC with the interval findings go by and, with several seeds, their count."""
    bounds, seeds = interval(row), int(row.get("seeds") or 1)
    if bounds is None:
        return auc_text(row["auc"])
    suffix = f", {seeds} seeds" if seeds > 1 else ""
    return f"{auc_text(row['auc'], bounds)} [{bounds[0]:.3f}, {bounds[1]:.3f}{suffix}]"


def verdict(row: dict) -> str:
    """"inverted", "chance" or "above chance", by the interval of :func:`interval`."""
    bounds = interval(row)
    if bounds is None:
        raise DeepbenchError("a verdict needs an interval, and this row has none")
    return "inverted" if bounds[1] < 0.5 else "chance" if bounds[0] <= 0.5 else "above chance"


def differ(first: dict, second: dict) -> bool:
    """Whether two rows' intervals are disjoint: only then may a finding call one higher than the other."""
    a, b = interval(first), interval(second)
    if a is None or b is None:
        raise DeepbenchError("comparing two rows needs both intervals")
    return a[1] < b[0] or b[1] < a[0]


def over_seeds(values, spec: str = ".3f") -> str:
    values = [float(value) for value in values]
    interval = seed_interval(values)
    if interval is None:
        return format(values[0], spec)
    mean, low, high = interval
    return f"{mean:{spec}} [{low:{spec}}, {high:{spec}}]"


def plateau(curve: dict) -> dict:
    """{"gain": the last doubling's AUC gain or None, "reached": whether it is at most ``PLATEAU_GAIN``}."""
    gain = last_doubling_gain(curve["points"])
    return {"gain": gain, "reached": gain is not None and gain <= PLATEAU_GAIN}


def number(value, spec: str = ".3f") -> str:
    return "—" if value is None or value != value else format(value, spec)  # NaN is the only value unequal to itself


def environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    env.globals.update(detection=detection, rows=rows, span=span, generator=generator, auc=auc, verdict=verdict,
                       differ=differ, over_seeds=over_seeds, plateau=plateau, number=number)
    env.filters.update(verdict=verdict, plateau=plateau)  # for map(): rows | map("verdict")
    return env


def render_findings(templates: str | Path, results: str | Path) -> dict[Path, str]:
    """Each ``templates/*.md.j2`` rendered against the results in ``results``: {page path: text}."""
    templates, results = Path(templates), Path(results)
    paths = sorted(templates.glob(f"*{TEMPLATE_SUFFIX}"))
    if not paths:
        raise DeepbenchError(f"{templates} holds no findings templates (*{TEMPLATE_SUFFIX})")
    context = {"results": {path.stem: result for path, result in zip(sorted(results.glob("*.json")),
                                                                     load_results(results), strict=True)},
               "studies": load_studies(results),
               "files": {path.relative_to(results).with_suffix("").as_posix(): json.loads(path.read_text())
                         for path in sorted(results.rglob("*.json"))}}
    notes = provenance(results)
    env, pages = environment(templates), {}
    env.globals["provenance_note"] = lambda *files: "\n".join(f"> {notes[file]}\n" for file in files if file in notes)
    for path in paths:
        try:
            body = env.get_template(path.name).render(**context)
        except (jinja2.TemplateError, KeyError) as error:
            raise DeepbenchError(f"{path} does not render from {results}: {error}") from None
        pages[path.with_name(path.name.removesuffix(TEMPLATE_SUFFIX) + ".md")] = \
            GENERATED_NOTE.format(template=path.as_posix()) + body
    return pages


def update_findings(templates: str | Path, results: str | Path, check: bool = False) -> list[Path]:
    """Write every findings page; with ``check``, write nothing and fail naming the pages that are stale."""
    pages = render_findings(templates, results)
    if check:
        stale = [path for path, text in pages.items()
                 if not path.is_file() or path.read_text(encoding="utf-8") != text]
        if stale:
            raise DeepbenchError(f"{', '.join(map(str, stale))} stale: they differ from what their templates and "
                                 f"{results} give; run deepbench report --leaderboard {results} -o LEADERBOARD "
                                 f"--findings {templates} and commit the result")
        return list(pages)
    for path, text in pages.items():
        write_text(path, text)
    return list(pages)
