"""Each generator's sample-quality metrics, written to ``metrics/<gen>.json`` and reused while still valid.

One file per generator holds the Inception metrics (``reports.metrics.fidelity``: FID, KID, precision/recall,
density/coverage, IS), the domain-classifier scores (``reports.metrics.classifier_scores``) and the training cost.
A file is reused when its key still matches: the fakes' manifest digest, the real data's fingerprint and
the metric options. So a second report computes nothing, and new fakes or other options recompute.

The Inception reference is a seeded random subset of the real **training** split (the convention of FID on
MNIST and CIFAR-10), taken from its report slice, which neither checkpoint selection nor recipe searches see
(``reports.metrics.real_slices``), or from all of it when the fakes were imported and nothing chose on these
reals; the domain scores compare with the **test** split, which the domain classifier never saw.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from functools import cached_property

import pandas as pd
import torch

from benchmark import data, distributed
from benchmark.errors import DeepbenchError
from benchmark.fakes import MANIFEST, load_fakes
from benchmark.files import file_digest, load_checkpoint, read_json, write_json
from benchmark.options import option
from benchmark.rundir import RunDir
from benchmark.versions import PROTOCOLS
from reports.metrics.classifier_scores import DomainReference, domain_scores
from reports.metrics.domain import train_domain_classifier
from reports.metrics.fidelity import InceptionExtractor, fidelity_metrics, inception_weights
from reports.metrics.real_slices import real_slice

log = logging.getLogger(__name__)
METRICS_VERSION = PROTOCOLS["metrics"]  # part of each file's key: a metric computed otherwise is computed again
FEW_SAMPLES = 10_000  # below this, FID is biased upward (KID is unbiased at any count)


@dataclass(frozen=True)
class MetricOptions:
    """How many samples the metrics use, and which metrics to compute."""

    num_samples: int = option(10_000, "Fakes (and reals) per metric, capped by what exists; fewer are faster, "
                                      "and bias FID upward.")
    inception: bool = option(True, "Inception metrics (FID, KID, PR, IS); slow on a CPU (about 10 images/s). "
                                   "Domain scores are always computed.")
    seed: int = option(0, "Seed of the real and fake subsets the metrics use.")
    reals_slice: str = option("report", "The slice of the training reals Inception metrics compare with: report, "
                                        "which nothing selects on; tuning, kept for recipe searches.")

    def __post_init__(self):
        if self.num_samples < 10:
            raise DeepbenchError(f"--num-samples must be at least 10, got {self.num_samples}")
        if self.reals_slice not in ("report", "tuning"):
            raise DeepbenchError(f"--reals-slice must be report or tuning, got {self.reals_slice!r}")


class RealReference:
    """The real data a run's generators learned, with the networks that score against it (built on first use)."""

    def __init__(self, run: RunDir, data_root=None, download: bool = False, device: str = "auto"):
        self.data, self.device = run.data_config(data_root, download), device
        self.spec = data.parse_spec(self.data.dataset)
        self.train, self.test = self.data.load("train"), self.data.load("test")

    @cached_property
    def domain(self) -> DomainReference | None:
        """The test split under a domain classifier trained on the training split, or on the whole data set when
        the run used a one-class subset; None when the whole data set has one class (a folder of unlabelled
        images), so there is nothing to classify. Built once for all the generators a report scores."""
        training = self.train
        if len(training.classes) < 2:
            whole = self.data.whole()
            training = whole.load("train")
            if len(training.classes) < 2:
                return None
            log.info("one class in %s: the domain classifier is trained on all of %s", self.data.dataset,
                     whole.dataset)
        return DomainReference(train_domain_classifier(training, device=self.device), self.test)

    @cached_property
    def extractor(self) -> InceptionExtractor:
        return InceptionExtractor(inception_weights(self.data.download), device=self.device)


def reference_slice(run: RunDir, generator: str, options: MetricOptions) -> str | None:
    """The slice of the training reals a generator's Inception metrics compare with: the asked one, or all of
    them (None) for fakes imported from elsewhere, whose checkpoints no slice of these reals chose."""
    if options.reals_slice != "report":
        return options.reals_slice
    first = pd.read_csv(run.fakes(generator) / MANIFEST, nrows=1)
    return None if "step" not in first or first["step"].isna().all() else "report"


