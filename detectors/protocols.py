"""The detection protocols' image sets: each generator's fakes raw and statistics-matched, split and paired with reals.

One place builds what every detector and baseline of a ``detect`` call trains and is evaluated on, so that
they all see the same images: fakes loaded once, split 70/10/20 by a seeded permutation
(:mod:`detectors.sets`), statistics matching fitted on the training fakes (:mod:`detectors.matching`), format
matching last (:mod:`detectors.formats`), and the held-out sets of every generator and extra folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark import data
from benchmark.fakes import load_fakes
from benchmark.images import RESIZE_METHOD
from benchmark.rundir import RunDir
from detectors.formats import JpegSettings, match_format, real_jpeg_settings
from detectors.matching import fit_statistics_match, matched_half
from detectors.sets import (
    LabelledImages,
    fake_split,
    fake_split_indices,
    folder_halves,
    held_out_digest,
    held_out_set,
    union_members,
    union_training_sets,
)


@dataclass
class DetectionSets:
    """The images of one ``detect`` call, under each protocol.

    ``raw``: the fakes as written (after format matching). ``matched``: the fakes also passed through
    statistics matching (:mod:`detectors.matching`), the headline protocol when matching is on. Learned
    detectors train on the raw fakes with a seeded random half matched, so that neither protocol rewards
    a shortcut; they are evaluated under both. Baselines train and are evaluated under each protocol apart,
    so that they measure what a trivial statistic separates under that protocol.
    """

    real_train: torch.Tensor
    fakes: dict[str, dict[str, torch.Tensor]]  # protocol -> generator -> fakes
    mixed: dict[str, torch.Tensor]  # generator -> training fakes, half of them matched
    eval_sets: dict[str, dict[str, LabelledImages]]  # protocol -> eval set name -> held-out set
    held_out: dict[str, str]
    matches: dict[str, dict]  # eval set name -> the fitted statistics match's record
    resized: dict[str, str]
    seed: int

    def training(self, generator: str) -> tuple[LabelledImages, LabelledImages]:
        """The networks' (train, validation) sets of one generator, or of a union ``a+b+c``."""
        return union_training_sets(self.real_train, [self.mixed[g] for g in union_members(generator)], self.seed)

    def baseline_training(self, protocol: str, generator: str) -> tuple[LabelledImages, LabelledImages]:
        return union_training_sets(self.real_train, [self.fakes[protocol][g] for g in union_members(generator)],
                                   self.seed)


def assemble_sets(run: RunDir, generators: list[str], eval_fakes: dict[str, Path], real_train: torch.Tensor,
                  real_test: torch.Tensor, shape: dict, settings: JpegSettings | None, match_statistics: str,
                  seed: int) -> DetectionSets:
    """Load every generator's fakes and extra folder once, and build each protocol's sets from them.

    Statistics matching comes first (on the fakes as generated), then format matching, so the fakes end with
    the reals' JPEG settings whatever else was done to them. A generator's match is fitted on its training
    fakes alone: fitted on all of them, the matched held-out fakes would deviate from the reals' histogram
    opposite to the training fakes, and a baseline would score them inverted. An extra folder, never trained
    on, is fitted on one half of its fakes and evaluated on the other (:func:`detectors.sets.folder_halves`).
    """
    protocols = ("matched", "raw") if match_statistics == "auto" else ("raw",)
    fakes = {protocol: {} for protocol in protocols}
    mixed, held_out, matches, resized, extra = {}, {}, {}, {}, {}
    for generator in generators:
        images, manifest = load_fakes(run.fakes(generator), **shape)
        fakes["raw"][generator] = match_format(images, settings)
        test_files = manifest["file"].iloc[fake_split_indices(len(images), "test", seed).numpy()].tolist()
        held_out[generator] = held_out_digest(test_files, len(real_test), seed)
        mixed[generator] = fakes["raw"][generator]
        if match_statistics == "auto":
            match = fit_statistics_match(fake_split(images, "train", seed), real_train)
            fakes["matched"][generator] = match_format(match(images), settings)
            mixed[generator] = match_format(matched_half(images, match, seed), settings)
            matches[generator] = match.record()
    for name, folder in eval_fakes.items():
        dataset = data.load(f"folder:{folder}", "train", channels=shape["channels"], image_size=shape["image_size"])
        images, _ = dataset.tensors()
        fitted, evaluated = folder_halves(len(images), seed)
        jpeg = settings if settings is not None and real_jpeg_settings(dataset) is None else None
        extra[name] = {"raw": match_format(images[evaluated], jpeg)}
        if match_statistics == "auto":
            match = fit_statistics_match(images[fitted], real_train)
            extra[name]["matched"] = match_format(match(images[evaluated]), jpeg)
            matches[name] = match.record()
        resized[f"eval_fakes:{name}"] = f"resized to {shape['image_size']} by {RESIZE_METHOD}"
    eval_sets = {protocol: {g: held_out_set(real_test, fake_split(f, "test", seed), seed) for g, f in
                            fakes[protocol].items()} for protocol in protocols}
    for name, versions in extra.items():
        for protocol in protocols:
            eval_sets[protocol][name] = held_out_set(real_test, versions[protocol], seed)
    return DetectionSets(real_train, fakes, mixed, eval_sets, held_out, matches, resized, seed)
