"""A real-vs-fake detector with scikit-learn's interface: ``fit``, ``predict_proba``, ``save`` / ``load``.

Labels are 1 for fake and 0 for real; images are uint8 (N, C, H, W). ``fit`` trains on balanced data with
optional augmentations (flip; blur and JPEG with probabilities, as Wang et al. 2020 trained theirs), keeps
the epoch with the best validation AUC, stops early when it stops improving, and sets the decision
threshold at the validation split's equal-error point, never on test data.

Resuming: ``fit(..., state_path=PATH)`` atomically saves the whole training state to ``PATH`` after every
epoch: network, optimizer and one-cycle schedule, the data generator that orders and augments the batches,
torch's global RNG (dropout), the best epoch so far and the history. A later ``fit`` that finds ``PATH``
checks it was made with the same options and continues from the next epoch, so an interrupted training ends
with the same weights, threshold and history, bit for bit, as one that never stopped.

Under torchrun every rank draws the single process's batch order and augmentation choices, trains on its
slice of each batch under DistributedDataParallel, and normalises with the global batch's BatchNorm
statistics (:mod:`benchmark.sync_batchnorm`): the ranks hold the same weights and running statistics, so they
pick the same epoch and threshold, and follow one process's training to float tolerance. Validation and
evaluation split the images to score over the ranks. Rank 0 saves.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from benchmark import distributed, sync_batchnorm
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

    def _augment(self, images: torch.Tensor, rng: torch.Generator, part: slice = slice(None)) -> torch.Tensor:
        """Augment ``images[part]``, drawing the choices for all of ``images`` (the global batch) as one rank would."""
        config, drawn, images = self.config, len(images), images[part]
        if config.flip:
            flip = (torch.rand(drawn, generator=rng) < 0.5)[part]
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        for probability, name in ((config.blur_prob, "blur1"), (config.jpeg_prob, "jpeg75")):
            if probability:
                chosen = (torch.rand(drawn, generator=rng) < probability)[part]
                if chosen.any():
                    images = images.clone()
                    images[chosen] = perturb(images[chosen], name)
        return images

    def _loss(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.network.loss == "margin":
            return margin_loss(output, labels.long())
        return F.binary_cross_entropy_with_logits(output, labels.float())

    def options(self) -> dict:
        """Everything that shapes this detector's training, as a training state or checkpoint records it."""
        return training_options(asdict(self.config), self.channels, self.image_size)

    def fit(self, train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
            val_labels: torch.Tensor, progress: bool | None = None, state_path: Path | None = None) -> Detector:
        """Train on (images, labels) with 1 = fake; choose the epoch and the threshold on the validation split.

        With ``state_path``, the training state is saved there after every epoch and continued from when it
        exists, so a killed training loses at most one epoch and ends as if it had never stopped.
        """
        for images in (train_images, val_images):
            self._check(images)
        batch_size = min(self.config.batch_size, len(train_images))  # tiny sets still train, in one batch
        distributed.local_batch(batch_size)  # refuse a batch that does not split over the ranks, before training
        if distributed.enabled():
            sync_batchnorm.convert(self.network)  # before the optimizer sees the parameters
        training = _Training(self, len(train_images) // batch_size, state_path)
        show = show_progress() if progress is None else progress
        while not training.done():
            train_loss = self._train_epoch(training, train_images, train_labels, batch_size, show)
            training.finish_epoch(train_loss, detection_metrics(val_labels.numpy(), self.predict_proba(val_images)))
        self.network.load_state_dict(training.best_state)
        self.threshold = float(threshold_at_eer(val_labels.numpy(), self.predict_proba(val_images)))
        self.history = pd.DataFrame(training.rows)
        return self

    def _train_epoch(self, training: _Training, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                     show: bool) -> float:
        """One pass in an order drawn from the training's own generator, never the global RNG; the mean loss."""
        self.network.train()
        order = torch.randperm(len(images), generator=training.rng)
        part = distributed.local_batch(batch_size)
        losses = []
        batches = range(0, training.steps_per_epoch * batch_size, batch_size)
        for start in tqdm(batches, desc=f"{self.name} epoch {training.epoch + 1}", unit="batch",
                          disable=not show or not distributed.is_main(), leave=False):
            rows = order[start:start + batch_size]
            inputs = to_unit_range(self._augment(images[rows], training.rng, part)).to(self.device)
            losses.append(training.step(self._loss(training.model(inputs), labels[rows[part]].to(self.device))))
        return float(np.mean(losses))

    @torch.inference_mode()
    def predict_proba(self, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
        """P(fake) for each image, batched, without gradients.

        Under torchrun each rank scores its share of ``images`` and every rank gets all the scores, so every
        rank must call this together (as validation and evaluation do).
        """
        self._check(images)
        self.network.eval()
        share = distributed.shard(len(images))
        mine = images[share.start:share.stop]
        logits = [fake_logit(self.network.loss, self.network(to_unit_range(mine[i:i + batch_size]).to(self.device)))
                  for i in range(0, len(mine), batch_size)]
        logits = distributed.gather_rows(torch.cat(logits) if logits else torch.empty(0, device=self.device))
        return torch.sigmoid(logits.double()).cpu().numpy()  # float64: float32 saturates at |logit| > 17

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
        config = DetectorConfig(**state["config"])
        untrained = replace(config, pretrained=False)  # the weights come from the file
        detector = cls(kind.removeprefix("detector:"), state["channels"], state["image_size"], untrained, device)
        detector.config = config  # still says how the weights were trained, so a resumed run can compare it
        detector.network.load_state_dict(state["network"])
        detector.threshold = state["threshold"]
        detector.history = pd.DataFrame(state["history"])
        return detector


def training_options(config: dict, channels: int, image_size: int) -> dict:
    """A detector's config with its input shape: what must match before a saved training is reused or continued."""
    return {**config, "channels": channels, "image_size": image_size}


def refuse_other_options(path: Path, saved: dict, wanted: dict) -> None:
    """Reusing or continuing a detector trained with other options would report numbers no option produced."""
    changed = [key for key, value in wanted.items() if saved.get(key) != value]
    if changed:
        raise DeepbenchError(f"{path} was trained with other {', '.join(changed)}; use the same options, "
                             f"or --force to retrain")


class _Training:
    """What one ``fit`` changes as it goes: optimizer, one-cycle schedule, data generator, best epoch, history.

    All of it, with the network and torch's global RNG, is the training state saved after each epoch:
    restoring it continues the same sequence of batches, augmentations, dropout masks and learning rates.
    """

    def __init__(self, detector: Detector, steps_per_epoch: int, state_path: Path | None):
        config = detector.config
        self.detector, self.steps_per_epoch = detector, steps_per_epoch
        self.state_path = None if state_path is None else Path(state_path)
        self.kind = f"detector-training:{detector.name}"
        self.optimizer = torch.optim.AdamW(detector.network.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        # One-cycle: the rate ends low, so BatchNorm's running statistics catch up with the final weights
        # (with a constant rate, eval-mode outputs lagged training and saturated).
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, config.lr,
                                                            total_steps=config.epochs * steps_per_epoch)
        self.rng = torch.Generator().manual_seed(config.seed)  # the same on every rank: order and augmentation
        self.model = distributed.data_parallel(detector.network, detector.device)  # the network itself when alone
        if distributed.enabled():
            torch.manual_seed(config.seed + distributed.rank())  # the global stream (dropout) differs per rank
        self.epoch, self.best_auc, self.best_state, self.stale, self.rows = 0, -1.0, None, 0, []
        if self.state_path is not None and self.state_path.exists():
            self.restore()

    def done(self) -> bool:
        """Every epoch trained, or ``patience`` epochs in a row without a better validation AUC."""
        patience = self.detector.config.patience
        return self.epoch >= self.detector.config.epochs or (patience is not None and self.stale >= patience)

    def step(self, loss: torch.Tensor) -> float:
        """One optimizer and schedule step; a NaN or infinite loss stops training before it spoils the weights."""
        value = distributed.mean({"loss": loss.item()})["loss"]  # the global batch's: every rank stops together
        if not math.isfinite(value):
            kept = (f"the last good epoch's state is {self.state_path}"
                    if self.state_path is not None and self.state_path.exists() else "no state was kept")
            raise DeepbenchError(f"detector {self.detector.name} diverged at epoch {self.epoch + 1} "
                                 f"(loss {value}); {kept}; lower --lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        return value

    def finish_epoch(self, train_loss: float, val: dict) -> None:
        """Record the epoch, keep the weights if their validation AUC is the best yet, and save the state."""
        self.epoch += 1
        self.rows.append({"epoch": self.epoch, "train_loss": train_loss, "val_auc": val["auc"],
                          "val_accuracy": val["accuracy"]})
        if val["auc"] > self.best_auc:
            self.best_auc, self.stale = val["auc"], 0
            self.best_state = copy.deepcopy(self.detector.network.state_dict())
        else:
            self.stale += 1
        if self.state_path is not None:
            rank_rng = distributed.gather_rng_states(torch.get_rng_state())  # every rank takes part
            if distributed.is_main():
                save_checkpoint(self.state_path, self.state(rank_rng))

    def state(self, rank_rng: list[torch.Tensor] | None = None) -> dict:
        """Everything the next epoch depends on, so that restoring it is indistinguishable from not stopping.

        Under torchrun ``rank_rng`` holds each rank's global RNG state, which each rank restores for itself.
        """
        detector, extra = self.detector, {} if rank_rng is None else {"rank_rng": rank_rng}
        return {"kind": self.kind, "config": asdict(detector.config), "channels": detector.channels,
                "image_size": detector.image_size, "epoch": self.epoch, "network": detector.network.state_dict(),
                "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(), "best_auc": self.best_auc,
                "best_state": self.best_state, "stale": self.stale, "rows": self.rows, **extra}

    def restore(self) -> None:
        """Continue from ``state_path``, refusing a state that other options made: it would mix two trainings."""
        state = load_checkpoint(self.state_path, self.kind)
        saved = training_options(state["config"], state["channels"], state["image_size"])
        refuse_other_options(self.state_path, saved, self.detector.options())
        self.detector.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.rng.set_state(state["rng"])
        saved_world = len(state.get("rank_rng") or [None])
        if saved_world != distributed.world_size():
            raise DeepbenchError(f"{self.state_path} was trained by {saved_world} process(es), this run has "
                                 f"{distributed.world_size()}; resume with torchrun --nproc_per_node={saved_world}")
        torch.set_rng_state(state["rank_rng"][distributed.rank()] if "rank_rng" in state else state["torch_rng"])
        self.epoch, self.best_auc, self.best_state = state["epoch"], state["best_auc"], state["best_state"]
        self.stale, self.rows = state["stale"], state["rows"]
