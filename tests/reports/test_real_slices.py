"""What chooses never sees what reports: checkpoint selection, recipe searches and the report's Inception metrics
compare with disjoint slices of the training reals."""

from types import SimpleNamespace

import pytest
import torch

from benchmark.errors import DeepbenchError
from benchmark.images import InMemoryImages
from benchmark.rundir import RunDir
from reports.metrics import domain, generator_metrics
from reports.metrics.fidelity import reference_features
from reports.metrics.generator_metrics import MetricOptions, inception_part, reference_slice
from reports.metrics.real_slices import SLICE_SIZE, real_slice


@pytest.mark.parametrize("count", [60_000, 12_000, 4_000, 100, 7])
def test_the_three_slices_are_disjoint_and_cover_the_split(count):
    slices = {name: real_slice(count, name).tolist() for name in ("selection", "tuning", "report")}
    every = slices["selection"] + slices["tuning"] + slices["report"]
    assert sorted(every) == list(range(count))  # disjoint, and nothing left out
    assert len(slices["selection"]) == len(slices["tuning"]) == min(SLICE_SIZE, count // 4)
    assert len(slices["report"]) >= count // 2
    assert torch.equal(real_slice(count, "selection"), real_slice(count, "selection"))  # the same in every run


def test_the_selection_slice_is_the_checkpoint_scores_reals_of_before():
    """Seed-0 training chose best.pt against the first 1,000 of this permutation before slices existed; keeping
    them (in their order) keeps seed-0 checkpoints on training splits of at least 4,000 images as they were
    (other seeds, and smaller splits, now choose against this slice too)."""
    before = torch.randperm(60_000, generator=torch.Generator().manual_seed(0))[:1000]
    assert torch.equal(real_slice(60_000, "selection"), before)


def test_an_unknown_slice_is_refused():
    with pytest.raises(DeepbenchError, match="unknown slice of the reals 'test'; choose one of selection"):
        real_slice(100, "test")
    with pytest.raises(DeepbenchError, match="--reals-slice must be report or tuning, got 'selection'"):
        MetricOptions(reals_slice="selection")


def labelled_images(count):
    images = torch.arange(count, dtype=torch.int64).remainder(256).to(torch.uint8).view(count, 1, 1, 1)
    images = images.expand(count, 1, 28, 28).clone()
    images[:, 0, 0, 0] = torch.arange(count) // 256  # every image distinct, so it can be found again
    return InMemoryImages("numbered", images, torch.arange(count) % 2, ["even", "odd"])


def test_the_checkpoint_score_and_the_report_never_compare_with_the_same_reals(monkeypatch):
    train = labelled_images(5_000)
    scored, reported = [], []
    monkeypatch.setattr(domain, "train_domain_classifier", lambda dataset: None)
    monkeypatch.setattr(domain, "DomainScorer", lambda classifier, reals: scored.append(reals))
    domain.domain_quality_scorer(train)

    class Reals:
        pass

    reals = Reals()
    reals.train, reals.extractor = train, object()
    monkeypatch.setattr(generator_metrics, "fidelity_metrics", lambda real, fakes, **kwargs: reported.append(
        kwargs["real_pool"]) or {"samples_real": 0, "samples_fake": 0})
    inception_part(reals, torch.zeros(1), MetricOptions(), "report", progress=False)
    inception_part(reals, torch.zeros(1), MetricOptions(reals_slice="tuning"), "tuning", progress=False)

    inception_part(reals, torch.zeros(1), MetricOptions(), None, progress=False)  # imported fakes: every real
    assert reported[2] is None

    as_rows = {bytes(image.numpy()) for image in scored[0]}
    report_rows = {bytes(image.numpy()) for image in train.images[reported[0]]}
    tuning_rows = {bytes(image.numpy()) for image in train.images[reported[1]]}
    assert len(as_rows) == 1000 and len(report_rows) == 3000 and len(tuning_rows) == 1000
    assert not as_rows & report_rows and not as_rows & tuning_rows and not report_rows & tuning_rows


def test_reference_features_draw_only_from_their_pool(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPBENCH_CACHE", str(tmp_path))
    asked = []
    extractor = SimpleNamespace(weights=SimpleNamespace(sha256="0" * 64), backend="stub", dataset=lambda dataset,
                                indices, progress: asked.append(indices) or SimpleNamespace(features=None))
    train = labelled_images(400)
    pool = real_slice(400, "report")
    reference_features(train, extractor, 50, cache=False, pool=pool)
    reference_features(train, extractor, 10_000, cache=False, pool=pool)  # capped by the pool, not the data set
    assert len(asked[0]) == 50 and set(asked[0].tolist()) <= set(pool.tolist())
    assert sorted(asked[1].tolist()) == sorted(pool.tolist())


def test_each_generator_compares_with_the_report_slice_unless_its_fakes_were_imported(tmp_path):
    run = RunDir(tmp_path)
    for name, step in (("dcgan", "5000"), ("photos", "")):  # imported fakes have no training step
        run.fakes(name).mkdir(parents=True)
        (run.fakes(name) / "manifest.csv").write_text(f"file,step\n000000.png,{step}\n")
    assert reference_slice(run, "dcgan", MetricOptions()) == "report"
    assert reference_slice(run, "photos", MetricOptions()) is None
    assert reference_slice(run, "photos", MetricOptions(reals_slice="tuning")) == "tuning"
