"""The domain classifier: a small CNN trained on a real data set, whose features and predictions score samples.

Inception-v3 was trained on ImageNet photographs, so on 28-pixel digits its features say little and cost much.
Shmelkov et al. (2018, "How good is my GAN?") instead score a generator with a classifier trained on the real
data set itself: its penultimate features give a domain KID (and, later, a domain FID), its predictions on
conditional fakes give GAN-test accuracy, and training it on fakes and testing on reals gives GAN-train.
The network trains in seconds and scores a thousand 28-pixel images in about a second on one CPU core,
cheap enough for a generator's training loop to score itself often and keep its best checkpoint.

A trained classifier is cached under ``cache_root()/domain``, keyed by the data set's fingerprint and the
training options, so every report on the same data reuses one network. The embedded digits' classifier at the
default options ships with the package (``benchmark/assets``, built by ``benchmarks/make_embedded_classifier.py``
with the quick suite's 2 threads): the README's first run loads it instead of training it, and every machine
scores the embedded digits with the same weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from benchmark import distributed
from benchmark.errors import DeepbenchError
from benchmark.files import building, load_checkpoint, save_checkpoint
from benchmark.images import ImageDataset, as_size, to_unit_range
from benchmark.runtime import cache_root, progress_bar, resolve_device
from benchmark.sources import ASSETS
from reports.metrics.real_slices import real_slice

log = logging.getLogger(__name__)
KIND = "domain-classifier"
CACHE_VERSION = 1  # part of the cache key: bump it when the network or its training changes
SHIPPED_PREFIX = "domain-"  # a shipped classifier's file in benchmark/assets: this, then its cache file's name
KID_SUBSET_SIZE = 1000  # torch-fidelity's default, lowered to the sample count when there are fewer


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise DeepbenchError(message)


def _conv_block(inputs: int, outputs: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True)]


class DomainClassifier(nn.Module):
    """Conv/BN/ReLU blocks, halving the resolution down to about 4 pixels, then global average pooling.

    The number of halvings follows the image size (three for 28 and 32 px, four for 64 px), so the last
    block sees most of the image and the feature vector is ``4 * width`` long at every size from 16 px up.
    Inputs are float in [-1, 1], the range GAN generators emit (see :func:`to_model_input`).
    """

    def __init__(self, channels: int, image_size: int | tuple[int, int], num_classes: int, width: int = 32):
        super().__init__()
        _require(channels in (1, 3), f"channels must be 1 or 3, got {channels!r}")
        _require(isinstance(num_classes, int) and num_classes >= 2,
                 f"num_classes must be an int of at least 2, got {num_classes!r}")
        _require(isinstance(width, int) and width >= 1, f"width must be a positive int, got {width!r}")
        self.channels, self.image_size, self.num_classes, self.width = channels, as_size(image_size), num_classes, width
        halvings = max(1, math.ceil(math.log2(min(self.image_size) / 4)))
        layers, size = _conv_block(channels, width, 1), width
        for _ in range(halvings):
            layers += _conv_block(size, min(2 * size, 4 * width), 2)
            size = min(2 * size, 4 * width)
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = size
        self.head = nn.Linear(size, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate (N, feature_dim) features: what domain KID and FID compare."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def config(self) -> dict:
        """The constructor's arguments, stored in checkpoints to rebuild the network."""
        return {"channels": self.channels, "image_size": list(self.image_size), "num_classes": self.num_classes,
                "width": self.width}


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]; float images are checked to lie in [-1, 1] and passed on.

    The check catches the usual mistake of passing [0, 255] floats, which the network would silently misread.
    """
    if images.dtype == torch.uint8:
        return to_unit_range(images)
    _require(images.is_floating_point(), f"images must be uint8 or float in [-1, 1], got {images.dtype}")
    low, high = torch.aminmax(images.detach())
    _require(low >= -1.001 and high <= 1.001, f"float images must lie in [-1, 1], got values in "
                                              f"[{low.item():.4g}, {high.item():.4g}]; pass uint8 or x / 127.5 - 1")
    return images.float()


def config_hash(config: dict) -> str:
    """A short stable hash of the training options, the second half of a cache file's name."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def load_domain_classifier(path: str | Path) -> DomainClassifier:
    """Rebuild a classifier from a checkpoint written by :func:`train_domain_classifier`, in eval mode."""
    state = load_checkpoint(path, KIND)
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: keep the caller's random stream
        model = DomainClassifier(**state["model"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


def shipped_classifier(cached: Path) -> Path:
    """Where the package ships the classifier that the cache would hold at ``cached``."""
    return ASSETS / f"{SHIPPED_PREFIX}{cached.name}"


def train_domain_classifier(dataset: ImageDataset, *, epochs: int = 2, batch_size: int = 128, lr: float = 5e-3,
                            width: int = 32, seed: int = 0, device: str = "cpu", cache: bool = True,
                            progress: bool | None = None) -> DomainClassifier:
    """Train a :class:`DomainClassifier` on ``dataset`` with Adam and cross-entropy, or load it from the cache.

    The learning rate follows a one-cycle schedule up to ``lr`` and back down: it reaches good accuracy in one
    short epoch, and its small final steps leave batch norm's running statistics matching the final weights
    (with a constant rate they lag behind, and eval-mode accuracy falls far below training accuracy).

    Initialisation and data order come from ``seed`` alone (the caller's global RNG is left untouched), so
    the same data and options give the same weights on CPU; that is what makes the cache key honest. The
    device is not part of the key. A classifier shipped with the package under the same key is loaded when the
    cache has none. ``cache=False`` neither reads nor writes the cache, nor reads a shipped classifier.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("width", width)):
        _require(isinstance(value, int) and value >= 1, f"{name} must be a positive int, got {value!r}")
    _require(0 < lr < 1, f"lr must lie in (0, 1), got {lr!r}")
    _require(isinstance(seed, int) and 0 <= seed < 2**32, f"seed must be an int in [0, 2**32), got {seed!r}")
    _require(len(dataset.classes) >= 2, f"the domain classifier needs at least 2 classes but {dataset!r} has "
                                        f"{len(dataset.classes)}; use the data set without a class subset")
    _require(len(dataset) > 0, f"{dataset!r} has no images to train the domain classifier on")
    device = resolve_device(device)
    options = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "width": width, "seed": seed,
               "version": CACHE_VERSION}
    path = cache_root() / "domain" / f"{dataset.fingerprint[:16]}-{config_hash(options)}.pt"
    if not cache:
        return _train(dataset, options, device, progress)
    # Under torchrun rank 0 trains and caches it and the other ranks load its file; of two runs sharing the cache,
    # one trains it and the other waits for its file.
    with distributed.main_first(), building(path):
        for found in (path, shipped_classifier(path)):
            if found.is_file():
                log.debug("domain classifier loaded from %s", found)
                return load_domain_classifier(found).to(device)
        model = _train(dataset, options, device, progress)
        save_checkpoint(path, {"kind": KIND, "model": model.config(), "training": options,
                               "dataset": dataset.fingerprint, "description": repr(dataset),
                               "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}})
        log.debug("domain classifier saved to %s", path)
        return model


def _train(dataset: ImageDataset, options: dict, device: torch.device, progress: bool | None) -> DomainClassifier:
    images, labels = dataset.tensors(progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        model = DomainClassifier(dataset.channels, dataset.image_size, len(dataset.classes), options["width"])
    model.to(device)
    _fit(model, images, labels, options["epochs"], options["batch_size"], options["lr"], options["seed"], progress)
    return model


def _fit(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, epochs: int, batch_size: int,
         lr: float, seed: int, progress: bool | None) -> None:
    """Plain minibatch training; each epoch's order comes from one local generator seeded by ``seed``."""
    device = next(model.parameters()).device
    steps = epochs * math.ceil(len(images) / batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    order = torch.Generator().manual_seed(seed)
    model.train()
    with progress_bar(total=steps, show=progress, desc="domain classifier", unit="step", leave=False) as bar:
        for _ in range(epochs):
            for index in torch.randperm(len(images), generator=order).split(batch_size):
                logits = model(to_model_input(images[index].to(device)))
                loss = F.cross_entropy(logits, labels[index].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update()
                if not bar.disable:
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()


def _batched(classifier: DomainClassifier, images: torch.Tensor, batch_size: int,
             head: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply ``head`` to ``images`` batch by batch in eval mode and inference mode; results on the CPU."""
    _require(isinstance(batch_size, int) and batch_size >= 1, f"batch_size must be a positive int, got {batch_size!r}")
    expected = (classifier.channels, *classifier.image_size)
    _require(images.ndim == 4 and tuple(images.shape[1:]) == expected and len(images) > 0,
             f"images must be a non-empty (N, {', '.join(map(str, expected))}) tensor for this domain classifier, "
             f"got shape {tuple(images.shape)}; convert with --channels/--image-size")
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    try:
        with torch.inference_mode():
            return torch.cat([head(to_model_input(batch.to(device))).cpu() for batch in images.split(batch_size)])
    finally:
        classifier.train(was_training)


def logits(classifier: DomainClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Class logits (N, num_classes) as float64: the domain Inception Score is computed from them."""
    return _batched(classifier, images, batch_size, lambda x: classifier(x).double())


def predict(classifier: DomainClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted class indices (int64) of uint8 or [-1, 1] float images: GAN-test accuracy compares them."""
    return _batched(classifier, images, batch_size, lambda x: classifier(x).argmax(dim=1))


def extract_features(classifier: DomainClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Penultimate features (N, D) as float64, so the kernel sums of KID and the covariances of FID keep precision."""
    return _batched(classifier, images, batch_size, lambda x: classifier.features(x).double())


def _check_kid_options(subset_size: int | None, subsets: int, seed: int) -> None:
    _require(subset_size is None or (isinstance(subset_size, int) and subset_size >= 2),
             f"subset_size must be None or an int of at least 2, got {subset_size!r}")
    _require(isinstance(subsets, int) and subsets >= 1, f"subsets must be a positive int, got {subsets!r}")
    _require(isinstance(seed, int) and 0 <= seed < 2**32, f"seed must be an int in [0, 2**32), got {seed!r}")


def spread_subset_size(real_count: int, fake_count: int) -> int:
    """KID subsets of at most half of each set (and torch-fidelity's 1000), so they differ and ``kid_std`` means
    something."""
    return max(2, min(KID_SUBSET_SIZE, real_count // 2, fake_count // 2))


def kid(real_features, fake_features, subset_size: int | None = None, subsets: int = 100,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over subsets) between two (N, D) feature sets, by torch-fidelity.

    The kernel is torch-fidelity's default cubic polynomial ``(x.y / D + 1)^3``, named explicitly here so that
    a change of its defaults cannot change our numbers. ``subset_size`` defaults to ``min(1000, N_real, N_fake)``
    because torch-fidelity refuses a subset larger than either set. ``seed`` fixes which subsets are drawn, so
    scores of successive checkpoints are compared on the same real subsets.
    """
    real, fake = torch.as_tensor(real_features).double(), torch.as_tensor(fake_features).double()
    _require(real.ndim == 2 and fake.ndim == 2 and real.shape[1] == fake.shape[1],
             f"features must be two (N, D) arrays with the same D, got shapes {tuple(real.shape)} and "
             f"{tuple(fake.shape)}")
    _check_kid_options(subset_size, subsets, seed)
    smallest = min(len(real), len(fake))
    _require(smallest >= 2, f"KID needs at least 2 samples per set, got {len(real)} real and {len(fake)} fake")
    subset_size = min(KID_SUBSET_SIZE, smallest) if subset_size is None else subset_size
    _require(subset_size <= smallest,
             f"subset_size {subset_size} exceeds the smaller sample count {smallest}; pass at most {smallest}")
    metric = kid_features_to_metric(real, fake, kid_subsets=subsets, kid_subset_size=subset_size, rng_seed=seed,
                                    kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                    kid_kernel_poly_coef0=1, verbose=False)
    return metric[KEY_METRIC_KID_MEAN], metric[KEY_METRIC_KID_STD]


class DomainScorer:
    """Domain KID of fakes against held-out reals (lower is better): the quality a GAN's training loop tracks.

    The reals' features are computed once here, so each call costs one forward pass over the fakes and the
    kernel sums; ``subsets`` defaults lower than :func:`kid`'s 100 so the sums cost less than the forward pass,
    and the fixed ``seed`` makes every call draw the same real subsets, so successive scores differ only by the fakes.
    """

    def __init__(self, classifier: DomainClassifier, real_images: torch.Tensor, subset_size: int | None = None,
                 subsets: int = 10, seed: int = 0, batch_size: int = 500):
        _require(real_images.dtype == torch.uint8, f"real_images must be uint8, got {real_images.dtype}")
        _check_kid_options(subset_size, subsets, seed)  # fail now, not at the first score deep in training
        self.classifier, self.batch_size = classifier, batch_size
        self.subset_size, self.subsets, self.seed = subset_size, subsets, seed
        self.real_features = extract_features(classifier, real_images, batch_size)

    def __call__(self, fake_images: torch.Tensor) -> float:
        fake = extract_features(self.classifier, fake_images, self.batch_size)
        return kid(self.real_features, fake, self.subset_size, self.subsets, self.seed)[0]


def domain_quality_scorer(train_set: ImageDataset) -> DomainScorer | None:
    """KID on a domain classifier's features against the selection slice of the training reals: what picks
    ``best.pt``.

    The slice comes from the training split, never the test split: the report's domain scores judge the chosen
    checkpoint on the test split, and a checkpoint chosen on it would be judged on the data that chose it. The
    generator trains on these reals too; choosing by closeness to the training distribution is what FID-based
    checkpoint selection does in the field. The report's Inception metrics compare with the training split by the
    same convention, but with its report slice, disjoint from this one (``reports.metrics.real_slices``). A data
    set with one class cannot train the domain classifier; training then keeps ``last.pt`` only.

    Under torchrun every rank calls this (the classifier's cache is shared through a collective); only rank 0
    scores.
    """
    if len(train_set.classes) < 2:
        log.info("one class: no domain classifier, so no quality score; sampling will use last.pt")
        return None
    classifier = train_domain_classifier(train_set)
    reals, _ = train_set.tensors()
    return DomainScorer(classifier, reals[real_slice(len(reals), "selection")])
