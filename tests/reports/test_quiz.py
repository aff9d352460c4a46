"""``deepbench quiz``: balanced seeded decks of held-out images, a page and API that never tell the truth before
the answer, answers appended atomically per answer, refused repeats, an honest score, and the page driven in a
real headless Chromium."""

import io
import json
import re
import shutil
import threading
from collections import Counter

import pandas as pd
import pytest
import torch
from PIL import Image

from benchmark.errors import DeepbenchError
from benchmark.fakes import read_manifest
from benchmark.files import write_json
from benchmark.rundir import RunDir
from detectors.detector import Detector
from detectors.sets import fake_split
from reports.presentation import report as report_module
from reports.quiz.answers import COLUMNS
from reports.quiz.app import create_app, serve
from reports.quiz.deck import HeldOut
from reports.quiz.session import Quiz, best_detector
from tests.tiny_run import invoke, make_tiny_run

GENERATORS = ("capsgan", "dcgan")


@pytest.fixture(scope="module")
def quizzed_run(tmp_path_factory):
    """Two tiny generators on one digit class (60 fakes each, 12 held out) and a cnn detector on each."""
    root = tmp_path_factory.mktemp("quiz")
    return make_tiny_run(root / "run", root / "cache", "--dataset", "embedded:0",
                         *(f"--generator={g}" for g in GENERATORS), "--num-samples", "60",
                         detect_args=["--epochs", "1", "--perturbation", "none"])


