"""Sample quality measured with the domain classifier: domain FID, KID and IS, GAN-train and GAN-test.

These are the "classification task using the generated images" scores of Shmelkov et al. (2018, "How good is
my GAN?"), computed with torch-fidelity's feature-level functions on the features and logits of a small
classifier trained on the real data set (``reports.metrics.domain``) instead of Inception's. The reference is the
real **test** split, which the classifier never trained on.

- domain FID / KID: Fréchet distance and kernel distance between the classifier's penultimate features.
- domain IS: the Inception Score formula on the classifier's class posteriors (high when each fake is
  confidently one class and all classes appear).
- GAN-test (conditional generators): accuracy of the real-trained classifier on fakes, against the class each
  fake was asked for. High when fakes look like their class (precision-like).
- GAN-train (conditional generators): a fresh classifier trained on the fakes alone, tested on the real test
  split. High when the fakes cover each class's variety (recall-like); compare with ``real_accuracy``, the
  real-trained classifier's accuracy on that split (None when it was trained on a larger set of classes).
"""

from __future__ import annotations

import math
from functools import cached_property

import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

from benchmark.images import ImageDataset, InMemoryImages
from reports.metrics.domain import (
    DomainClassifier,
    extract_features,
    kid,
    logits,
    predict,
    spread_subset_size,
    train_domain_classifier,
)

IS_SPLITS = 10
GAN_TRAIN_STEPS, GAN_TRAIN_BATCH = 400, 64  # enough steps to learn digits from a few hundred fakes or many


def frechet_distance(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """torch-fidelity's FID formula on any two (N, D) feature sets."""
    real, fake = (fid_features_to_statistics(torch.as_tensor(f).double()) for f in (real_features, fake_features))
    return fid_statistics_to_metric(real, fake, False)[KEY_METRIC_FID]


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return (predicted == labels).double().mean().item()


class DomainReference:
    """The real test split as a domain classifier sees it: its features and the classifier's accuracy on it,
    computed on first use and then shared by every generator scored against the same split."""

    def __init__(self, classifier: DomainClassifier, real_test: ImageDataset):
        self.classifier, self.real_test = classifier, real_test
        self.images, self.labels = real_test.tensors()

    @cached_property
    def features(self) -> torch.Tensor:
        return extract_features(self.classifier, self.images)

    @cached_property
    def accuracy(self) -> float | None:
        """None for a class subset scored by the whole set's classifier: its labels are not the classifier's."""
        if self.classifier.num_classes != len(self.real_test.classes):
            return None
        return accuracy(predict(self.classifier, self.images), self.labels)


def domain_scores(reference: DomainReference, fakes: torch.Tensor, fake_labels: torch.Tensor | None = None,
                  seed: int = 0) -> dict:
    """All classifier-based scores of uint8 ``fakes`` against the real test split of ``reference``.

    ``fake_labels`` (the classes the fakes were asked for) turn on GAN-test and GAN-train; without them
    (an unconditional generator) those two are None.
    """
    classifier = reference.classifier
    fake_features = extract_features(classifier, fakes)
    subset = spread_subset_size(len(reference.images), len(fakes))
    kid_mean, kid_std = kid(reference.features, fake_features, subset, seed=seed)
    score = isc_features_to_metric(logits(classifier, fakes), min(IS_SPLITS, len(fakes)), rng_seed=seed)
    result = {"domain_network": f"domain classifier ({classifier.feature_dim}-d features, "
                                f"{classifier.num_classes} classes)",
              "domain_samples_real": len(reference.images), "domain_samples_fake": len(fakes),
              "domain_fid": frechet_distance(reference.features, fake_features),
              "domain_kid_mean": kid_mean, "domain_kid_std": kid_std, "domain_kid_subset_size": subset,
              "domain_is_mean": score[KEY_METRIC_ISC_MEAN], "domain_is_std": score[KEY_METRIC_ISC_STD],
              "real_accuracy": reference.accuracy, "gan_test": None, "gan_train": None}
    if fake_labels is not None:
        result["gan_test"] = accuracy(predict(classifier, fakes), fake_labels)
        result["gan_train"] = gan_train(fakes, fake_labels, reference.real_test, seed)
    return result


def gan_train_epochs(count: int) -> int:
    """Epochs over ``count`` labelled fakes that show the classifier ``GAN_TRAIN_STEPS`` batches of images.

    A set smaller than one batch is one step an epoch, so it counts as a full batch: ``GAN_TRAIN_STEPS`` steps
    over the whole set, instead of one step per ``GAN_TRAIN_BATCH`` images of the budget (1,067 for 24 fakes).
    """
    return max(2, math.ceil(GAN_TRAIN_STEPS * GAN_TRAIN_BATCH / max(count, GAN_TRAIN_BATCH)))


def gan_train(fakes: torch.Tensor, fake_labels: torch.Tensor, real_test: ImageDataset, seed: int = 0) -> float:
    """Accuracy on the real test split of a classifier trained on the labelled fakes alone."""
    training = InMemoryImages("fakes", fakes, fake_labels, real_test.classes)
    epochs = gan_train_epochs(len(fakes))
    classifier = train_domain_classifier(training, epochs=epochs, batch_size=GAN_TRAIN_BATCH, seed=seed,
                                         cache=False, progress=False)
    real_images, real_labels = real_test.tensors()
    return accuracy(predict(classifier, real_images), real_labels)
