"""A real-vs-fake detector with scikit-learn's interface: ``fit``, ``decision_function``, ``predict_proba``,
``save`` / ``load``.

Labels are 1 for fake and 0 for real; images are uint8 (N, C, H, W). ``fit`` trains on balanced data with
augmentations (flips where the data allow them; with ``augment="robust"`` also Gaussian blur, scaled to the
image size, and JPEG at random strengths, as Wang et al. 2020 trained CNNDetection) until the validation loss
stops improving (``patience`` epochs without a lower one) or a ceiling of ``epochs``, keeps the epoch with the
lowest validation loss, records how training ended (``training``: converged or at the ceiling), and sets the
decision threshold at the validation split's equal-error point, never on test data.

Three things make the numbers trustworthy:

- **Scores are logits.** ``decision_function`` returns the network's logit in float64; every ranking metric
  (AUC, AP, EER, ROC, thresholds) is computed on it. A probability rounds to exactly 1.0 above a logit of
  about 36.7, and a confident detector's scores would then tie.
- **BatchNorm statistics match the weights.** Before every validation, and so in every saved network, the
  running statistics are recomputed over training images with the weights fixed (a cumulative average, as
  ``torch.optim.swa_utils.update_bn`` does). Running averages kept during training lag weights that are
  still moving, and the eval-mode network then scores differently from the one that was trained.
- **P(fake) is calibrated.** ``predict_proba`` is Platt scaling (scikit-learn's logistic regression on the
  logit) fitted on the validation split, so that P(fake) = 0.5 means even odds for every network, the
  capsule detector's capsule-length difference included.

Resuming: ``fit(..., state_path=PATH)`` atomically saves the whole training state to ``PATH`` after every
epoch: network, optimizer and learning-rate schedule, the data generator that orders and augments the batches,
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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from benchmark import distributed, sync_batchnorm
from benchmark.capsules import margin_loss
from benchmark.errors import DeepbenchError
from benchmark.files import load_checkpoint, save_checkpoint
from benchmark.images import to_unit_range
from benchmark.options import option
from benchmark.runtime import progress_bar
from benchmark.versions import PROTOCOLS
from detectors.metrics import calibrated, threshold_at_eer
from detectors.networks import create_network, fake_logit
from detectors.one_class import coding_loss
from detectors.perturb import gaussian_blur, jpeg

AUGMENT_CHOICES = ("robust", "none")
BATCHNORM_SAMPLES = 1024  # training images whose statistics BatchNorm is recomputed on: 784k pixels a channel at 28 px
CHECKPOINT_FORMAT = 3  # 3: trained to convergence, with how training ended; older formats are refused


@dataclass(frozen=True)
class DetectorConfig:
    """Training options; the defaults train the small detectors until validation loss stops improving."""

    epochs: int = option(60, "Most training epochs (the ceiling); training stops earlier once validation loss "
                             "stops improving (--patience), and the epoch with the lowest is kept.")
    batch_size: int = option(64, "Images per step.")
    lr: float = option(1e-3, "AdamW learning rate, divided by 5 whenever validation loss stops improving.")
    weight_decay: float = option(1e-4, "AdamW weight decay.")
    patience: int = option(4, "Stop after this many epochs without a 1% lower validation loss (converged); the "
                              "rate is divided by 5 after half as many.")
    flip: bool | None = option(None, "Random horizontal flips in training [default: only for data sets whose "
                                     "images are mirror-symmetric in distribution, such as CIFAR-10; not for "
                                     "digits].")
    augment: str = option("robust", "robust: random Gaussian blur and JPEG (quality 30-100) in training, as "
                                    "CNNDetection (Wang et al. 2020), with the blur's sigma scaled to the image "
                                    "size (0-3 px at 256 px, 0-0.33 px at 28 px); none: the clean protocol.",
                          choices=AUGMENT_CHOICES)
    blur_prob: float = option(0.5, "With --augment robust: share of training images blurred.")
    blur_scale: float = option(3.0, "With --augment robust: the largest blur sigma, in pixels per 256 pixels of "
                                    "image side (CNNDetection's 3 px at 256 px; 0.33 px at 28 px).")
    jpeg_prob: float = option(0.5, "With --augment robust: share of training images JPEG-compressed.")
    pretrained: bool = option(False, "timm detectors: start from pretrained weights (must be on disk, or "
                                     "--download).")
    width: int | None = option(None, "cnn and capsule: channels of the first convolution, the later ones scale "
                                     "with it, e.g. to match two detectors' parameter counts [default: 64].")
    seed: int = option(0, "Seed of the fakes' train/val/test split, and of training unless --training-seed.")
    training_seed: int | None = option(None, "Seed of the initial weights, batch order and augmentation "
                                             "[default: --seed]; detect --seeds trains one detector per value.")

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience", "width"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise DeepbenchError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise DeepbenchError(f"lr must lie in (0, 1), got {self.lr}")
        if self.augment not in AUGMENT_CHOICES:
            raise DeepbenchError(f"augment must be one of {', '.join(AUGMENT_CHOICES)}, got {self.augment!r}")
        if not self.blur_scale >= 0:
            raise DeepbenchError(f"blur_scale must be at least 0, got {self.blur_scale}")
        for name in ("blur_prob", "jpeg_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise DeepbenchError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    @property
    def weights_seed(self) -> int:
        """The seed of everything random in training: the training seed, else the split's."""
        return self.seed if self.training_seed is None else self.training_seed