@pytest.fixture
def run(quizzed_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(quizzed_run, copy)
    return copy


@pytest.fixture
def client(run):
    return create_app(Quiz(run, rounds=10)).test_client()


def play(client, answers):
    """Answer one session's rounds in order; every reply, the page's first round and the last reply's score."""
    replies = [client.post("/api/session").get_json()]
    for answer in answers:
        current = replies[-1]
        response = client.post("/api/answer", json={"session": current["session"], "token": current["token"],
                                                    "answer": answer, "ms": 250})
        assert response.status_code == 200, response.get_json()
        replies.append(response.get_json())
    return replies


def read_answers(run):
    return pd.read_csv(run / "quiz" / "answers.csv", dtype={"session": str})


def test_a_deck_is_balanced_distinct_seeded_and_held_out(run):
    held_out = HeldOut(RunDir(run))
    deck = held_out.draw(10, seed=3)
    counts = Counter(card.source for card in deck)
    assert counts["real"] == 5 and sorted(counts[g] for g in GENERATORS) == [2, 3]
    assert len({card.image_id for card in deck}) == 10
    assert held_out.draw(10, seed=3) == deck and held_out.draw(10, seed=4) != deck
    test_rows = set(fake_split(torch.arange(60), "test", 0).tolist())  # the fakes no detector trained on
    assert all(card.number in test_rows for card in deck if card.source != "real")
    assert held_out.numbers["real"] == list(range(len(held_out.reals)))  # the test split's reals


def test_round_counts_that_cannot_be_balanced_or_filled_are_refused(run):
    for rounds, words in ((7, "even"), (4, "at least 6"), (60, "too few held-out images")):
        with pytest.raises(DeepbenchError, match=words):
            Quiz(run, rounds=rounds)
    result = invoke("quiz", "--run", str(run), "--rounds", "5")
    assert result.exit_code == 2 and "--rounds must be even" in result.output
    usage = invoke("quiz", "--help").output
    assert all(option in usage for option in ("--run", "--port", "--host", "--rounds", "--seed"))


def test_nothing_before_the_answer_reveals_the_truth(run, client):
    page = client.get("/")
    rounds = play(client, ["real", "fake"] * 5)
    before = rounds[:-1]  # every reply but the last, which holds the score
    hidden = set(GENERATORS)
    for generator in GENERATORS:
        hidden |= set(read_manifest(run / "generators" / generator / "fakes")["file"])
    hidden |= set(read_answers(run)["image"])  # the image ids, e.g. real:12 or dcgan:45
    texts = [page.get_data(as_text=True), *(json.dumps(reply) for reply in before)]
    for text in texts:
        assert not any(secret in text for secret in hidden)
    for reply in before:
        assert set(reply) == {"done", "session", "round", "rounds", "token", "image_url"}
        assert re.fullmatch(r"/image/[0-9a-f]{32}\.png", reply["image_url"]) and reply["token"] in reply["image_url"]
        assert not re.search("real|fake", json.dumps(reply), re.IGNORECASE)
        image = client.get(reply["image_url"])
        assert image.mimetype == "image/png" and not Image.open(io.BytesIO(image.data)).info
        assert not re.search("real|fake", str(image.headers), re.IGNORECASE)
    img_tag = re.search(r"<img[^>]*>", page.get_data(as_text=True)).group(0)
    assert not re.search("real|fake|src=", img_tag, re.IGNORECASE)
    assert page.get_data() == client.get("/").get_data()  # the page is the same for every image and session
    assert Image.open(io.BytesIO(client.get(before[0]["image_url"]).data)).size == (280, 280)  # 28 px x 10


def test_answers_are_appended_atomically_and_sessions_add_up(run, client):
    first = ["fake"] * 10
    play(client, first)
    after_one = (run / "quiz" / "answers.csv").read_text()
    play(client, ["real"] * 10)
    assert (run / "quiz" / "answers.csv").read_text().startswith(after_one)  # earlier rows byte for byte
    assert not list((run / "quiz").glob(".*.tmp"))
    answers = read_answers(run)
    assert list(answers.columns) == list(COLUMNS) and len(answers) == 20
    sessions = list(dict.fromkeys(answers["session"]))
    assert len(sessions) == 2 and list(answers["seed"].unique()) == [0, 1]
    assert list(answers["round"]) == list(range(1, 11)) * 2
    assert list(answers["answer"]) == ["fake"] * 10 + ["real"] * 10
    truths = answers["source"].map(lambda source: "real" if source == "real" else "fake")
    assert (answers["truth"] == truths).all()
    assert (answers["correct"] == (answers["answer"] == answers["truth"])).all()
    assert (answers["image"].str.split(":").str[0] == answers["source"]).all()
    assert (answers["response_ms"] == 250).all() and answers["answered_at"].str.endswith("+00:00").all()
    play(create_app(Quiz(run, rounds=10)).test_client(), ["real"])  # a new server, as on another day
    assert read_answers(run)["seed"].iloc[-1] == 2  # goes on with the next seed: no recorded order repeats


def test_repeated_unknown_and_malformed_answers_are_refused(run, client):
    current = client.post("/api/session").get_json()
    answer = {"session": current["session"], "token": current["token"], "answer": "real", "ms": 100}
    assert client.post("/api/answer", json=answer).status_code == 200
    assert client.post("/api/answer", json=answer).status_code == 409
    assert client.post("/api/answer", json={**answer, "token": "0" * 32}).status_code == 404
    assert client.post("/api/answer", json={**answer, "session": "nobody"}).status_code == 404
    assert client.post("/api/answer", json={**answer, "answer": "maybe"}).status_code == 400
    assert client.post("/api/answer", json={**answer, "ms": -1}).status_code == 400
    assert client.post("/api/answer", data="not json").status_code == 400
    assert client.get("/image/" + "0" * 32 + ".png").status_code == 404
    assert len(read_answers(run)) == 1


def test_the_score_is_a_hand_count_for_the_person_and_the_best_detector(run, client):
    replies = play(client, ["fake", "fake", "real", "fake", "real", "real", "fake", "real", "real", "fake"])
    score = replies[-1]["score"]
    answers = read_answers(run)
    name, checkpoint = best_detector(RunDir(run), list(GENERATORS))
    assert score["detector"] == name and name in score["note"]
    held_out = HeldOut(RunDir(run))
    deck = held_out.draw(10, seed=0)  # the first session's seed
    assert [card.image_id for card in deck] == list(answers["image"])
    predicted = Detector.load(checkpoint).predict(held_out.images(deck))
    machine = pd.Series(["fake" if p else "real" for p in predicted])
    rows = {row["images"]: row for row in score["rows"]}
    assert list(rows) == ["all images", "reals", *(f"{g} fakes" for g in GENERATORS)]
    for label, chosen in [("all images", answers.index == answers.index), ("reals", answers["source"] == "real"),
                          *((f"{g} fakes", answers["source"] == g) for g in GENERATORS)]:
        assert rows[label]["count"] == chosen.sum()
        assert rows[label]["you"] == answers["correct"][chosen].sum()
        assert rows[label]["detector"] == (machine[chosen] == answers["truth"][chosen]).sum()


def test_without_detectors_the_score_says_how_to_train_one(run):
    shutil.rmtree(run / "detectors")
    score = play(create_app(Quiz(run, rounds=6)).test_client(), ["real"] * 6)[-1]["score"]
    assert score["detector"] is None and all(row["detector"] is None for row in score["rows"])
    assert "deepbench detect --run" in score["note"]


BROWSER, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (BROWSER and DRIVER), reason="needs Debian's chromium and chromium-driver packages "
                                                      "(apt-get install chromium chromium-driver)")
