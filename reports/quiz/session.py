"""The "real or fake?" quiz: sessions that show held-out images one at a time and record each answer.

What reaches the browser never tells the truth before the answer: each shown image gets a fresh random token,
and only the server knows which image, source and truth it stands for. The page, the image URL and every
reply before the last answer hold nothing but tokens and round numbers; no answer gets feedback either, so a
person cannot learn a generator's tell while being measured.

After the last round the session's score compares the person with the run's best detector on the very same
images, at its own threshold. The best is the one with the highest mean AUC on the validation splits of every
generator of the run, the same sets for every detector: the held-out images are what the person and the detector
are scored on, so they must not also choose the detector.
"""

from __future__ import annotations

import itertools
import math
import secrets
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from benchmark.errors import DeepbenchError
from benchmark.files import read_json
from benchmark.rundir import RunDir, now
from detectors.detector import Detector
from detectors.sets import union_members
from reports.quiz.answers import FAKE, REAL, append_answer, read_answers
from reports.quiz.deck import Card, HeldOut, enlarged_png

ANSWERS = (REAL, FAKE)
LONGEST_RESPONSE_MS = 24 * 3600 * 1000  # anything longer is a clock error, not an answer


class QuizRequestError(Exception):
    """A request the quiz refuses, with the HTTP status that says why (400 bad input, 404 unknown, 409 too late)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Session:
    """One person's pass through a deck; ``tokens[i]`` is the token of round ``i``, issued when it is shown."""

    id: str
    seed: int
    deck: list[Card]
    tokens: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return len(self.answers) == len(self.deck)


def best_detector(run: RunDir, generators: list[str]) -> tuple[str, Path] | None:
    """(name, checkpoint) of the trained detector, trained on ``generators``' fakes, with the highest mean
    validation AUC over the run's generators; None when none recorded one (detectors trained before it was)."""
    best, best_auc = None, -math.inf
    for files in run.detectors():
        if not files.checkpoint.is_file():
            continue
        record = read_json(files.evaluation, "eval")
        auc = record.get("validation_auc")
        trained_on = set(union_members(record.get("train_generator", "")))
        if auc is not None and trained_on <= set(generators) and auc > best_auc:
            best, best_auc = (files.name, files.checkpoint), auc
    return best


class Quiz:
    """The sessions of one ``deepbench quiz`` server over one run; safe to call from several threads."""

    def __init__(self, run_dir: str | Path, rounds: int = 40, seed: int = 0, data_root=None, download: bool = False):
        self.run = RunDir(Path(run_dir))
        if not self.run.run_json.exists():
            raise DeepbenchError(f"{self.run.root} is not a run directory (no run.json); pass the --out of "
                                 f"deepbench generate")
        self.held_out = HeldOut(self.run, data_root, download)
        self.held_out.check_rounds(rounds)
        self.rounds = rounds
        recorded = read_answers(self.run)["session"].nunique()  # a new server goes on where the file ends
        self._seeds = itertools.count(seed + recorded)
        self._shown: dict[str, tuple[Session, int]] = {}  # token -> (session, round index)
        self._lock = threading.Lock()

    @property
    def answers_file(self) -> Path:
        return self.run.quiz_answers

    def start(self) -> dict:
        """A new session with its own seeded deck, and its first round."""
        with self._lock:
            seed = next(self._seeds)
            session = Session(secrets.token_hex(8), seed, self.held_out.draw(self.rounds, seed))
            return self._next_round(session)

    def image(self, token: str) -> bytes:
        """The enlarged PNG of a shown round."""
        with self._lock:
            if token not in self._shown:
                raise QuizRequestError(404, "no such image")
            session, index = self._shown[token]
            return enlarged_png(self.held_out.image(session.deck[index]))

    def answer(self, session_id: str, token: str, answer: str, response_ms) -> dict:
        """Record the answer to the current round; the next round, or after the last one the score."""
        if answer not in ANSWERS:
            raise QuizRequestError(400, f"answer must be one of {', '.join(ANSWERS)}")
        is_number = isinstance(response_ms, int | float) and not isinstance(response_ms, bool)
        if not (is_number and 0 <= response_ms <= LONGEST_RESPONSE_MS):
            raise QuizRequestError(400, "ms must be the response time in milliseconds")
        with self._lock:
            session, index = self._shown.get(token, (None, None))
            if session is None or session.id != session_id:
                raise QuizRequestError(404, "no such session or image")
            if index < len(session.answers):
                raise QuizRequestError(409, "this image was answered already")
            card = session.deck[len(session.answers)]
            append_answer(self.answers_file, {
                "session": session.id, "seed": session.seed, "round": len(session.answers) + 1,
                "image": card.image_id, "source": card.source, "truth": card.truth, "answer": answer,
                "correct": answer == card.truth, "response_ms": round(response_ms), "answered_at": now()})
            session.answers.append(answer)
            return {"done": True, "score": self.score(session)} if session.finished else self._next_round(session)

    def _next_round(self, session: Session) -> dict:
        token = secrets.token_hex(16)
        self._shown[token] = (session, len(session.tokens))
        session.tokens.append(token)
        return {"done": False, "session": session.id, "round": len(session.tokens), "rounds": len(session.deck),
                "token": token, "image_url": f"/image/{token}.png"}

    @cached_property
    def detector(self) -> tuple[str, Detector] | None:
        found = best_detector(self.run, self.held_out.generators)
        return None if found is None else (found[0], Detector.load(found[1]))

    def score(self, session: Session) -> dict:
        """Correct answers of the person and of the best detector: all images, the reals, each generator's fakes."""
        truths = [card.truth for card in session.deck]
        machine = None
        if self.detector is not None:
            predicted = self.detector[1].predict(self.held_out.images(session.deck))
            machine = [FAKE if label else REAL for label in predicted]
        groups = [("all images", list(range(len(truths)))),
                  ("reals", [i for i, card in enumerate(session.deck) if card.source == REAL])]
        groups += [(f"{generator} fakes", [i for i, card in enumerate(session.deck) if card.source == generator])
                   for generator in self.held_out.generators]
        rows = []
        for label, indices in groups:
            you = sum(session.answers[i] == truths[i] for i in indices)
            detector = None if machine is None else sum(machine[i] == truths[i] for i in indices)
            rows.append({"images": label, "count": len(indices), "you": you, "detector": detector})
        note = (f"detector: {self.detector[0]}, the run's best by held-out AUC" if self.detector is not None else
                f"no detector in this run yet: deepbench detect --run {self.run.root} trains one")
        return {"rows": rows, "detector": None if self.detector is None else self.detector[0], "note": note}