JPEG_QUALITY = (30, 100)  # CNNDetection's: quality ~ U{30, ..., 100}; JPEG's 8x8 blocks do not scale with the image
LR_FACTOR = 0.2  # the rate is divided by 5 after half the patience's epochs without improvement (ReduceLROnPlateau)
# A validation loss counts as an improvement (resets the patience and the rate's plateau) when it is 1% below the
# loss of the last improvement: smaller gains are the noise of 400-image validation sets, and counting them kept a
# plateaued capsule detector training for 10 more epochs.
MIN_IMPROVEMENT = 0.01


def blur_sigma_range(image_size: int, scale: float = 3.0) -> tuple[float, float]:
    """Robust training's blur sigma range in pixels for square images of ``image_size``: 0 to ``scale`` px at
    256 px, in proportion elsewhere. CNNDetection (Wang et al. 2020) blurs its 224-256 px crops with sigma ~ U[0, 3]
    px; a blur of the same visual extent on a 28 px digit is 0-0.33 px, where 3 px would erase the strokes."""
    return 0.0, scale * image_size / 256


def augment(images: torch.Tensor, config: DetectorConfig, rng: torch.Generator,
            part: slice = slice(None)) -> torch.Tensor:
    """Augment ``images[part]`` as ``config`` says, drawing the choices for all of ``images`` (the global batch) as
    one rank would; the baselines' training images go through it too, so both see the same distribution.

    With ``augment="robust"``, each image is blurred with probability ``blur_prob`` (sigma uniform in
    :func:`blur_sigma_range` of the image size) and then JPEG-compressed with probability ``jpeg_prob``
    (quality uniform in ``JPEG_QUALITY``), each with its own strength. Flips only with ``flip`` set: left
    unset (None), nothing flips, and ``detect`` sets it from the data set.
    """
    drawn, images = len(images), images[part]
    low, high = blur_sigma_range(min(images.shape[-2:]), config.blur_scale)
    if config.flip:
        flip = (torch.rand(drawn, generator=rng) < 0.5)[part]
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if config.augment == "none":
        return images
    images = images.clone()
    blur = (torch.rand(drawn, generator=rng) < config.blur_prob)[part]
    sigma = (low + torch.rand(drawn, generator=rng) * (high - low))[part]
    compress = (torch.rand(drawn, generator=rng) < config.jpeg_prob)[part]
    quality = torch.randint(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1, (drawn,), generator=rng)[part]
    largest = (min(images.shape[-2:]) - 1) / 3  # the +-3 sigma kernel must fit in the image (tiny test images)
    for index in range(len(images)):
        if blur[index] and sigma[index] > 0.05:  # below that the kernel is a single pixel
            images[index:index + 1] = gaussian_blur(images[index:index + 1], min(float(sigma[index]), largest))
        if compress[index]:
            images[index:index + 1] = jpeg(images[index:index + 1], int(quality[index]))
    return images