def test_a_person_answers_ten_rounds_in_a_real_browser(run):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    server = serve(Quiz(run, rounds=10), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    keys = "rfrrffrfrf"
    try:
        browser.get(f"http://127.0.0.1:{server.server_port}/")
        wait = WebDriverWait(browser, 20)
        for number, key in enumerate(keys, start=1):
            wait.until(ready.text_to_be_present_in_element((By.ID, "progress"), f"Image {number} of 10"))
            wait.until(ready.element_to_be_clickable((By.ID, "answer-real")))  # the image has loaded
            browser.find_element(By.TAG_NAME, "body").send_keys(key)
        wait.until(ready.visibility_of_element_located((By.ID, "score")))
        cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                 for row in browser.find_elements(By.CSS_SELECTOR, "#score-table tbody tr")]
    finally:
        browser.quit()
        server.shutdown()
    answers = read_answers(run)
    assert len(answers) == 10 and answers["session"].nunique() == 1
    assert list(answers["answer"]) == ["real" if key == "r" else "fake" for key in keys]
    assert (answers["correct"] == (answers["answer"] == answers["truth"])).all()
    assert (answers["response_ms"] >= 0).all()
    right = int(answers["correct"].sum())
    assert cells[0][:3] == ["all images", "10", f"{round(100 * right / 10)}% ({right}/10)"]
    assert [row[0] for row in cells] == ["all images", "reals", *(f"{g} fakes" for g in GENERATORS)]


def test_the_report_shows_the_answers_as_a_human_evaluation_table(run, client, monkeypatch):
    monkeypatch.setattr(report_module, "generator_metrics", lambda run, generator, *args: {"generator": generator})
    page, table = run / "report" / "index.html", run / "report" / "leaderboard.md"
    report_module.report(run)
    assert "Human evaluation" not in page.read_text() and "Human evaluation" not in table.read_text()
    play(client, ["fake"] * 10)
    result = report_module.report(run)
    answers = read_answers(run)
    human = {row["source"]: row for row in result.results["human"]}
    assert list(human) == [*GENERATORS, "real"]
    for source, row in human.items():
        given = answers[answers["source"] == source]
        assert row["answers"] == len(given) and row["accuracy"] == given["correct"].mean()
    assert human["real"]["accuracy"] == 0 and human["dcgan"]["fooling_rate"] == 0
    assert "Human evaluation" in page.read_text() and "95% CI (Wilson)" in page.read_text()
    assert "| dcgan fakes" in table.read_text()
    csv = pd.read_csv(run / "report" / "leaderboard.csv")
    assert sorted(csv[csv["kind"] == "human"]["source"]) == sorted([*GENERATORS, "real"])


def test_the_best_detector_is_chosen_on_validation_never_on_the_held_out_images(tmp_path):
    """The person and the detector are scored on held-out images, so the held-out AUC must not pick the detector:
    here the held-out favourite is the validation loser."""
    run = RunDir(tmp_path)
    for name, validation, held_out in [("cnn", 0.90, 1.00), ("capsule", 0.95, 0.60), ("resnet", None, 1.00)]:
        files = run.detector(name, "dcgan")
        files.folder.mkdir(parents=True)
        files.checkpoint.write_bytes(b"")
        write_json(files.evaluation, {"detector": name, "train_generator": "dcgan", "validation_auc": validation,
                                      "results": [{"eval_set": "dcgan", "perturbation": "none", "auc": held_out}]},
                   "eval")
    assert best_detector(run, ["dcgan"]) == ("capsule@dcgan", run.detector("capsule", "dcgan").checkpoint)
    assert best_detector(run, ["sngan"]) is None  # none trained on this run's generators
