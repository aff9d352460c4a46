"""What a person looks at while a generator trains: fixed-noise sample grids and loss curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid, save_image  # noqa: E402

from benchmark.files import atomic_path  # noqa: E402


def save_sample_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> Path:
    """Save images in [-1, 1] as one PNG grid, atomically."""
    grid = make_grid(images.detach().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
    with atomic_path(path) as tmp:
        save_image(grid, tmp, format="png")
    return path


def save_loss_plot(history: pd.DataFrame, path: Path, title: str) -> Path:
    """The losses (left) and, for a GAN, D's outputs on real and fake images (right) against the step."""
    adversarial = "d_real" in history
    figure, axes = plt.subplots(1, 2 if adversarial else 1, figsize=(10 if adversarial else 5, 3.5), squeeze=False)
    losses = axes[0, 0]
    if len(history):
        smooth = max(1, len(history) // 200)
        rolled = history.set_index("step").rolling(smooth, min_periods=1).mean()
        rolled[[name for name in history if name.startswith("loss")]].plot(ax=losses)
        if adversarial:
            rolled[["d_real", "d_fake"]].rename(columns={"d_real": "D(x)", "d_fake": "D(G(z))"}).plot(ax=axes[0, 1])
    losses.set_title(f"{title}: losses")
    if adversarial:
        axes[0, 1].set_title(f"{title}: discriminator outputs")
        axes[0, 1].set_ylim(0, 1)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return path
