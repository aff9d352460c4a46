"""The generative adversarial metric (GAM) of Im et al. 2016: two GANs trained on the same data judge each other.

CapsuleGAN (Jaiswal et al. 2018) compared its GANs with it; no evaluation library has it. Each GAN's
discriminator D is shown the real test images and the other GAN's fakes, and ``error`` is the share it gets
wrong at probability 0.5 (reals it calls fake, fakes it calls real). With A and B the two GANs::

    r_test    = error(D_A, test reals)  / error(D_B, test reals)
    r_samples = error(D_A, fakes of B)  / error(D_B, fakes of A)

A wins when r_samples < 1 (A's discriminator is fooled less by B than B's is by A), B when it is above 1, on
the paper's condition that r_test is close to 1: otherwise one discriminator is simply the better classifier of
real images, and the sample ratio says nothing about the generators. How close (``TEST_TOLERANCE``) the paper
leaves open; 0.1 is ours. The verdict also asks that r_samples stay on one side of 1 across its 95% bootstrap
interval (reals and both fake sets resampled), so that a ratio that sampling alone could flip is no verdict.

A discriminator judges as it was trained: in training mode, on batches of its own training batch size that hold
one kind of image (all real or all fake), so that its BatchNorm layers normalise with the statistics of such a
batch, as they did for every decision it learned (its running statistics were never used in training). Each
GAN is read from the checkpoint its fakes were sampled from, and the fakes are its written data set (8-bit PNGs
of G(z)), the images every other metric judges.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import bootstrap

from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST, load_fakes
from benchmark.images import to_unit_range
from benchmark.rundir import RunDir
from benchmark.runtime import resolve_device
from generators.generate import DATA_KEYS
from generators.losses import real_probability
from generators.registry import GAN
from generators.sample import load_gan

TEST_TOLERANCE = 0.1  # r_test within 1 +- this for a verdict


@dataclass
class Judge:
    """One GAN of the comparison: its discriminator, where it came from, and its fakes."""

    folder: Path
    gan: GAN
    checkpoint: Path
    step: int
    batch_size: int
    fakes: torch.Tensor
    fake_labels: torch.Tensor


def generator_folder(folder: str | os.PathLike) -> tuple[RunDir, str]:
    """The run and the generator name of ``runs/R/generators/NAME``, which must hold fakes."""
    folder = Path(folder)
    run, name = RunDir(folder.parent.parent), folder.name
    if folder.parent.name != "generators" or not (run.fakes(name) / MANIFEST).exists():
        raise DeepbenchError(f"{folder} is not a generator folder with fakes; pass runs/RUN/generators/NAME after "
                             f"deepbench generate")
    return run, name


def load_judge(folder: str | os.PathLike, run: RunDir, name: str, data: dict, device: torch.device) -> Judge:
    """The discriminator of the checkpoint a generator's fakes came from (the manifest says which), and the fakes,
    of the shape ``data`` (the run's generate record) says."""
    fakes, manifest = load_fakes(run.fakes(name), data["channels"], tuple(data["image_size"]))
    checkpoint = run.checkpoints(name) / str(manifest["checkpoint"].iloc[0])
    if not checkpoint.is_file():
        raise DeepbenchError(f"{folder} has no checkpoint {checkpoint.name}: GAM compares GANs trained here, not "
                             f"imported fakes")
    state, gan = load_gan(checkpoint)
    if gan.discriminator is None:
        raise DeepbenchError(f"{folder} holds {name}, which trains without a discriminator: GAM compares two GANs "
                             f"by their discriminators")
    gan.discriminator.load_state_dict(state["discriminator"])
    gan.discriminator.to(device).train()
    labels = manifest["label"]
    fake_labels = torch.tensor(labels.astype(int).to_numpy()) if labels.notna().all() else torch.zeros(len(fakes))
    return Judge(Path(folder), gan, checkpoint, int(state["step"]), int(state["train"]["batch_size"]), fakes,
                 fake_labels.long())


@torch.no_grad()
def misjudged(judge: Judge, images: torch.Tensor, labels: torch.Tensor, real: bool) -> np.ndarray:
    """Per image, whether ``judge``'s discriminator gets it wrong: a real one called fake, or a fake called real."""
    discriminator = judge.gan.discriminator
    device = next(discriminator.parameters()).device
    labels = labels.long() if judge.gan.conditional else torch.zeros(len(images), dtype=torch.long)
    wrong = []
    for start in range(0, len(images), judge.batch_size):
        batch = to_unit_range(images[start:start + judge.batch_size].to(device))
        batch_labels = labels[start:start + judge.batch_size].to(device)
        output, _ = discriminator(batch, batch_labels if judge.gan.conditional else None)
        probability = real_probability(discriminator.loss, output, batch_labels).flatten()
        wrong.append((probability < 0.5 if real else probability >= 0.5).cpu())
    return torch.cat(wrong).numpy()


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 1 when both are 0 (two flawless judges), infinite when only the denominator is."""
    if numerator == denominator:
        return 1.0
    return math.inf if denominator == 0 else numerator / denominator


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, seed: int) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(numerator) / mean(denominator), the two samples resampled apart."""
    numerator, denominator = numerator.astype(float), denominator.astype(float)
    if np.ptp(numerator) == 0 and np.ptp(denominator) == 0:  # every resample gives the same ratio
        value = ratio(float(numerator.mean()), float(denominator.mean()))
        return value, value
    with np.errstate(divide="ignore", invalid="ignore"):
        result = bootstrap((numerator, denominator),
                           lambda a, b, axis: np.nan_to_num(a.mean(axis) / b.mean(axis), nan=1.0, posinf=np.inf),
                           method="percentile", n_resamples=2000, vectorized=True,
                           random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def verdict(test_ratio: float, sample_interval: tuple[float, float]) -> str:
    """``"a"``, ``"b"``, ``"tie"`` (both flawless or both equally fooled everywhere) or ``"none"``."""
    if abs(test_ratio - 1) > TEST_TOLERANCE:
        return "none"
    low, high = sample_interval
    if high < 1:
        return "a"
    if low > 1:
        return "b"
    return "tie" if low == high == 1 else "none"


def gam(folder_a: str | os.PathLike, folder_b: str | os.PathLike, device: str = "auto",
        data_root: str | os.PathLike | None = None, download: bool = False, seed: int = 0) -> dict:
    """GAM of two GANs (generator folders of runs on the same data), with error rates, ratios, their intervals
    and sample counts."""
    (run_a, name_a), (run_b, name_b) = generator_folder(folder_a), generator_folder(folder_b)
    data_a, data_b = run_a.generate_config(), run_b.generate_config()
    if any(data_a.get(key) != data_b.get(key) for key in DATA_KEYS):
        raise DeepbenchError(f"GAM compares GANs trained on the same data; {folder_a} learned "
                             f"{data_a.get('dataset')} and {folder_b} {data_b.get('dataset')} (or other images, "
                             f"channels or size)")
    torch_device = resolve_device(device)
    a, b = (load_judge(folder_a, run_a, name_a, data_a, torch_device),
            load_judge(folder_b, run_b, name_b, data_b, torch_device))
    reals, real_labels = run_a.data_config(data_root, download).load("test").tensors()
    wrong = {"a_reals": misjudged(a, reals, real_labels, True), "b_reals": misjudged(b, reals, real_labels, True),
             "a_on_b": misjudged(a, b.fakes, b.fake_labels, False),
             "b_on_a": misjudged(b, a.fakes, a.fake_labels, False)}
    errors = {name: float(values.mean()) for name, values in wrong.items()}
    test_interval = ratio_interval(wrong["a_reals"], wrong["b_reals"], seed)
    sample_interval = ratio_interval(wrong["a_on_b"], wrong["b_on_a"], seed)
    test_ratio = ratio(errors["a_reals"], errors["b_reals"])
    return {"a": str(a.folder), "b": str(b.folder), "checkpoint_a": str(a.checkpoint), "step_a": a.step,
            "checkpoint_b": str(b.checkpoint), "step_b": b.step, "samples_real": len(reals),
            "samples_fake_a": len(a.fakes), "samples_fake_b": len(b.fakes),
            "error_a_reals": errors["a_reals"], "error_b_reals": errors["b_reals"],
            "error_a_on_b_fakes": errors["a_on_b"], "error_b_on_a_fakes": errors["b_on_a"],
            "test_ratio": test_ratio, "test_ratio_interval": list(test_interval),
            "sample_ratio": ratio(errors["a_on_b"], errors["b_on_a"]), "sample_ratio_interval": list(sample_interval),
            "test_tolerance": TEST_TOLERANCE, "winner": verdict(test_ratio, sample_interval)}


def gam_lines(result: dict) -> list[str]:
    """The human form: who judged what, on how many images, the two ratios with their intervals, the verdict."""
    def interval(key: str) -> str:
        low, high = result[f"{key}_interval"]
        return f"{result[key]:.3f} [{low:.3f}, {high:.3f}]"

    winner = {"a": f"A ({result['a']}) wins", "b": f"B ({result['b']}) wins",
              "tie": "a tie: neither discriminator errs differently from the other",
              "none": (f"none: r_test is not within {result['test_tolerance']} of 1, so one discriminator is the "
                       f"better judge of reals" if abs(result["test_ratio"] - 1) > result["test_tolerance"] else
                       "none: the 95% interval of r_samples includes 1")}[result["winner"]]
    return [f"A: {result['a']} ({Path(result['checkpoint_a']).name}, step {result['step_a']}); "
            f"B: {result['b']} ({Path(result['checkpoint_b']).name}, step {result['step_b']})",
            f"images: {result['samples_real']} real test images, {result['samples_fake_a']} fakes of A, "
            f"{result['samples_fake_b']} of B",
            f"error on reals: D_A {result['error_a_reals']:.3f}, D_B {result['error_b_reals']:.3f}; "
            f"r_test {interval('test_ratio')}",
            f"error on the other's fakes: D_A on B's {result['error_a_on_b_fakes']:.3f}, D_B on A's "
            f"{result['error_b_on_a_fakes']:.3f}; r_samples {interval('sample_ratio')}",
            f"winner: {winner}"]
