"""Training and sampling images/second of every unconditional generator family, at 28 px gray and 32 px RGB.

Each family at its defaults (what ``deepbench generate --generator NAME`` builds), batch 64: training times
``--steps`` calls of ``Trainer.train_step`` after two warm-up steps (one step is one batch: a GAN's D and G
updates, a VAE's or a diffusion model's one update); sampling times ``--fakes`` fakes in batches of 500 through
the network ``deepbench generate`` samples with (for ddpm, DDIM in its default 50 steps, so one fake is 50 U-Net
evaluations). Rounds alternate over the families so that load on the machine affects all alike; the median
round is printed, with each family's ratio to DCGAN's. Prints the torch thread count and device with the table.
``--precision fp32 bf16`` trains each family in both arithmetics (``deepbench generate --precision``) in the same
rounds and adds each one's training rate relative to fp32's (sampling is fp32 in both).

    .venv/bin/python benchmarks/family_throughput.py [--steps 20] [--fakes 500] [--rounds 3] [--device cpu] \
        [--families dcgan ddpm] [--precision fp32 bf16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pandas as pd
import torch

from benchmark.runtime import resolve_device
from generators.registry import create_gan
from generators.train import PRECISIONS, TrainConfig, Trainer

FAMILIES = ("dcgan", "capsgan", "sngan", "vae", "ddpm")
SHAPES = {"28 px gray": (1, 28), "32 px RGB": (3, 32)}
BATCH = 64


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rates(family: str, channels: int, size: int, steps: int, fakes: int, device: torch.device,
          precision: str) -> tuple[float, float]:
    """(training images/s, sampling images/s) of one family on random images of the shape."""
    torch.manual_seed(0)
    images = torch.randint(0, 256, (BATCH * (steps + 2), channels, size, size), dtype=torch.uint8)
    gan = create_gan(family, channels, size)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(gan, images, torch.zeros(len(images), dtype=torch.long), out,
                          TrainConfig(epochs=1, batch_size=BATCH, precision=precision), device)
        for step in range(2):
            trainer.train_step(step)
        synchronize(device)
        started = time.perf_counter()
        for step in range(2, steps + 2):
            trainer.train_step(step)
        synchronize(device)
        training = BATCH * steps / (time.perf_counter() - started)
        z = torch.randn(fakes, gan.config.nz, device=device)
        trainer.generate(z[:2], None)  # warm-up
        synchronize(device)
        started = time.perf_counter()
        trainer.generate(z, None)
        synchronize(device)
        sampling = fakes / (time.perf_counter() - started)
    return training, sampling


def relative(table: pd.DataFrame, column: str, peers: pd.Series, keys: list[str]) -> pd.Series:
    """Each row's ``column`` over that of the peer row (one of the rows ``peers`` selects) with the same ``keys``."""
    peer = table[peers].set_index(keys)[column].reindex(pd.MultiIndex.from_frame(table[keys]))
    return table[column] / peer.to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per family and round")
    parser.add_argument("--fakes", type=int, default=500, help="timed fakes per family and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=PRECISIONS,
                        help="training arithmetics to measure side by side")
    args = parser.parse_args()
    device = resolve_device(args.device)
    measured = {(shape, family, precision): [] for shape in SHAPES for family in args.families
                for precision in args.precision}
    for _ in range(args.rounds):
        for shape, family, precision in measured:
            channels, size = SHAPES[shape]
            measured[shape, family, precision].append(rates(family, channels, size, args.steps, args.fakes, device,
                                                            precision))
    rows = []
    for (shape, family, precision), values in measured.items():
        training = statistics.median(value[0] for value in values)
        sampling = statistics.median(value[1] for value in values)
        rows.append({"shape": shape, "family": family, "precision": precision, "train img/s": training,
                     "sample img/s": sampling})
    table = pd.DataFrame(rows)
    if "dcgan" in args.families:
        for column in ("train img/s", "sample img/s"):
            table[f"{column.split()[0]} vs dcgan"] = relative(table, column, table.family == "dcgan",
                                                              ["shape", "precision"])
    if "fp32" in args.precision:
        table["train vs fp32"] = relative(table, "train img/s", table.precision == "fp32", ["shape", "family"])
    where = f"{torch.get_num_threads()} torch threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
    print(f"batch {BATCH}, {args.steps} training steps and {args.fakes} fakes per family, median of {args.rounds} "
          f"rounds, {where}:\n")
    print(table.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
