"""A real-vs-fake detector with scikit-learn's interface: ``fit``, ``predict_proba``, ``save`` / ``load``.

Labels are 1 for fake and 0 for real; images are uint8 (N, C, H, W). ``fit`` trains on balanced data with
optional augmentations (flip; blur and JPEG with probabilities, as Wang et al. 2020 trained theirs), keeps
the epoch with the best validation AUC, stops early when it stops improving, and sets the decision
threshold at the validation split's equal-error point, never on test data.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from benchmark.capsules import margin_loss
from benchmark.errors import DeepbenchError
from benchmark.images import to_unit_range
from benchmark.rundir import load_checkpoint, save_checkpoint
from benchmark.runtime import show_progress
from detectors.metrics import detection_metrics, threshold_at_eer
from detectors.networks import create_network, fake_logit
from detectors.perturb import perturb


@dataclass(frozen=True)
class DetectorConfig:
    """Training options; the defaults train the small detectors to convergence on 28-64 px data in minutes."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int | None = None  # stop after this many epochs without a better validation AUC; None: never
    # (under the one-cycle rate, validation AUC wanders until the rate falls: stopping early stops too soon)
    flip: bool = True
    blur_prob: float = 0.0
    jpeg_prob: float = 0.0
    pretrained: bool = False
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise DeepbenchError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise DeepbenchError(f"lr must lie in (0, 1), got {self.lr}")
        for name in ("blur_prob", "jpeg_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise DeepbenchError(f"{name} must lie in [0, 1], got {getattr(self, name)}")


class Detector:
    """One detector network with its training options and decision threshold."""

    def __init__(self, name: str, channels: int, image_size: int, config: DetectorConfig | None = None,
                 device: torch.device | str = "cpu", download: bool = False):
        self.name, self.channels, self.image_size = name, channels, image_size
        self.config = config or DetectorConfig()
        self.device = torch.device(device)
        torch.manual_seed(self.config.seed)  # the network's initial weights
        self.network = create_network(name, channels, image_size, self.config.pretrained, download).to(self.device)
        self.threshold = 0.5
        self.history = pd.DataFrame()

    def _check(self, images: torch.Tensor) -> None:
        expected = (self.channels, self.image_size, self.image_size)
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != expected:
            raise DeepbenchError(f"detector {self.name} takes uint8 images of {expected}, got {images.dtype} "
                                 f"{tuple(images.shape[1:])}; convert with --channels/--image-size")

    def _augment(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        config = self.config
        if config.flip:
            flip = torch.rand(len(images), generator=rng) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        for probability, name in ((config.blur_prob, "blur1"), (config.jpeg_prob, "jpeg75")):
            if probability:
                chosen = torch.rand(len(images), generator=rng) < probability
                if chosen.any():
                    images = images.clone()
                    images[chosen] = perturb(images[chosen], name)
        return images

    def _loss(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.network.loss == "margin":
            return margin_loss(output, labels.long())
        return F.binary_cross_entropy_with_logits(output, labels.float())

    def fit(self, train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
            val_labels: torch.Tensor, progress: bool | None = None) -> Detector:
        """Train on (images, labels) with 1 = fake; choose the epoch and the threshold on the validation split."""
        for images in (train_images, val_images):
            self._check(images)
        config = self.config
        optimizer = torch.optim.AdamW(self.network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        batch_size = min(config.batch_size, len(train_images))  # tiny sets still train, in one batch
        steps_per_epoch = len(train_images) // batch_size
        # One-cycle: the rate ends low, so BatchNorm's running statistics catch up with the final weights
        # (with a constant rate, eval-mode outputs lagged training and saturated).
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr,
                                                       total_steps=config.epochs * steps_per_epoch)
        rng = torch.Generator().manual_seed(config.seed)
        best_auc, best_state, rows, stale = -1.0, None, [], 0
        show = show_progress() if progress is None else progress
        for epoch in range(1, config.epochs + 1):
            self.network.train()
            order = torch.randperm(len(train_images), generator=rng)
            losses = []
            batches = range(0, steps_per_epoch * batch_size, batch_size)
            for start in tqdm(batches, desc=f"{self.name} epoch {epoch}", unit="batch", disable=not show, leave=False):
                batch_rows = order[start:start + batch_size]
                images = to_unit_range(self._augment(train_images[batch_rows], rng)).to(self.device)
                loss = self._loss(self.network(images), train_labels[batch_rows].to(self.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
            val = detection_metrics(val_labels.numpy(), self.predict_proba(val_images))
            rows.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_auc": val["auc"],
                         "val_accuracy": val["accuracy"]})
            if val["auc"] > best_auc:
                best_auc, best_state, stale = val["auc"], copy.deepcopy(self.network.state_dict()), 0
            else:
                stale += 1
                if config.patience is not None and stale >= config.patience:
                    break
        self.network.load_state_dict(best_state)
        self.threshold = float(threshold_at_eer(val_labels.numpy(), self.predict_proba(val_images)))
        self.history = pd.DataFrame(rows)
        return self

    @torch.inference_mode()
    def predict_proba(self, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
        """P(fake) for each image, batched, without gradients."""
        self._check(images)
        self.network.eval()
        logits = [fake_logit(self.network.loss, self.network(to_unit_range(images[i:i + batch_size]).to(self.device)))
                  for i in range(0, len(images), batch_size)]
        return torch.sigmoid(torch.cat(logits).double()).cpu().numpy()  # float64: float32 saturates at |logit| > 17

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """1 (fake) where P(fake) reaches the validation threshold, else 0."""
        return (self.predict_proba(images) >= self.threshold).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, {"kind": f"detector:{self.name}", "channels": self.channels,
                                      "image_size": self.image_size, "config": asdict(self.config),
                                      "threshold": self.threshold, "network": self.network.state_dict(),
                                      "history": self.history.to_dict("list")})

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> Detector:
        state = load_checkpoint(path)
        kind = str(state.get("kind", ""))
        if not kind.startswith("detector:"):
            raise DeepbenchError(f"{path} holds {kind!r}, not a detector; pass a detectors/<det>@<gen>/checkpoint.pt")
        config = DetectorConfig(**{**state["config"], "pretrained": False})  # the weights come from the file
        detector = cls(kind.removeprefix("detector:"), state["channels"], state["image_size"], config, device)
        detector.network.load_state_dict(state["network"])
        detector.threshold = state["threshold"]
        detector.history = pd.DataFrame(state["history"])
        return detector
