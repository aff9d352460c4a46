"""Fakes from two generator families deepbench does not have, made outside it, then judged by ``deepbench evaluate``.

Trains, on MNIST and outside deepbench, a small PixelCNN (van den Oord et al. 2016: masked convolutions, a
256-way softmax per pixel, sampled pixel by pixel) and a RealNVP-style normalizing flow (Dinh et al. 2017:
affine couplings on the logit of dequantized pixels, sampled in one pass), each for a fixed time budget;
writes ``--samples`` PNGs of each to folders; then runs

    deepbench evaluate --reals mnist --fakes pixelcnn=DIR --fakes flow=DIR --detector cnn
                       [--with-detectors RUN] --out OUT

which imports both sets, scores them, trains ``cnn`` on each and evaluates every detector (those trained here
and those of RUN, such as the committed seeds MNIST run) on every set: the cross-generator matrix with these
foreign families in it. Both models are deliberately small (minutes on 2 CPU cores); their samples are poor
digits, which is the point: a detector trained on GAN fakes meets artefacts it never saw.

    .venv/bin/python benchmarks/foreign_fakes.py --data-root ../shared/data --with-detectors runs/seeds/mnist
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.functional import to_pil_image

from benchmark import data


class MaskedConv(nn.Conv2d):
    """A convolution that sees only the pixels above and to the left (and, for mask B, the pixel itself)."""

    def __init__(self, mask: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        height, width = self.weight.shape[-2:]
        keep = torch.ones_like(self.weight)
        keep[..., height // 2, width // 2 + (mask == "B"):] = 0
        keep[..., height // 2 + 1:, :] = 0
        self.register_buffer("keep", keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.keep, self.bias, padding=self.padding)


def pixelcnn(width: int = 16, layers: int = 5) -> nn.Sequential:
    blocks = [MaskedConv("A", 1, width, 7, padding=3), nn.ReLU()]
    for _ in range(layers):
        blocks += [MaskedConv("B", width, width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*blocks, nn.Conv2d(width, 256, 1))


def train_for(seconds: float, model: nn.Module, lr: float, batch_loss) -> tuple[int, float]:
    """Adam steps on ``batch_loss(model)`` until ``seconds`` have passed: (steps taken, last loss)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        loss = batch_loss(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    return steps, loss.item()


def train_pixelcnn(images: torch.Tensor, seconds: float, seed: int) -> nn.Module:
    torch.manual_seed(seed)

    def batch_loss(model: nn.Module) -> torch.Tensor:
        batch = images[torch.randint(len(images), (64,))]
        return F.cross_entropy(model(batch.float() / 255), batch[:, 0].long())

    model = pixelcnn()
    steps, loss = train_for(seconds, model, 1e-3, batch_loss)
    print(f"pixelcnn: {steps} steps, last loss {loss:.3f} nats/pixel", flush=True)
    return model.eval()


@torch.no_grad()
def sample_pixelcnn(model: nn.Module, count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 1, 28, 28)
    for row in range(28):  # row r depends on rows <= r only, so the rows below are not computed
        for column in range(28):
            probabilities = model(images[:, :, :row + 1])[:, :, row, column].softmax(1)
            images[:, 0, row, column] = torch.multinomial(probabilities, 1, generator=generator)[:, 0] / 255
    return images


class Coupling(nn.Module):
    """y = x on the mask; elsewhere x * exp(s) + t, with s and t an MLP of the masked part (RealNVP)."""

    def __init__(self, mask: torch.Tensor, hidden: int = 512):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(mask.numel(), hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * mask.numel()))

    def scale_shift(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """s (bounded by tanh, zero on the mask) and t, from the masked part, which the coupling leaves alone."""
        scale, shift = self.net(x * self.mask).chunk(2, dim=1)
        return torch.tanh(scale) * (1 - self.mask), shift

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift = self.scale_shift(x)
        return x * self.mask + (1 - self.mask) * (x * scale.exp() + shift), scale.sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale_shift(y)
        return y * self.mask + (1 - self.mask) * (y - shift) * (-scale).exp()


class Flow(nn.Module):
    """Affine couplings over the 784 logit-pixels, alternating a checkerboard mask and its complement."""

    def __init__(self, couplings: int = 8):
        super().__init__()
        board = ((torch.arange(28)[:, None] + torch.arange(28)[None, :]) % 2).float().flatten()
        self.layers = nn.ModuleList(Coupling(board if i % 2 else 1 - board) for i in range(couplings))

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(len(x))
        for layer in self.layers:
            x, log_det = layer(x)
            total = total + log_det
        return total - 0.5 * (x ** 2).sum(1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


ALPHA = 0.05  # logit(ALPHA + (1 - 2 ALPHA) x): keeps the logit of dequantized pixels finite (RealNVP's choice)


def train_flow(images: torch.Tensor, seconds: float, seed: int) -> Flow:
    torch.manual_seed(seed)

    def batch_loss(model: Flow) -> torch.Tensor:
        batch = images[torch.randint(len(images), (64,))].flatten(1).float()
        x = ALPHA + (1 - 2 * ALPHA) * (batch + torch.rand_like(batch)) / 256
        return -model.log_likelihood(torch.logit(x)).mean()

    model = Flow()
    steps, loss = train_for(seconds, model, 1e-4, batch_loss)
    print(f"flow: {steps} steps, last loss {loss:.1f} nats/image (logit space)", flush=True)
    return model.eval()


@torch.no_grad()
def sample_flow(model: Flow, count: int, seed: int, temperature: float = 0.7) -> torch.Tensor:
    z = torch.randn(count, 784, generator=torch.Generator().manual_seed(seed)) * temperature
    x = (torch.sigmoid(model.inverse(z)) - ALPHA) / (1 - 2 * ALPHA)
    return x.clamp(0, 1).reshape(count, 1, 28, 28)


def write_folder(images: torch.Tensor, folder: Path) -> Path:
    """Gray PNGs of images in [0, 1], rounded to uint8 as any generator's files would be."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate((images * 255).round().to(torch.uint8)):
        to_pil_image(image).save(folder / f"{index:05d}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="folder holding MNIST")
    parser.add_argument("--out", type=Path, default=Path("runs/foreign"), help="evaluate's run directory")
    parser.add_argument("--samples", type=int, default=2000, help="images per generator")
    parser.add_argument("--seconds", type=float, default=180, help="training time of each model")
    parser.add_argument("--with-detectors", type=Path, help="also evaluate this run's detectors on the sets")
    parser.add_argument("--num-samples", type=int, default=1000, help="fakes and reals per metric, as the seeds runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images, _ = data.load("mnist", "train", args.data_root).tensors(progress=False)
    folders = args.out.parent / f"{args.out.name}-folders"
    started = time.perf_counter()
    pixel = write_folder(sample_pixelcnn(train_pixelcnn(images, args.seconds, args.seed), args.samples, args.seed),
                         folders / "pixelcnn")
    flow = write_folder(sample_flow(train_flow(images, args.seconds, args.seed), args.samples, args.seed),
                        folders / "flow")
    print(f"trained and sampled in {time.perf_counter() - started:.0f} s, {torch.get_num_threads()} torch threads; "
          f"folders in {folders}", flush=True)
    command = [sys.executable, "-m", "benchmark.cli", "evaluate", "--reals", "mnist", "--fakes", f"pixelcnn={pixel}",
               "--fakes", f"flow={flow}", "--detector", "cnn", "--out", str(args.out), "--force",
               "--num-samples", str(args.num_samples), "--seed", str(args.seed)]
    command += ["--data-root", str(args.data_root)] if args.data_root else []
    command += ["--with-detectors", str(args.with_detectors)] if args.with_detectors else []
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
