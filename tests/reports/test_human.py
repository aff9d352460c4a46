"""Human evaluation results: Wilson intervals checked by hand, per-generator rows, the append-only answers file,
and the leaderboard table that shows only when there are answers."""

import math

import pandas as pd
import pytest

from benchmark.errors import DeepbenchError
from benchmark.rundir import RunDir
from reports.presentation.leaderboard import HUMAN_CAPTION, markdown_tables, render_leaderboard
from reports.quiz.answers import COLUMNS, append_answer, human_rows, read_answers, wilson_interval


def closed_form_wilson(correct, total, z=1.959963984540054):
    """Wilson (1927): (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    p = correct / total
    centre, spread = p + z * z / (2 * total), z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - spread) / (1 + z * z / total), (centre + spread) / (1 + z * z / total)


@pytest.mark.parametrize("correct, total", [(7, 10), (0, 5), (5, 5), (31, 40)])
def test_wilson_bounds_match_the_closed_form(correct, total):
    assert wilson_interval(correct, total) == pytest.approx(closed_form_wilson(correct, total), abs=1e-12)


def test_wilson_bounds_of_seven_in_ten_and_none_in_five_by_hand():
    assert wilson_interval(7, 10) == pytest.approx((0.3968, 0.8922), abs=5e-5)
    assert wilson_interval(0, 5) == pytest.approx((0.0, 0.4345), abs=5e-5)


def answers(rows):
    """Answers from (source, answer) pairs, as the quiz records them."""
    return pd.DataFrame([{"session": f"s{i % 2}", "seed": i % 2, "round": i + 1, "image": f"{source}:{i}",
                          "source": source, "truth": "real" if source == "real" else "fake", "answer": answer,
                          "correct": answer == ("real" if source == "real" else "fake"), "response_ms": 900,
                          "answered_at": "2025-01-01T00:00:00+00:00"} for i, (source, answer) in enumerate(rows)])


def test_rows_per_generator_then_reals_with_accuracy_and_fooling_rate():
    given = answers([("dcgan", "fake")] * 7 + [("dcgan", "real")] * 3 + [("capsgan", "real")] * 5
                    + [("real", "real")] * 4 + [("real", "fake")])
    rows = {row["source"]: row for row in human_rows(given)}
    assert list(rows) == ["capsgan", "dcgan", "real"]
    assert rows["dcgan"]["answers"] == 10 and rows["dcgan"]["accuracy"] == 0.7
    assert rows["dcgan"]["fooling_rate"] == pytest.approx(0.3)
    assert (rows["dcgan"]["ci_low"], rows["dcgan"]["ci_high"]) == pytest.approx(closed_form_wilson(7, 10))
    assert rows["capsgan"]["accuracy"] == 0 and rows["capsgan"]["fooling_rate"] == 1
    assert (rows["capsgan"]["ci_low"], rows["capsgan"]["ci_high"]) == pytest.approx(closed_form_wilson(0, 5))
    assert rows["real"]["accuracy"] == 0.8 and rows["real"]["fooling_rate"] is None
    assert rows["real"]["sessions"] == 2
    assert human_rows(pd.DataFrame(columns=list(COLUMNS))) == []


def test_the_answers_file_only_grows_and_refuses_a_foreign_header(tmp_path):
    run = RunDir(tmp_path)
    assert read_answers(run).empty
    path = tmp_path / "quiz" / "answers.csv"
    rows = answers([("dcgan", "fake"), ("real", "fake")]).to_dict("records")
    append_answer(path, rows[0])
    first = path.read_text()
    append_answer(path, rows[1])
    assert path.read_text().startswith(first) and first.startswith(",".join(COLUMNS) + "\n")
    assert read_answers(run)["answer"].tolist() == ["fake", "fake"]
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DeepbenchError, match="not a deepbench answers file"):
        append_answer(path, rows[0])
    with pytest.raises(DeepbenchError, match="lacks the columns"):
        read_answers(run)


def test_the_human_table_shows_only_with_answers():
    results = {"name": "r", "dataset": "embedded", "seed": 0, "generators": [], "detectors": []}
    assert "Human evaluation" not in markdown_tables(results)
    assert markdown_tables({**results, "human": []}) == markdown_tables(results)
    human = human_rows(answers([("dcgan", "fake")] * 7 + [("dcgan", "real")] * 3 + [("real", "real")] * 2))
    text = markdown_tables({**results, "human": human})
    assert f"**{HUMAN_CAPTION}**" in text
    assert "| dcgan fakes | 10        | 2          | 0.700            | 0.397–0.892       | 0.300          |" in text
    assert "| reals       | 2         | 2          | 1.000            | 0.342–1.000       | —              |" in text
    assert "Human evaluation" in render_leaderboard([{**results, "human": human}])
