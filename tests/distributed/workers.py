"""What each process of a 2-process gloo run does: train (or sample, or fit a detector), record what it wrote.

Spawned children import this module by name, so it holds only top-level functions and no pytest fixtures.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import torch
import torch.multiprocessing as mp
from PIL import Image

from benchmark import distributed
from benchmark.runtime import seed_everything
from detectors.detector import Detector, DetectorConfig
from generators.registry import GANConfig, create_gan
from generators.sample import load_generator, sample_fakes
from generators.train import TrainConfig, train
from reports.generator_metrics import MetricOptions
from reports.report import report
from tests.generators.test_train import blobs

TINY = GANConfig(nz=8, ngf=8, ndf=8)
TIMM_WITH_BATCHNORM_ACT = "timm:mobilenetv3_small_050"  # small, and all its BatchNorms are timm's BatchNormAct2d


def train_config(max_steps: int) -> TrainConfig:
    """Every source of per-step randomness on (instance noise, EMA), BatchNorm synchronised."""
    return TrainConfig(epochs=3, max_steps=max_steps, batch_size=16, lr_g=1e-3, lr_d=1e-3, instance_noise=0.1,
                       ema_decay=0.9, sample_every=4, checkpoint_every=4, sync_bn=True)


def train_gan(out: Path, max_steps: int, resume: bool = False) -> dict:
    """Train the tiny DCGAN; the weights each rank holds at the end and the logged losses."""
    seed_everything(0)  # rank r's global streams from seed + r; DDP gives every rank rank 0's initial weights
    images, labels = blobs(128)
    gan = create_gan("dcgan", 1, 8, config=TINY)
    train(gan, images, labels, out, train_config(max_steps), resume=resume, progress=False)
    return {"generator": {k: v.clone() for k, v in gan.generator.state_dict().items()},
            "discriminator": {k: v.clone() for k, v in gan.discriminator.state_dict().items()},
            "rng": torch.get_rng_state()}


def detector_fit(network: str = "cnn") -> dict:
    """Fit a small network to tell the two blob classes apart; its weights, threshold and history."""
    images, labels = blobs(64)
    detector = Detector(network, 1, 8, DetectorConfig(epochs=2, batch_size=16))
    detector.fit(images[:48], labels[:48], images[48:], labels[48:], progress=False)
    return {"network": detector.network.state_dict(), "threshold": detector.threshold,
            "history": detector.history.to_dict("list")}


def detector_scores() -> dict:
    """An untrained CNN's logits for nine blob images, and how many of them this process's network saw."""
    torch.manual_seed(0)  # the same weights on every rank, without DDP's broadcast
    detector = Detector("cnn", 1, 8, DetectorConfig())
    seen = []
    detector.network.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    return {"scores": detector.decision_function(blobs(9)[0], batch_size=2), "seen": sum(seen)}


def task(name: str, out: Path) -> dict:
    if name == "train":
        return train_gan(out, 8)
    if name == "train-half":
        return train_gan(out, 4)
    if name == "resume":
        return train_gan(out, 8, resume=True)
    if name == "sample":
        sample_fakes(load_generator(out / "checkpoints" / "last.pt"), out / "fakes", 30, batch_size=8,
                     progress=False)
        return {"gathered": distributed.gather_rows(torch.arange(distributed.rank() + 2)),
                "shard": list(distributed.shard(5))}
    if name == "detector":
        return detector_fit()
    if name == "scores":
        return detector_scores()
    if name == "detector-timm":
        return detector_fit(TIMM_WITH_BATCHNORM_ACT)
    if name == "report":
        result = report(out, MetricOptions(num_samples=20, inception=False), "cpu", progress=False)
        return {"generators": result.results["generators"]}
    raise ValueError(name)


def recording_writes(writes: list[str]) -> None:
    """Record every atomic write (a temp file made beside its target) and every PNG saved by PIL."""
    make_temp, save_image = tempfile.mkstemp, Image.Image.save

    def mkstemp(*args, **kwargs):
        writes.append(str(kwargs.get("dir")))
        return make_temp(*args, **kwargs)

    def save(image, path, *args, **kwargs):
        writes.append(str(path))
        return save_image(image, path, *args, **kwargs)

    tempfile.mkstemp, Image.Image.save = mkstemp, save


def worker(rank: int, world: int, port: int, name: str, out: Path, results: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    assert distributed.init_from_env()
    writes: list[str] = []
    recording_writes(writes)
    result = task(name, out)
    distributed.shutdown()
    torch.save({**result, "writes": writes}, results / f"rank{rank}.pt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_processes(name: str, out: Path, results: Path, world: int = 2) -> list[dict]:
    """Run ``name`` in ``world`` gloo processes; each rank's result."""
    results.mkdir(parents=True, exist_ok=True)
    mp.spawn(worker, args=(world, free_port(), name, out, results), nprocs=world)
    return [torch.load(results / f"rank{rank}.pt", weights_only=False) for rank in range(world)]