def metrics_key(run: RunDir, generator: str, reals: RealReference, options: MetricOptions) -> dict:
    return {"manifest_sha256": file_digest(run.fakes(generator) / MANIFEST),
            "real_fingerprint": reals.train.fingerprint, "options": asdict(options),
            "reals_slice": reference_slice(run, generator, options), "version": METRICS_VERSION}


def recorded_options(run: RunDir, asked: MetricOptions, given: set[str]) -> MetricOptions:
    """The options the run's metrics were last computed with, where every generator's file agrees, except the
    fields ``given`` on the command line, taken from ``asked``. So re-rendering or exporting a reported run reuses
    its metrics rather than recomputing them at the defaults; ``asked`` itself where nothing is recorded."""
    paths = [run.metrics(generator) for generator in run.generators() if run.metrics(generator).exists()]
    recorded = [read_json(path, "metrics").get("key", {}).get("options") for path in paths]
    if not recorded or any(options != recorded[0] for options in recorded) or not isinstance(recorded[0], dict):
        return asked
    try:
        return replace(MetricOptions(**recorded[0]), **{name: getattr(asked, name) for name in given})
    except TypeError:  # written by a version with other options
        return asked


def generator_metrics(run: RunDir, generator: str, reals: RealReference, options: MetricOptions | None = None,
                      progress: bool | None = None) -> dict:
    """``metrics/<generator>.json``, computed now unless a valid one is on disk.

    The file is valid while the fakes are those it scored; training may have gone on since without a better
    checkpoint (so without new fakes), and the steps and seconds trained are read from ``last.pt`` either way.
    """
    options = options or MetricOptions()
    path, key = run.metrics(generator), metrics_key(run, generator, reals, options)
    if path.exists():
        cached = read_json(path, "metrics")
        if cached.get("key") == key:
            cached.pop("schema")
            return {**cached, **training_cost(run, generator)}
    fakes, manifest = load_fakes(run.fakes(generator), reals.train.channels, reals.train.image_size)
    count = min(options.num_samples, len(fakes))
    fakes, manifest = fakes[:count], manifest.iloc[:count]
    step = manifest["step"].iloc[0]  # none for fakes imported from elsewhere
    result = {"generator": generator, "dataset": str(reals.spec), "key": key, **training_cost(run, generator),
              "sampled_step": None if pd.isna(step) else int(step),
              "sampled_checkpoint": manifest["checkpoint"].iloc[0]}
    labels = torch.tensor(manifest["label"].astype(int).to_numpy()) if manifest["label"].notna().all() else None
    if reals.domain is None:
        result["domain_missing"] = (f"{reals.spec} has one class, and a domain classifier needs at least two; "
                                    f"the domain scores are left out")
    else:
        result.update(domain_scores(reals.domain, fakes, labels, options.seed))
    result.update(inception_part(reals, fakes, options, key["reals_slice"], progress))
    if distributed.is_main():  # under torchrun every rank computed the same numbers
        write_json(path, result, "metrics")
    return result


def inception_part(reals: RealReference, fakes: torch.Tensor, options: MetricOptions, reals_slice: str | None,
                   progress) -> dict:
    """Inception metrics against the ``reals_slice`` of the training reals (None: all of them), or the reason they
    are missing (switched off, or no weights on this machine)."""
    if not options.inception:
        return {"fid": None, "inception_missing": "switched off (--no-inception)"}
    try:
        extractor = reals.extractor
    except DeepbenchError as error:
        return {"fid": None, "inception_missing": str(error)}
    pool = None if reals_slice is None else real_slice(len(reals.train), reals_slice)
    result = fidelity_metrics(reals.train, fakes, max_real=options.num_samples, extractor=extractor,
                              real_pool=pool, progress=progress, seed=options.seed)
    result["inception_missing"] = None
    if min(result["samples_real"], result["samples_fake"]) < FEW_SAMPLES:
        result["fid_note"] = (f"FID from {result['samples_fake']} fakes and {result['samples_real']} reals is biased "
                              f"upward against the usual {FEW_SAMPLES}; compare only at equal counts (KID is unbiased)")
    return result


def training_cost(run: RunDir, generator: str) -> dict:
    """Training steps and seconds from the generator's last checkpoint (None when it was only sampled)."""
    last = run.last_checkpoint(generator)
    if not last.exists():
        return {"train_steps": None, "train_seconds": None}
    state = load_checkpoint(last)
    return {"train_steps": int(state["step"]), "train_seconds": float(state["seconds"])}
