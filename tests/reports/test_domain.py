"""The domain classifier learns real digits in one short epoch, caches itself, and scores samples with
torch-fidelity's KID: about 0 for more of the same data, larger the further the fakes drift."""

import concurrent.futures
import threading
import time

import pytest
import torch

from benchmark.data import load
from benchmark.errors import DeepbenchError
from benchmark.files import load_checkpoint
from benchmark.images import InMemoryImages
from benchmark.runtime import cache_root
from benchmark.sources import ASSETS
from reports.metrics import domain
from reports.metrics.domain import (
    DomainClassifier,
    DomainScorer,
    extract_features,
    kid,
    predict,
    to_model_input,
    train_domain_classifier,
)


def first(dataset, count):
    images, labels = dataset.tensors()
    return InMemoryImages(f"{dataset.description}, first {count}", images[:count], labels[:count], dataset.classes)


def same_weights(a, b):
    return a.state_dict().keys() == b.state_dict().keys() and all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.fixture(scope="module")
def digits():
    """The embedded test split: 2,000 real MNIST digits the classifier never trains on."""
    return load("embedded", "test").tensors()


@pytest.fixture(scope="module")
def classifier():
    """One short epoch (94 steps) on 3,000 embedded training digits; the cache is off as it is per test."""
    return train_domain_classifier(first(load("embedded", "train"), 3000), epochs=1, batch_size=32, cache=False,
                                   progress=False)


def test_one_short_epoch_beats_chance_by_far(classifier, digits):
    images, labels = digits
    accuracy = (predict(classifier, images) == labels).double().mean().item()
    assert accuracy > 0.8  # chance is 0.1


def test_second_call_loads_the_cache_without_training(monkeypatch, digits):
    monkeypatch.setattr(domain, "cache_root", cache_root)  # this test's own cache, not the session's
    data = first(load("embedded", "train"), 600)
    rng_state = torch.get_rng_state()
    trained = train_domain_classifier(data, epochs=1, batch_size=64, progress=False)
    assert torch.equal(torch.get_rng_state(), rng_state)  # seeded locally: the caller's RNG is untouched
    files = list((cache_root() / "domain").glob("*.pt"))
    assert [f.name[:16] for f in files] == [data.fingerprint[:16]]
    assert load_checkpoint(files[0], "domain-classifier")["dataset"] == data.fingerprint
    assert same_weights(trained, train_domain_classifier(data, epochs=1, batch_size=64, cache=False, progress=False))

    def no_training(*args, **kwargs):
        raise AssertionError("trained although a cached classifier exists")

    monkeypatch.setattr(domain, "_fit", no_training)
    rng_state = torch.get_rng_state()
    loaded = train_domain_classifier(data, epochs=1, batch_size=64, progress=False)
    assert torch.equal(torch.get_rng_state(), rng_state)  # a cache hit leaves it untouched too
    assert same_weights(trained, loaded) and not loaded.training
    assert torch.equal(predict(trained, digits[0]), predict(loaded, digits[0]))
    with pytest.raises(AssertionError, match="trained although"):  # other options, other cache entry
        train_domain_classifier(data, epochs=1, batch_size=64, seed=1, progress=False)


def test_the_embedded_digits_classifier_ships_with_the_package_and_loads_without_training(monkeypatch, digits):
    """The README's first run loads it: it must be the classifier of today's embedded digits at today's defaults
    (else rebuild it with benchmarks/make_embedded_classifier.py), and a good one."""
    monkeypatch.setattr(domain, "cache_root", cache_root)  # an empty cache: only the package can hold it
    monkeypatch.setattr(domain, "_fit", lambda *args: pytest.fail(
        "trained: no shipped classifier matches the embedded digits at the default options; rebuild it with "
        "python benchmarks/make_embedded_classifier.py"))
    training = load("embedded", "train")
    loaded = train_domain_classifier(training, progress=False)
    (shipped,) = ASSETS.glob(f"{domain.SHIPPED_PREFIX}*.pt")
    state = load_checkpoint(shipped, "domain-classifier")
    assert state["dataset"] == training.fingerprint and state["training"]["version"] == domain.CACHE_VERSION
    assert not list((cache_root() / "domain").glob("*.pt"))  # read from the package, not copied into the cache
    images, labels = digits
    assert (predict(loaded, images) == labels).double().mean().item() > 0.95  # held-out digits


def test_a_shipped_classifier_is_not_read_without_the_cache(monkeypatch):
    class Trained(Exception):
        pass

    def fit(*args):
        raise Trained

    monkeypatch.setattr(domain, "_fit", fit)
    with pytest.raises(Trained):  # cache=False trains, even where the package holds the classifier
        train_domain_classifier(load("embedded", "train"), cache=False, progress=False)


