"""``deepbench generate``: train each requested GAN on a data set, then write its synthetic data set.

Several generators train one after another into the same run directory. With a checkpoint given, only
sampling happens. Sampling uses ``best.pt`` (the best-scoring step) when training kept one, else
``last.pt``, and says which.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark import data
from benchmark.images import ImageDataset
from benchmark.rundir import RunDir
from benchmark.runtime import resolve_device, seed_everything
from generators.registry import GANConfig, create_gan
from generators.sample import load_generator, sample_fakes
from generators.train import Scorer, TrainConfig, train

log = logging.getLogger(__name__)
ScorerFactory = Callable[[ImageDataset, ImageDataset], Scorer]


@dataclass
class GeneratedSet:
    generator: str
    fakes: Path
    num_samples: int
    checkpoint: Path
    step: int
    trained_steps: int | None
    seconds: float | None


def generate(dataset: str = data.DEFAULT_DATASET, generators: tuple[str, ...] = ("dcgan",),
             out: str | os.PathLike = "runs/default", train_config: TrainConfig | None = None,
             gan_config: GANConfig | None = None, checkpoint: str | os.PathLike | None = None,
             num_samples: int | None = None, resume: bool = False, device: str = "auto",
             data_root: str | os.PathLike | None = None, download: bool = False, channels: int | None = None,
             image_size: int | None = None, scorer_factory: ScorerFactory | None = None,
             progress: bool | None = None) -> list[GeneratedSet]:
    """Train (or, with ``checkpoint``, only sample) each generator and write ``generators/<name>/fakes``."""
    train_config = train_config or TrainConfig()
    seed_everything(train_config.seed)
    torch_device = resolve_device(device)
    train_set = data.load(dataset, "train", data_root, download, channels, image_size)
    test_set = data.load(dataset, "test", data_root, download, channels, image_size)
    run = RunDir(Path(out))
    run.start("generate", {"dataset": dataset, "generators": list(generators), "train": asdict(train_config),
                           "gan": asdict(gan_config or GANConfig()), "checkpoint": str(checkpoint or ""),
                           "channels": train_set.channels, "image_size": list(train_set.image_size),
                           "data_root": str(data.resolve_root(data_root)),
                           "fingerprint": train_set.fingerprint}, train_config.seed)
    count = num_samples or len(test_set)
    results = []
    if checkpoint is not None:
        loaded = load_generator(checkpoint, torch_device)
        results.append(_sample(run, loaded, count, train_config.seed, train_set.classes, None, None, progress))
    else:
        scorer = scorer_factory(train_set, test_set) if scorer_factory else None
        images, labels = train_set.tensors()
        for name in generators:
            gan = create_gan(name, train_set.channels, train_set.image_size, len(train_set.classes), gan_config)
            result = train(gan, images, labels, run.generator(name), train_config, torch_device, resume, scorer,
                           progress)
            best = run.checkpoints(name) / "best.pt"
            chosen = best if result.best_step is not None and best.exists() else result.checkpoint
            loaded = load_generator(chosen, torch_device)
            log.info("%s: sampling from %s (step %d of %d)", name, chosen.name, loaded.step, result.step)
            results.append(_sample(run, loaded, count, train_config.seed, train_set.classes, result.step,
                                   result.seconds, progress))
    run.finish("generate")
    return results


def _sample(run: RunDir, loaded, count: int, seed: int, classes: list[str], trained_steps: int | None,
            seconds: float | None, progress: bool | None) -> GeneratedSet:
    fakes = run.fakes(loaded.gan.name)
    sample_fakes(loaded, fakes, count, seed, classes=classes if loaded.gan.conditional else None, progress=progress)
    return GeneratedSet(loaded.gan.name, fakes, count, loaded.checkpoint, loaded.step, trained_steps, seconds)
