"""The images of the "real or fake?" quiz: a run's held-out reals and fakes, and a balanced deck drawn from them.

Only images no detector trained on are shown, so a person and the best detector are compared on equal terms:
the reals of the data set's test split, and each generator's test part of its fakes (``detectors.sets
.fake_split`` with the seed the run's detectors used). When the reals are JPEG files the fakes pass through
the same JPEG settings, as ``deepbench detect`` does by default, so "is it a JPEG?" gives nothing away.

Each image has a stable id for the answers file (``real:123`` is the 124th image of the test split, ``dcgan:45``
the fake in row 45 of the generator's manifest): the same image keeps its id in every session, so answers
from many sessions can be pooled per image.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import torch
from PIL import Image

from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST, load_fakes
from benchmark.rundir import RunDir
from detectors.formats import match_format, real_jpeg_settings
from detectors.sets import fake_split
from reports.quiz.answers import FAKE, REAL

SHOWN_SIZE = 280  # pixels of the longer side an image is enlarged to, about, so a 28 px digit is readable


@dataclass(frozen=True)
class Card:
    """One image of a deck: where it comes from, and its number there (test-split index or manifest row)."""

    source: str  # "real" or a generator's name
    number: int

    @property
    def truth(self) -> str:
        return REAL if self.source == REAL else FAKE

    @property
    def image_id(self) -> str:
        return f"{self.source}:{self.number}"


class HeldOut:
    """A run's held-out images by source: ``"real"`` and each generator with fakes."""

    def __init__(self, run: RunDir, data_root=None, download: bool = False):
        self.reals = run.data_config(data_root, download).load("test")
        generators = [g for g in run.generators() if (run.fakes(g) / MANIFEST).exists()]
        if not generators:
            raise DeepbenchError(f"{run.root} has no fakes to show; run deepbench generate --out {run.root} first")
        seed, settings = run.detect_seed(), real_jpeg_settings(self.reals)
        self.numbers = {REAL: list(range(len(self.reals)))}
        self.fakes = {}
        for generator in generators:
            fakes, _ = load_fakes(run.fakes(generator), self.reals.channels, self.reals.image_size)
            rows = fake_split(torch.arange(len(fakes)), "test", seed)
            self.numbers[generator] = rows.tolist()
            self.fakes[generator] = dict(zip(self.numbers[generator], match_format(fakes[rows], settings),
                                             strict=True))

    @property
    def generators(self) -> list[str]:
        return list(self.fakes)

    def image(self, card: Card) -> torch.Tensor:
        """The uint8 (C, H, W) image of ``card``."""
        return self.reals[card.number][0] if card.source == REAL else self.fakes[card.source][card.number]

    def images(self, cards: list[Card]) -> torch.Tensor:
        return torch.stack([self.image(card) for card in cards])

    def check_rounds(self, rounds: int) -> None:
        """Refuse a round count that cannot be balanced, or that needs more images than a source holds."""
        sources = 1 + len(self.generators)
        if rounds < 2 * sources or rounds % 2:
            raise DeepbenchError(f"--rounds must be even and at least {2 * sources} (twice the {sources} sources: "
                                 f"reals and {', '.join(self.generators)}), got {rounds}")
        fakes_each = -(-rounds // 2 // len(self.generators))  # the most any generator is asked for
        short = {source: len(numbers) for source, numbers in self.numbers.items()
                 if len(numbers) < (rounds // 2 if source == REAL else fakes_each)}
        if short:
            held = ", ".join(f"{source} {count}" for source, count in short.items())
            raise DeepbenchError(f"too few held-out images for {rounds} rounds ({held}); pass fewer --rounds or "
                                 f"generate more fakes (--num-samples)")

    def draw(self, rounds: int, seed: int) -> list[Card]:
        """A deck of ``rounds`` distinct images in a seeded order: half reals, half fakes shared evenly by the
        generators (the odd ones out go to generators drawn at random), so always answering "fake" scores 50%."""
        self.check_rounds(rounds)
        rng = random.Random(seed)
        fakes = rounds // 2
        counts = {g: fakes // len(self.generators) for g in self.generators}
        for generator in rng.sample(self.generators, fakes % len(self.generators)):
            counts[generator] += 1
        deck = [Card(source, number) for source, count in [(REAL, rounds // 2), *counts.items()]
                for number in rng.sample(self.numbers[source], count)]
        rng.shuffle(deck)
        return deck


def enlarged_png(image: torch.Tensor, size: int = SHOWN_SIZE) -> bytes:
    """``image`` (uint8 C, H, W) as a PNG enlarged by a whole factor with nearest-neighbour scaling: every pixel
    becomes a sharp square, so nothing is smoothed away or invented. A fresh PNG carries no metadata."""
    channels, height, width = image.shape
    factor = max(1, round(size / max(height, width)))
    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[:, :, 0] if channels == 1 else array)
    buffer = io.BytesIO()
    picture.resize((width * factor, height * factor), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()
