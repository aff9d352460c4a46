"""Human evaluation results: the answers ``deepbench quiz`` records, and what they say per generator.

Every answer is one row of ``quiz/answers.csv`` in the run. The file only grows: each answer rewrites it
atomically with one more row (earlier rows byte for byte as they were), so a closed tab or a killed server
loses at most the answer being written, and several people, or one person on several days, add their
sessions to the same file.

Per source (each generator's fakes, and the reals) the table gives the share of correct answers with its 95%
Wilson interval, which stays inside [0, 1] and is honest at the few dozen answers a quiz collects, where the
normal approximation is not; and, for fakes, the fooling rate: the share judged real.
"""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest

from benchmark.errors import DeepbenchError
from benchmark.files import write_text
from benchmark.rundir import RunDir

COLUMNS = ("session", "seed", "round", "image", "source", "truth", "answer", "correct", "response_ms", "answered_at")
REAL, FAKE = "real", "fake"
_writing = threading.Lock()  # one server answers from several threads; each append must see the one before


def append_answer(path: Path, row: dict) -> None:
    """Add one answer to ``path`` atomically: the old rows unchanged, then this one."""
    line = io.StringIO()
    csv.DictWriter(line, COLUMNS, lineterminator="\n").writerow({key: row[key] for key in COLUMNS})
    with _writing:
        old = path.read_text(encoding="utf-8") if path.is_file() else ",".join(COLUMNS) + "\n"
        if old.partition("\n")[0] != ",".join(COLUMNS):
            raise DeepbenchError(f"{path} is not a deepbench answers file (its header differs); move it away "
                                 f"and start the quiz again")
        write_text(path, old + line.getvalue())


def read_answers(run: RunDir) -> pd.DataFrame:
    """Every recorded answer, or an empty frame when nobody has taken the quiz."""
    path = run.quiz_answers
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    try:
        answers = pd.read_csv(path, dtype={"session": str, "image": str, "source": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DeepbenchError(f"{path} is not a readable CSV ({error}); restore it or move it away") from None
    missing = set(COLUMNS) - set(answers.columns)
    if missing:
        raise DeepbenchError(f"{path} lacks the columns {', '.join(sorted(missing))}; restore it or move it away")
    return answers


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """The 95% Wilson score interval of ``correct`` successes in ``total`` trials."""
    interval = binomtest(correct, total).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def human_rows(answers: pd.DataFrame) -> list[dict]:
    """One row per generator's fakes (sorted by name), then one for the reals; none without answers."""
    rows = []
    sources = sorted(set(answers["source"]) - {REAL}) + ([REAL] if (answers["source"] == REAL).any() else [])
    for source in sources:
        given = answers[answers["source"] == source]
        total = len(given)
        correct = int((given["answer"] == given["truth"]).sum())
        low, high = wilson_interval(correct, total)
        fooled = None if source == REAL else float((given["answer"] == REAL).mean())
        rows.append({"source": source, "answers": total, "sessions": int(given["session"].nunique()),
                     "accuracy": correct / total, "ci_low": low, "ci_high": high, "fooling_rate": fooled})
    return rows
