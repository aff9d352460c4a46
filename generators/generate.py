"""``deepbench generate``: train each requested GAN on a data set, then write its synthetic data set.

Several generators train one after another into the same run directory. With a checkpoint given, only
sampling happens (``--sampling-steps`` then sets ddpm's DDIM steps; other options are the checkpoint's).
Sampling uses ``best.pt`` (the best-scoring step) when training kept one, else ``last.pt``, and says which.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark import data, distributed
from benchmark.errors import DeepbenchError
from benchmark.images import ImageDataset
from benchmark.options import refuse_resume_with_force
from benchmark.rundir import RunDir
from benchmark.runtime import resolve_device, seed_everything
from generators.registry import GENERATORS, GANConfig, create_gan, sampling_options
from generators.sample import load_generator, sample_fakes
from generators.train import Scorer, TrainConfig, refuse_to_overwrite, train

log = logging.getLogger(__name__)
ScorerFactory = Callable[[ImageDataset], Scorer | None]
DATA_KEYS = ("dataset", "fingerprint", "channels", "image_size")  # what makes two runs' fakes comparable


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
             progress: bool | None = None, force: bool = False) -> list[GeneratedSet]:
    """Train (or, with ``checkpoint``, only sample) each generator and write ``generators/<name>/fakes``.

    ``resume`` continues the generators' last checkpoints; ``force`` replaces what ``out`` holds instead of
    refusing (see :func:`claim_out`).
    """
    refuse_resume_with_force(resume, force, "continues the run in --out", "replaces it")
    for name in generators:
        GENERATORS.get(name)  # an unknown name fails before any data are read
    train_config = train_config or TrainConfig()
    seed_everything(train_config.seed)
    torch_device = resolve_device(device)
    reals = data.DataConfig(dataset, data_root, download, channels, image_size)
    train_set, test_set = reals.load("train"), reals.load("test")
    run = RunDir(Path(out))
    config = {**reals.record(train_set), "generators": list(generators), "train": asdict(train_config),
              "gan": asdict(gan_config or GANConfig()), "checkpoint": str(checkpoint or "")}
    claim_out(run, config, resume, force)
    distributed.barrier()  # rank 0's --force deletions are done before any rank looks for checkpoints
    if distributed.is_main():
        run.start("generate", config, train_config.seed)
    count = num_samples or len(test_set)
    results = []
    if checkpoint is not None:
        loaded = load_generator(checkpoint, torch_device, sampling_options(gan_config))
        results.append(_sample(run, loaded, count, train_config.seed, train_set.classes, None, None, progress))
    else:
        # every rank builds the scorer (its classifier cache is shared through a barrier); rank 0 alone scores
        scorer = scorer_factory(train_set) if scorer_factory else None
        scorer = scorer if distributed.is_main() else None
        images, labels = train_set.tensors()
        for name in generators:
            gan = create_gan(name, train_set.channels, train_set.image_size, len(train_set.classes), gan_config)
            result = train(gan, images, labels, run.generator(name), train_config, torch_device, resume, scorer,
                           progress)
            best = run.best_checkpoint(name)
            chosen = best if result.best_step is not None and best.exists() else result.checkpoint
            loaded = load_generator(chosen, torch_device)
            log.info("%s: sampling from %s (step %d of %d)", name, chosen.name, loaded.step, result.step)
            results.append(_sample(run, loaded, count, train_config.seed, train_set.classes, result.step,
                                   result.seconds, progress))
    if distributed.is_main():
        run.finish("generate")
    return results


def claim_out(run: RunDir, config: dict, resume: bool, force: bool) -> None:
    """Refuse an ``--out`` that holds other data's run, or something that is no run at all, unless ``force``.

    Later stages read the data set from ``run.json``, so fakes of two data sets in one run would be scored
    against the wrong reals. With ``force`` the other run is deleted (only its own files), or, with the same
    data, the generators about to be trained and everything derived from fakes. Without ``resume``, a
    generator that already has a checkpoint is refused too.
    """
    if not run.root.is_dir() or not any(run.root.iterdir()):
        return
    if not run.run_json.exists():
        if force:
            return
        raise DeepbenchError(f"{run.root} is not empty and holds no run.json, so it is not a deepbench run; "
                             f"use a new --out (or --force to write into it anyway)")
    previous = run.generate_config(required=False)
    differing = [key for key in DATA_KEYS if previous and previous.get(key) != config[key]]
    if differing and not force:
        key = differing[0]  # the data set spec if that differs, else the content (fingerprint) or shape
        raise DeepbenchError(f"{run.root} holds a run of other data ({key} {str(previous.get(key))[:40]!r}, not "
                             f"{str(config[key])[:40]!r}); use a new --out, or --force to replace that run")
    if force and distributed.is_main():
        run.discard(None if differing else config["generators"])
    elif not resume and not config["checkpoint"]:
        for name in config["generators"]:  # refused now, not after the data are loaded and a scorer trained
            refuse_to_overwrite(run.last_checkpoint(name))


def _sample(run: RunDir, loaded, count: int, seed: int, classes: list[str], trained_steps: int | None,
            seconds: float | None, progress: bool | None) -> GeneratedSet:
    fakes = run.fakes(loaded.gan.name)
    sample_fakes(loaded, fakes, count, seed, classes=classes if loaded.gan.conditional else None, progress=progress)
    return GeneratedSet(loaded.gan.name, fakes, count, loaded.checkpoint, loaded.step, trained_steps, seconds)
