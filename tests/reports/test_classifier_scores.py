"""Classifier-based scores on a toy conditional generator: a "perfect" one (real digits with their true
labels) against a broken one (the same digits with wrong labels, or one digit only)."""

import pytest
import torch

from benchmark.data import load
from benchmark.images import InMemoryImages
from reports.metrics import classifier_scores
from reports.metrics.classifier_scores import DomainReference, domain_scores, frechet_distance, gan_train_epochs
from reports.metrics.domain import train_domain_classifier


@pytest.fixture(scope="module")
def real_test():
    images, labels = load("embedded", "test").tensors()
    return InMemoryImages("embedded test, first 1000", images[:1000], labels[:1000], [str(d) for d in range(10)])


@pytest.fixture(scope="module")
def classifier(shared_domain_classifiers):
    """The embedded digits' domain classifier, as reports train it (cached for the whole test session)."""
    return train_domain_classifier(load("embedded", "train"), progress=False)


@pytest.fixture(scope="module")
def reference(classifier, real_test):
    return DomainReference(classifier, real_test)


@pytest.fixture(scope="module")
def good_fakes():
    """Unseen real digits with their true labels: what a perfect conditional generator would give."""
    images, labels = load("embedded", "test").tensors()
    return images[1000:2000], labels[1000:2000]


@pytest.fixture(scope="module", autouse=True)
def short_gan_train():
    """GAN-train at a quarter of its steps (not conftest's 40): enough to learn 1,000 real digits, and a quarter
    of the time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(classifier_scores, "GAN_TRAIN_STEPS", classifier_scores.GAN_TRAIN_STEPS // 4)
        yield


@pytest.fixture(scope="module")
def good_scores(reference, good_fakes, short_gan_train):
    return domain_scores(reference, *good_fakes)


def test_a_perfect_conditional_generator_scores_like_real_data(good_scores):
    scores = good_scores
    assert scores["gan_test"] > 0.8 and abs(scores["gan_test"] - scores["real_accuracy"]) < 0.05
    assert scores["gan_train"] > 0.8
    assert scores["domain_is_mean"] > 3  # predictions spread over ten classes (a 1-class set gives 1)
    assert scores["domain_kid_mean"] < 0.01


def test_wrong_labels_ruin_gan_test_and_gan_train_but_not_the_label_free_scores(reference, good_fakes, good_scores,
                                                                               short_gan_train):
    images, labels = good_fakes
    good = good_scores
    shuffled = domain_scores(reference, images, (labels + 1) % 10)
    assert shuffled["gan_test"] < 0.2 and shuffled["gan_train"] < 0.3
    assert shuffled["domain_fid"] == pytest.approx(good["domain_fid"])  # the images are the same


def test_one_mode_has_low_domain_is_and_a_larger_distance(reference, good_fakes):
    images, labels = good_fakes
    zeros = images[labels == 0]
    collapsed = domain_scores(reference, zeros)
    diverse = domain_scores(reference, images[: len(zeros)])
    assert collapsed["domain_is_mean"] < 2 < diverse["domain_is_mean"]
    assert collapsed["domain_fid"] > 5 * diverse["domain_fid"]
    assert collapsed["gan_test"] is None and collapsed["gan_train"] is None  # no labels: unconditional


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 2, generator=generator, dtype=torch.float64)
    b = torch.randn(20000, 2, generator=generator, dtype=torch.float64) * 2 + torch.tensor([3.0, 0.0])
    # ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2) = 9 + (2 + 8 - 2 * 2 * 2) = 11
    assert frechet_distance(a, b) == pytest.approx(11, rel=0.03)


def test_a_class_subset_scored_by_the_whole_sets_classifier_has_no_real_accuracy(classifier, good_fakes):
    images, labels = good_fakes
    sevens = InMemoryImages("sevens", images[labels == 7], torch.zeros(int((labels == 7).sum()), dtype=torch.long),
                            ["7"])
    scores = domain_scores(DomainReference(classifier, sevens), images[:50])
    assert scores["real_accuracy"] is None and scores["domain_fid"] > 0


@pytest.mark.parametrize("count", [1, 24, 63, 64, 200, 1000, 5000])
def test_gan_train_sees_its_budget_of_images_and_a_set_under_one_batch_takes_the_budgets_steps(count):
    """The budget is GAN_TRAIN_STEPS batches of images (within one epoch); a set smaller than a batch is one step
    an epoch, and takes GAN_TRAIN_STEPS of them, not one per 64 images of the budget (1,067 for 24 fakes)."""
    epochs, steps = gan_train_epochs(count), classifier_scores.GAN_TRAIN_STEPS
    budget = steps * classifier_scores.GAN_TRAIN_BATCH
    if count < classifier_scores.GAN_TRAIN_BATCH:
        assert epochs == steps
    else:
        assert budget <= epochs * count < budget + count and epochs >= 2
