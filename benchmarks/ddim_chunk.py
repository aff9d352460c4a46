"""DDIM sampling rate of ddpm against the number of fakes per chain, in one run, and whether the fakes differ.

``Diffusion.forward`` takes its fakes through DDIM in chunks of ``generators.ddpm.SAMPLING_CHUNK`` on a CPU;
this prints images/s of an untrained ddpm at its defaults (28 px gray, 50 DDIM steps) for chunks of 500 (the
sampling batch of ``deepbench generate``, one chain before), 250, 100, 50 and 25, each chunk size's ratio to
500's, and the largest difference of its fakes from those of one 500-fake chain on the same noise.

    .venv/bin/python benchmarks/ddim_chunk.py [--fakes 200]
"""

from __future__ import annotations

import argparse
import time

import torch

from generators import ddpm
from generators.registry import create_gan

WHOLE = 500


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fakes", type=int, default=200, help="fakes timed per chunk size below 500")
    args = parser.parse_args()
    gan = create_gan("ddpm", 1, 28)
    network = gan.generator.eval()
    z = torch.randn(WHOLE, gan.config.nz, generator=torch.Generator().manual_seed(0))
    ddpm.SAMPLING_CHUNK = WHOLE
    network(z[:2])  # warm-up
    print(f"ddpm 28 px gray, {network.sampling_steps} DDIM steps, {torch.get_num_threads()} torch threads")
    reference, whole_rate = None, None
    for chunk in (WHOLE, 250, 100, 50, 25):
        ddpm.SAMPLING_CHUNK = chunk
        count = WHOLE if chunk == WHOLE else args.fakes
        started = time.perf_counter()
        fakes = network(z[:count])
        rate = count / (time.perf_counter() - started)
        reference = fakes if reference is None else reference
        whole_rate = whole_rate or rate
        print(f"chunk {chunk:3d}: {rate:5.2f} images/s ({rate / whole_rate:.2f}x), {count} fakes, largest "
              f"difference from one chain of {WHOLE}: {(fakes - reference[:count]).abs().max().item():.1e}")


if __name__ == "__main__":
    main()