def test_two_workers_sharing_a_cache_train_one_classifier_and_both_get_it(monkeypatch):
    """Two test workers, or two runs, asking at once for the same classifier: before the cache lock both trained
    it; now one trains while the other waits and loads the file. Threads stand in for the processes: the lock
    is a file lock on separate file descriptors, which excludes them as it excludes processes."""
    monkeypatch.setattr(domain, "cache_root", cache_root)
    data = first(load("embedded", "train"), 200)
    fits, fit = [], domain._fit

    def slow_fit(*args, **kwargs):
        fits.append(threading.get_ident())
        time.sleep(1)  # long enough that the other thread asks while this one trains
        fit(*args, **kwargs)

    monkeypatch.setattr(domain, "_fit", slow_fit)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first_model, second_model = pool.map(
            lambda _: train_domain_classifier(data, epochs=1, batch_size=64, progress=False), range(2))
    assert len(fits) == 1
    assert same_weights(first_model, second_model)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_shapes_for_each_channel_count_and_size(channels, size):
    torch.manual_seed(0)
    model = DomainClassifier(channels, size, num_classes=10)
    images = torch.randint(0, 256, (5, channels, size, size), dtype=torch.uint8)
    features = extract_features(model, images, batch_size=2)
    assert features.shape == (5, 128) and features.dtype == torch.float64
    assert torch.allclose(features, extract_features(model, to_model_input(images)))
    labels = predict(model, images)
    assert labels.shape == (5,) and labels.dtype == torch.int64 and 0 <= labels.min() <= labels.max() < 10
    assert model(to_model_input(images)).shape == (5, 10)


def test_model_input_is_minus_one_to_one():
    assert to_model_input(torch.tensor([0, 255], dtype=torch.uint8)).tolist() == [-1.0, 1.0]
    with pytest.raises(DeepbenchError, match=r"got values in \[0, 255\]"):
        to_model_input(torch.tensor([0.0, 255.0]))
    with pytest.raises(DeepbenchError, match="got torch.int64"):
        to_model_input(torch.tensor([0, 255]))


def test_kid_is_about_zero_for_more_real_data_and_grows_with_noise(classifier, digits):
    scorer = DomainScorer(classifier, digits[0][:1000])
    reals = to_model_input(digits[0][1000:])
    noise = torch.randn(reals.shape, generator=torch.Generator().manual_seed(0))
    same = scorer(reals)
    noisy = [scorer((reals + sigma * noise).clamp(-1, 1)) for sigma in (0.1, 0.3, 1.0)]
    assert noisy[0] < noisy[1] < noisy[2]
    assert abs(same) < noisy[0] / 10
    features = extract_features(classifier, digits[0])
    assert scorer(reals) == kid(features[:1000], features[1000:], subsets=10)[0]


def test_kid_matches_a_hand_computed_unbiased_mmd():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    y = torch.randn(6, 4, generator=generator, dtype=torch.float64) + 0.5
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (sum(float(p) * float(q) for p, q in zip(a, b, strict=True)) / d + 1) ** 3

    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    between = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    expected = within - 2 * between
    mean, std = kid(x, y, subset_size=6, subsets=3)  # every subset is the whole set, reordered
    assert expected > 0.05
    assert mean == pytest.approx(expected, rel=1e-12) and std == pytest.approx(0, abs=1e-12)


def test_kid_subset_size_adapts_to_the_sample_count():
    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(50, 8, generator=generator), torch.randn(30, 8, generator=generator) + 0.3
    assert kid(real, fake, subsets=5) == kid(real, fake, subset_size=30, subsets=5)
    with pytest.raises(DeepbenchError, match="subset_size 31 exceeds the smaller sample count 30"):
        kid(real, fake, subset_size=31)


def test_one_class_data_set_is_refused():
    with pytest.raises(DeepbenchError, match="at least 2 classes .* has 1; use the data set without a class subset"):
        train_domain_classifier(load("embedded:3", "train"), progress=False)


TINY = InMemoryImages("tiny", torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]), ["a", "b"])
MODEL = DomainClassifier(1, 28, 2)
FEATURES = torch.zeros(10, 4)


@pytest.mark.parametrize("call, message", [
    (lambda: DomainClassifier(2, 28, 10), "channels must be 1 or 3, got 2"),
    (lambda: DomainClassifier(1, 28, 1), "num_classes must be an int of at least 2, got 1"),
    (lambda: DomainClassifier(1, 28, 10, width=0), "width must be a positive int, got 0"),
    (lambda: DomainClassifier(1, 0, 10), "image size 0 is not positive"),
    (lambda: train_domain_classifier(TINY, epochs=0), "epochs must be a positive int, got 0"),
    (lambda: train_domain_classifier(TINY, batch_size=-1), "batch_size must be a positive int, got -1"),
    (lambda: train_domain_classifier(TINY, lr=2.0), r"lr must lie in \(0, 1\), got 2.0"),
    (lambda: train_domain_classifier(TINY, seed=-1), "seed must be an int .* got -1"),
    (lambda: train_domain_classifier(TINY, device="tpu"), "unknown device 'tpu'"),
    (lambda: predict(MODEL, TINY.images, batch_size=0), "batch_size must be a positive int, got 0"),
    (lambda: extract_features(MODEL, torch.zeros(2, 3, 28, 28, dtype=torch.uint8)), r"got shape \(2, 3, 28, 28\)"),
    (lambda: kid(FEATURES, FEATURES, subset_size=1), "subset_size must be None or an int of at least 2, got 1"),
    (lambda: kid(FEATURES, FEATURES, subsets=0), "subsets must be a positive int, got 0"),
    (lambda: kid(FEATURES, FEATURES, seed=-5), "seed must be an int .* got -5"),
    (lambda: kid(FEATURES, torch.zeros(10, 5)), r"got shapes \(10, 4\) and \(10, 5\)"),
    (lambda: DomainScorer(MODEL, TINY.images.float()), "real_images must be uint8, got torch.float32"),
    (lambda: DomainScorer(MODEL, TINY.images, subsets=0), "subsets must be a positive int, got 0"),
])
def test_bad_options_name_the_value(call, message):
    with pytest.raises(DeepbenchError, match=message):
        call()
