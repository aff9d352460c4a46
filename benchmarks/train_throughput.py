"""Generator-training throughput of deepbench's DCGAN beside a straightforward DCGAN, in one run.

The configuration is that of PyTorch's reference ``dcgan`` example: 64x64 RGB, ``ngf = ndf = 64``, latent
100, batch 64, Adam 2e-4. The peer below is the plain textbook loop (``nn.Sequential`` models, BCE on
``sigmoid`` outputs, one D step and one G step per batch); ours is ``generators.train.Trainer``. Rounds
alternate between the two so that load on the machine affects both alike. Prints images/second of each
and their ratio. Usage: ``python benchmarks/train_throughput.py [--steps 20] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

from generators.registry import create_gan
from generators.train import TrainConfig, Trainer

SIZE, CHANNELS, NZ, WIDTH, BATCH = 64, 3, 100, 64, 64


def peer_models() -> tuple[nn.Module, nn.Module]:
    """The DCGAN architecture of Radford et al. for 64x64, written the plain way."""
    g = nn.Sequential(
        nn.ConvTranspose2d(NZ, WIDTH * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(WIDTH * 8), nn.ReLU(True),
        nn.ConvTranspose2d(WIDTH * 8, WIDTH * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(WIDTH * 4), nn.ReLU(True),
        nn.ConvTranspose2d(WIDTH * 4, WIDTH * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(WIDTH * 2), nn.ReLU(True),
        nn.ConvTranspose2d(WIDTH * 2, WIDTH, 4, 2, 1, bias=False), nn.BatchNorm2d(WIDTH), nn.ReLU(True),
        nn.ConvTranspose2d(WIDTH, CHANNELS, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(CHANNELS, WIDTH, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
        nn.Conv2d(WIDTH, WIDTH * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(WIDTH * 2), nn.LeakyReLU(0.2, True),
        nn.Conv2d(WIDTH * 2, WIDTH * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(WIDTH * 4), nn.LeakyReLU(0.2, True),
        nn.Conv2d(WIDTH * 4, WIDTH * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(WIDTH * 8), nn.LeakyReLU(0.2, True),
        nn.Conv2d(WIDTH * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    return g, d


def time_peer(real: torch.Tensor, steps: int) -> float:
    g, d = peer_models()
    criterion = nn.BCELoss()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    start = time.perf_counter()
    for step in range(steps):
        batch = real[(step * BATCH) % len(real):][:BATCH].float() / 127.5 - 1
        d.zero_grad()
        loss_real = criterion(d(batch).view(-1), torch.ones(BATCH))
        fake = g(torch.randn(BATCH, NZ, 1, 1))
        loss_fake = criterion(d(fake.detach()).view(-1), torch.zeros(BATCH))
        (loss_real + loss_fake).backward()
        opt_d.step()
        g.zero_grad()
        criterion(d(fake).view(-1), torch.ones(BATCH)).backward()
        opt_g.step()
    return steps * BATCH / (time.perf_counter() - start)


def time_ours(real: torch.Tensor, steps: int) -> float:
    gan = create_gan("dcgan", CHANNELS, SIZE)
    trainer = Trainer(gan, real, torch.zeros(len(real)), tempfile.mkdtemp(), TrainConfig(batch_size=BATCH))
    start = time.perf_counter()
    for step in range(steps):
        trainer.train_step(step)
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    real = torch.randint(0, 256, (BATCH * args.steps, CHANNELS, SIZE, SIZE), dtype=torch.uint8)
    time_peer(real, 2), time_ours(real, 2)  # warm-up: allocator and oneDNN kernel selection
    peer, ours = [], []
    for _ in range(args.rounds):
        peer.append(time_peer(real, args.steps))
        ours.append(time_ours(real, args.steps))
    print(f"DCGAN 64x64, ngf=ndf=64, batch {BATCH}, {torch.get_num_threads()} threads, {args.rounds} rounds "
          f"of {args.steps} steps (median images/s)")
    print(f"straightforward DCGAN: {statistics.median(peer):8.1f} img/s")
    print(f"deepbench dcgan:       {statistics.median(ours):8.1f} img/s")
    print(f"ratio deepbench/straightforward: {statistics.median(ours) / statistics.median(peer):.2f}")


if __name__ == "__main__":
    main()
