"""Generator-training throughput under DistributedDataParallel: 1 and 2 processes side by side, in one run.

Each process count trains the same DCGAN (32x32 RGB, ``ngf = ndf = 32``, global batch 64) with gloo on the
CPU, one thread per process, through ``generators.train.Trainer``; the second half of the steps is timed,
after warm-up. On a CPU machine the processes share its cores, so the numbers show the overhead of the
collectives rather than a speed-up; on N GPUs each process has its own device. Prints images/second (global
batch x steps / seconds) of each count and their ratio. Usage:
``python benchmarks/ddp_throughput.py [--steps 40]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

from benchmark import distributed
from generators.registry import GANConfig, create_gan
from generators.train import TrainConfig, Trainer

SIZE, BATCH = 32, 64


def measure(rank: int, world: int, port: int, steps: int, results: Path) -> None:
    """Train ``steps`` steps in this process of ``world``; rank 0 writes the timed images/second."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    distributed.init_from_env()
    torch.manual_seed(0)
    gan = create_gan("dcgan", 3, SIZE, config=GANConfig(nz=100, ngf=32, ndf=32))
    images = torch.randint(0, 256, (BATCH * steps, 3, SIZE, SIZE), dtype=torch.uint8)
    config = TrainConfig(epochs=1, batch_size=BATCH, sample_every=10**6, checkpoint_every=10**6)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(gan, images, torch.zeros(len(images)), out, config)
        warm = steps // 2
        for step in range(warm):
            trainer.train_step(step)
        distributed.barrier()
        started = time.perf_counter()
        for step in range(warm, steps):
            trainer.train_step(step)
        distributed.barrier()
        seconds = time.perf_counter() - started
    if distributed.is_main():
        (results / f"world{world}.txt").write_text(str(BATCH * (steps - warm) / seconds))
    distributed.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}; gloo on the CPU, 1 thread per process")
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        for world in (1, 2):
            mp.spawn(measure, args=(world, free_port(), args.steps, Path(folder)), nprocs=world)
            rates[world] = float((Path(folder) / f"world{world}.txt").read_text())
    print(f"{'processes':>9}  {'images/s':>9}  {'vs 1':>5}")
    for world, rate in rates.items():
        print(f"{world:>9}  {rate:>9.1f}  {rate / rates[1]:>5.2f}")


if __name__ == "__main__":
    main()
