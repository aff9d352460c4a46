"""What each process of a 2-process gloo run does: train (or sample, or fit a detector), record what it wrote.

The ranks are forked from a fork server that imported this module by name, so it holds only top-level functions
and no pytest fixtures.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp
from PIL import Image

from benchmark import config, distributed
from benchmark.errors import DeepbenchError
from benchmark.runtime import seed_everything
from benchmark.suite import run_suite
from detectors.detector import Detector, DetectorConfig
from generators.generate import generate
from generators.registry import GANConfig, create_gan
from generators.sample import load_generator, sample_fakes
from generators.train import TrainConfig, train
from reports.metrics.domain import domain_quality_scorer
from reports.metrics.generator_metrics import MetricOptions
from reports.presentation.report import report
from tests.forkserver import adopt_environment
from tests.generators.test_train import blobs

TINY = GANConfig(nz=8, ngf=8, ndf=8)
TIMM_WITH_BATCHNORM_ACT = "timm:mobilenetv3_small_050"  # small, and all its BatchNorms are timm's BatchNormAct2d
HUNG_AFTER_S = 150  # a pair still running then prints both ranks' stacks and exits, failing the test
SHORT_TIMEOUT_S = "4"  # the process group's timeout in the test of a rank that skips a collective
MICRO_SUITE = """
name = "micro"
[defaults]
num_samples = 24
train = { max_steps = 4, batch_size = 16, score_every = 2 }
gan = { nz = 8, ngf = 8, ndf = 8 }
detector = { epochs = 1, batch_size = 16 }
perturbations = ["none"]
metrics = { num_samples = 12 }
[[experiment]]
name = "digits"
dataset = "folder:DIGITS"
generators = ["dcgan"]
detectors = ["cnn"]
"""


def generate_scored(out: Path, digits: Path, cache: Path) -> int:
    """Generate on two classes of ``digits`` with the domain-classifier score that picks best.pt (its cache in
    ``cache``)."""
    os.environ["DEEPBENCH_CACHE"] = str(cache)
    results = generate(f"folder:{digits}", ("dcgan",), out, TrainConfig(max_steps=4, batch_size=16, score_every=2),
                       TINY, num_samples=24, scorer_factory=domain_quality_scorer, progress=False)
    return results[0].num_samples


def generate_with_caches(out: Path) -> dict:
    """Scored generation on the digits in ``out/digits`` three times: cache cold, cache warm, and the cache on
    rank 0 only."""
    shared, own, digits = out / "cache", out / f"cache-rank{distributed.rank()}", out / "digits"
    counts = [generate_scored(out / "cold", digits, shared), generate_scored(out / "warm", digits, shared)]
    if distributed.is_main():
        shutil.copytree(shared, own)
    counts.append(generate_scored(out / "one-rank", digits, own))  # rank 1's cache is empty: it trains its own
    return {"counts": counts}


def skip_a_barrier(out: Path) -> dict:
    """Rank 0 waits at a barrier that rank 1 never reaches; what rank 0 is told. Rank 1 stays in the group until
    rank 0 has timed out (leaving sooner would break the barrier instead of timing it out)."""
    timed_out = out / "timed-out"
    if distributed.is_main():
        try:
            distributed.barrier("only rank 0 calls this")
        except DeepbenchError as error:
            return {"error": str(error)}
        finally:
            timed_out.touch()
        return {"error": None}
    deadline = time.monotonic() + 3 * float(SHORT_TIMEOUT_S)
    while not timed_out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return {"error": None}


def micro_suite(out: Path) -> dict:
    """The micro suite end to end (scored generation on the two classes in ``out/digits``, detect, Inception
    report) in this group."""
    os.environ["DEEPBENCH_CACHE"] = str(out / "cache")
    path = out / "micro.toml"
    if distributed.is_main():
        path.write_text(MICRO_SUITE.replace("DIGITS", str(out / "digits")))
    distributed.barrier()
    outcome = run_suite(config.load_suite(path), out / "suite")
    return {"generators": outcome.experiments[0].report.results["generators"]}


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


def train_vae(out: Path) -> dict:
    """Train a tiny class-conditional VAE, a family without a discriminator: its own loss through DDP, its
    reparameterisation noise drawn for the global batch, BatchNorm synchronised; the weights at the end."""
    seed_everything(0)
    images, labels = blobs(128)
    gan = create_gan("cvae", 1, 8, num_classes=2, config=TINY)
    config = TrainConfig(epochs=3, max_steps=8, batch_size=16, lr_g=1e-3, ema_decay=0.9, sample_every=4,
                         checkpoint_every=4, sync_bn=True)
    train(gan, images, labels, out, config, progress=False)
    return {"generator": {k: v.clone() for k, v in gan.generator.state_dict().items()}}


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
    scores = detector.decision_function(blobs(9)[0], batch_size=2)
    return {"scores": torch.from_numpy(scores), "seen": sum(seen)}  # a tensor, so the result loads weights-only


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
    if name == "train-vae":
        return train_vae(out)
    if name == "detector":
        return detector_fit()
    if name == "scores":
        return detector_scores()
    if name == "detector-timm":
        return detector_fit(TIMM_WITH_BATCHNORM_ACT)
    if name == "generate-caches":
        return generate_with_caches(out)
    if name == "skip-barrier":
        return skip_a_barrier(out)
    if name == "suite":
        return micro_suite(out)
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


def worker(rank: int, world: int, port: int, name: str, out: Path, results: Path, environment: dict) -> None:
    adopt_environment(environment, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    if name == "skip-barrier":
        os.environ["DEEPBENCH_DIST_TIMEOUT"] = SHORT_TIMEOUT_S
    faulthandler.dump_traceback_later(HUNG_AFTER_S, exit=True)  # a hung pair fails with both ranks' stacks
    torch.set_num_threads(1)
    assert distributed.init_from_env()
    writes: list[str] = []
    recording_writes(writes)
    result = task(name, out)
    faulthandler.cancel_dump_traceback_later()
    distributed.shutdown()
    torch.save({**result, "writes": writes}, results / f"rank{rank}.pt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_processes(name: str, out: Path, results: Path, world: int = 2) -> list[dict]:
    """Run ``name`` in ``world`` gloo processes; each rank's result.

    The processes are forks of the fork server (``tests/forkserver.py``), which imported this module once:
    spawning fresh interpreters was a third of the distributed tests' time.
    """
    results.mkdir(parents=True, exist_ok=True)
    mp.start_processes(worker, args=(world, free_port(), name, out, results, dict(os.environ)), nprocs=world,
                       start_method="forkserver")
    return [torch.load(results / f"rank{rank}.pt", weights_only=True) for rank in range(world)]
