"""The README's screenshots of ``deepbench quiz``: a question and a score screen, taken in headless Chromium.

Serves the quiz on a copy of the run (so its ``quiz/answers.csv`` gets no made-up answers), answers every
round at random with the R and F keys as a person would, and saves ``quiz-question.png`` and ``quiz-score.png``.
Needs Debian's ``chromium`` and ``chromium-driver``.
Usage: ``python benchmarks/quiz_screenshots.py --run runs/quick/mnist [--out docs/images] [--rounds 40]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import threading
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from reports.quiz.app import serve
from reports.quiz.session import Quiz

LEFT_OUT = shutil.ignore_patterns("checkpoints", "samples", "report", "quiz", "training.pt")  # not needed to serve


def chromium(width: int, height: int) -> webdriver.Chrome:
    """Headless Chromium through the system's chromedriver, so Selenium downloads nothing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        raise SystemExit("needs chromium and chromedriver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars"):
        options.add_argument(argument)
    session = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    session.set_window_size(width, height)
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="A run with fakes and detectors.")
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="Folder of the two PNGs.")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the deck and of the random answers.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / args.run.name
        shutil.copytree(args.run, run, ignore=LEFT_OUT)
        server = serve(Quiz(run, args.rounds, args.seed), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        browser = chromium(720, 700)
        answers = random.Random(args.seed)
        try:
            browser.get(f"http://127.0.0.1:{server.server_port}/")
            wait = WebDriverWait(browser, 20)
            for number in range(1, args.rounds + 1):
                wait.until(ready.text_to_be_present_in_element((By.ID, "progress"), f"Image {number} of"))
                wait.until(ready.element_to_be_clickable((By.ID, "answer-real")))
                if number == 3:
                    browser.save_screenshot(args.out / "quiz-question.png")
                browser.find_element(By.TAG_NAME, "body").send_keys(answers.choice("rf"))
            wait.until(ready.visibility_of_element_located((By.ID, "score")))
            browser.save_screenshot(args.out / "quiz-score.png")
        finally:
            browser.quit()
            server.shutdown()
    print(f"wrote {args.out / 'quiz-question.png'} and {args.out / 'quiz-score.png'}")


if __name__ == "__main__":
    main()