class Detector:
    """One detector network with its training options and decision threshold."""

    def __init__(self, name: str, channels: int, image_size: int, config: DetectorConfig | None = None,
                 device: torch.device | str = "cpu", download: bool = False):
        self.name, self.channels, self.image_size = name, channels, image_size
        self.config = config or DetectorConfig()
        self.device = torch.device(device)
        torch.manual_seed(self.config.weights_seed)  # the network's initial weights
        self.network = create_network(name, channels, image_size, self.config.pretrained, download,
                                      self.config.width).to(self.device)
        self.threshold = 0.0  # on the logit scale; fit sets it on the validation split
        self.calibration = (1.0, 0.0)  # Platt slope and intercept of the logit; fit sets them
        self.history = pd.DataFrame()
        self.training = {}  # how fit ended: "converged" or "ceiling", after how many epochs and steps
        self.validation_auc = None  # fit sets it, on the validation split at the kept epoch
        self.protocol = PROTOCOLS["detection"]  # the detection protocol it was trained under; load reads it back

    def _check(self, images: torch.Tensor) -> None:
        expected = (self.channels, self.image_size, self.image_size)
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != expected:
            raise DeepbenchError(f"detector {self.name} takes uint8 images of {expected}, got {images.dtype} "
                                 f"{tuple(images.shape[1:])}; convert with --channels/--image-size")

    def _augment(self, images: torch.Tensor, rng: torch.Generator, part: slice = slice(None)) -> torch.Tensor:
        return augment(images, self.config, rng, part)

    def _loss(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.network.loss == "margin":
            return margin_loss(output, labels.long())
        if self.network.loss == "coding":
            return coding_loss(output, labels)
        return F.binary_cross_entropy_with_logits(output, labels.float())

    def options(self) -> dict:
        """Everything that shapes this detector's training, as a training state or checkpoint records it."""
        return training_options(asdict(self.config), self.channels, self.image_size)

    def fit(self, train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
            val_labels: torch.Tensor, progress: bool | None = None, state_path: Path | None = None) -> Detector:
        """Train on (images, labels) with 1 = fake; choose the epoch, threshold and calibration on the validation split.

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
        statistics_images = train_images[torch.randperm(len(train_images), generator=torch.Generator().manual_seed(
            self.config.weights_seed))[:BATCHNORM_SAMPLES]]
        while not training.done():
            train_loss = self._train_epoch(training, train_images, train_labels, batch_size, progress)
            self.recompute_batchnorm(statistics_images)
            outputs = self._outputs(val_images)
            logits = fake_logit(self.network.loss, outputs).double().cpu().numpy()
            val_loss = float(self._loss(outputs, val_labels.to(outputs.device)))
            training.finish_epoch(train_loss, val_loss, float(roc_auc_score(val_labels.numpy(), logits)))
        self.network.load_state_dict(training.best_state)
        self.calibrate(val_images, val_labels)
        self.history = pd.DataFrame(training.rows)
        self.training = training.summary()
        return self

    def recompute_batchnorm(self, images: torch.Tensor, batch_size: int = 256) -> None:
        """BatchNorm's running statistics recomputed over ``images`` with the weights fixed (cumulative average).

        Under torchrun each rank runs its share of every batch, so synchronised BatchNorm sees each batch whole,
        once, as one process does.
        """
        batches = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            share = distributed.shard(len(batch))
            batches.append(to_unit_range(batch[share.start:share.stop]))
        torch.optim.swa_utils.update_bn(batches, self.network, self.device)

    def calibrate(self, val_images: torch.Tensor, val_labels: torch.Tensor) -> None:
        """The threshold at the validation split's equal-error point, Platt scaling of the logit on it, and the
        validation AUC, which is what may choose between detectors (never the held-out figures)."""
        logits, labels = self.decision_function(val_images), val_labels.numpy()
        self.validation_auc = float(roc_auc_score(labels, logits))
        self.threshold = float(threshold_at_eer(labels, logits))
        platt = LogisticRegression().fit(logits[:, None], labels)
        self.calibration = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))

    def _train_epoch(self, training: _Training, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                     progress: bool | None) -> float:
        """One pass in an order drawn from the training's own generator, never the global RNG; the mean loss."""
        self.network.train()
        order = torch.randperm(len(images), generator=training.rng)
        part = distributed.local_batch(batch_size)
        losses = []
        batches = range(0, training.steps_per_epoch * batch_size, batch_size)
        for start in progress_bar(batches, show=progress, desc=f"{self.name} epoch {training.epoch + 1}", unit="batch",
                                  leave=False):
            rows = order[start:start + batch_size]
            inputs = to_unit_range(self._augment(images[rows], training.rng, part)).to(self.device)
            losses.append(training.step(self._loss(training.model(inputs), labels[rows[part]].to(self.device))))
        return float(np.mean(losses))

    @torch.inference_mode()
    def _outputs(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """The network's eval-mode outputs for ``images``, batched.

        Under torchrun each rank scores its share of ``images`` and every rank gets all the outputs, so every
        rank must call this together (as validation and evaluation do).
        """
        self._check(images)
        self.network.eval()
        share = distributed.shard(len(images))
        mine = images[share.start:share.stop]
        outputs = [self.network(to_unit_range(mine[i:i + batch_size]).to(self.device))
                   for i in range(0, len(mine), batch_size)]
        return distributed.gather_rows(torch.cat(outputs) if outputs else torch.empty(0, device=self.device))

    def decision_function(self, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
        """The logit of fake for each image, float64: what every ranking metric and the threshold use."""
        return fake_logit(self.network.loss, self._outputs(images, batch_size)).double().cpu().numpy()

    def predict_proba(self, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
        """Calibrated P(fake) for each image (Platt scaling fitted on the validation split), for display."""
        return calibrated(self.decision_function(images, batch_size), self.calibration)

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """1 (fake) where the logit reaches the validation threshold, else 0."""
        return (self.decision_function(images) >= self.threshold).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, {"kind": f"detector:{self.name}", "format": CHECKPOINT_FORMAT,
                                      "channels": self.channels, "image_size": self.image_size,
                                      "config": asdict(self.config), "threshold": self.threshold,
                                      "calibration": list(self.calibration), "network": self.network.state_dict(),
                                      "history": self.history.to_dict("list"), "training": self.training,
                                      "validation_auc": self.validation_auc, "protocol": self.protocol})

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> Detector:
        state = load_checkpoint(path)
        kind = str(state.get("kind", ""))
        if not kind.startswith("detector:"):
            raise DeepbenchError(f"{path} holds {kind!r}, not a detector; pass a detectors/<det>@<gen>/checkpoint.pt")
        if state.get("format") != CHECKPOINT_FORMAT:
            raise DeepbenchError(f"{path} was saved by an older deepbench (fixed-length training); retrain it "
                                 f"with deepbench detect --force")
        config = DetectorConfig(**state["config"])
        untrained = replace(config, pretrained=False)  # the weights come from the file
        detector = cls(kind.removeprefix("detector:"), state["channels"], state["image_size"], untrained, device)
        detector.config = config  # still says how the weights were trained, so a resumed run can compare it
        detector.network.load_state_dict(state["network"])
        detector.threshold = state["threshold"]
        detector.calibration = tuple(state["calibration"])
        detector.history = pd.DataFrame(state["history"])
        detector.training = state["training"]
        detector.validation_auc = state.get("validation_auc")  # absent from checkpoints saved before it was kept
        detector.protocol = state.get("protocol")  # None: saved before protocol versions were kept
        return detector


def training_options(config: dict, channels: int, image_size: int) -> dict:
    """A detector's config with its input shape: what must match before a saved training is reused or continued.

    The config passes through :class:`DetectorConfig`, so an option added since it was saved reads as its default.
    """
    return {**asdict(DetectorConfig(**config)), "channels": channels, "image_size": image_size}


def refuse_other_options(path: Path, saved: dict, wanted: dict) -> None:
    """Reusing or continuing a detector trained with other options would report numbers no option produced."""
    changed = [key for key, value in wanted.items() if saved.get(key) != value]
    if changed:
        raise DeepbenchError(f"{path} was trained with other {', '.join(changed)}; use the same options, "
                             f"or --force to retrain")


class _Training:
    """What one ``fit`` changes as it goes: optimizer, learning-rate schedule, data generator, best epoch, history.

    The schedule is ReduceLROnPlateau on the validation loss rather than a one-cycle schedule: a one-cycle
    schedule needs the training's length in advance, and a training that stops when validation loss stops
    improving does not know it. The rate falls by ``LR_FACTOR`` after half of ``patience`` epochs (at least one)
    without improvement, so by the time ``patience`` epochs have passed without one, a lower rate has been tried
    for the other half.
    (BatchNorm's statistics are recomputed before each validation, so a rate that is still high at the end does
    not leave them lagging the weights.)

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
        self.schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=LR_FACTOR, patience=max(1, config.patience // 2) - 1, threshold=MIN_IMPROVEMENT)
        self.rng = torch.Generator().manual_seed(config.weights_seed)  # the same on every rank: order, augmentation
        self.model = distributed.data_parallel(detector.network, detector.device)  # the network itself when alone
        if distributed.enabled():
            torch.manual_seed(config.weights_seed + distributed.rank())  # the global stream (dropout) differs
        self.epoch, self.best_loss, self.best_state, self.stale, self.rows = 0, math.inf, None, 0, []
        self.best_epoch, self.improved_loss = 0, math.inf
        if self.state_path is not None and self.state_path.exists():
            self.restore()

    def done(self) -> bool:
        """Converged (``patience`` epochs in a row without a lower validation loss), or at the ceiling."""
        return self.converged() or self.epoch >= self.detector.config.epochs

    def converged(self) -> bool:
        return self.stale >= self.detector.config.patience

    def summary(self) -> dict:
        """How training ended: ``converged`` by the stopping rule or stopped at the ``ceiling`` of epochs while
        validation loss was still falling within the last ``patience`` epochs; the epochs and steps it took, and the
        kept (best) epoch."""
        return {"ended": "converged" if self.converged() else "ceiling", "epochs": self.epoch,
                "steps": self.epoch * self.steps_per_epoch, "best_epoch": self.best_epoch,
                "best_steps": self.best_epoch * self.steps_per_epoch, "best_val_loss": self.best_loss,
                "patience": self.detector.config.patience}

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
        return value

    def finish_epoch(self, train_loss: float, val_loss: float, val_auc: float) -> None:
        """Record the epoch, keep the weights if their validation loss is the lowest yet, and save the state.

        Loss, not AUC: AUC saturates at 1.0 and then ties, and a tie kept whichever epoch came first. The kept
        epoch is the one with the lowest loss; training goes on only while the loss keeps falling by
        ``MIN_IMPROVEMENT`` of the loss at the last such fall, so that noise in the last digits does not keep a
        plateaued detector training.
        """
        self.epoch += 1
        self.rows.append({"epoch": self.epoch, "steps": self.epoch * self.steps_per_epoch,
                          "lr": self.optimizer.param_groups[0]["lr"], "train_loss": train_loss, "val_loss": val_loss,
                          "val_auc": val_auc})
        if val_loss < self.best_loss or self.best_state is None:
            self.best_loss, self.best_epoch = val_loss, self.epoch
            self.best_state = copy.deepcopy(self.detector.network.state_dict())
        if val_loss < self.improved_loss * (1 - MIN_IMPROVEMENT):
            self.improved_loss, self.stale = val_loss, 0
        else:
            self.stale += 1
        self.schedule.step(val_loss)
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
                "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(), "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "improved_loss": self.improved_loss, "best_state": self.best_state,
                "stale": self.stale, "rows": self.rows,
                **extra}

    def restore(self) -> None:
        """Continue from ``state_path``, refusing a state that other options made: it would mix two trainings."""
        state = load_checkpoint(self.state_path, self.kind)
        if "best_epoch" not in state:
            raise DeepbenchError(f"{self.state_path} was saved by an older deepbench (fixed-length training); "
                                 f"retrain with --force")
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
        self.epoch, self.best_loss, self.best_state = state["epoch"], state["best_loss"], state["best_state"]
        self.best_epoch, self.improved_loss = state["best_epoch"], state["improved_loss"]
        self.stale, self.rows = state["stale"], state["rows"]
