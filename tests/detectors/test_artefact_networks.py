"""The detectors built to generalise, each showing its inductive bias on a tiny task where it matters."""

import pytest
import torch
import torch.nn.functional as F

from detectors.artefact_networks import local_pixel_dependency, neighbouring_pixel_residual
from detectors.detector import Detector, DetectorConfig
from detectors.evaluate import evaluate
from detectors.networks import create_network
from detectors.sets import LabelledImages, labelled

SIZE = 16


def upsampling_task(count: int, seed: int) -> LabelledImages:
    """Reals: smooth random images (white noise blurred by a 3 x 3 box); fakes: the same kind of image at half
    the resolution, up-sampled by nearest neighbours. Both draw their pixels from one distribution, so their
    histograms agree; only the 2 x 2 repetition tells them apart."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    noise = torch.rand(count, 1, SIZE + 2, SIZE + 2, generator=generator)
    reals = F.avg_pool2d(noise, 3, stride=1)
    small = F.avg_pool2d(torch.rand(count, 1, SIZE // 2 + 2, SIZE // 2 + 2, generator=generator), 3, stride=1)
    fakes = F.interpolate(small, scale_factor=2, mode="nearest")
    images = torch.where(labels[:, None, None, None] == 1, fakes, reals)
    return LabelledImages((images * 255).round().to(torch.uint8), labels)


def test_the_npr_residual_vanishes_on_nearest_upsampled_images_only():
    task = upsampling_task(64, 0)
    residual = neighbouring_pixel_residual(task.images.float()).abs().flatten(1).sum(1)
    assert (residual[task.labels == 1] == 0).all() and (residual[task.labels == 0] > 0).all()


def test_npr_learns_the_upsampling_trace_from_a_few_hundred_images():
    train, val, test = upsampling_task(400, 0), upsampling_task(100, 1), upsampling_task(400, 2)
    config = DetectorConfig(batch_size=50, lr=3e-3, augment="none", width=8, epochs=8, patience=3)
    detector = Detector("npr", 1, SIZE, config).fit(train.images, train.labels, val.images, val.labels,
                                                   progress=False)
    assert evaluate(detector, {"own": test}, ("none",), 0)[0]["auc"] > 0.95


def test_the_patch_scorer_ignores_where_the_content_lies():
    """Moving a blob across a flat background keeps the multiset of 9 x 9 patches, hence the mean patch logit;
    cnn's strided layers see the move."""
    torch.manual_seed(0)
    image = torch.full((1, 1, 28, 28), -1.0)
    image[..., 6:12, 6:12] = torch.rand(1, 1, 6, 6)
    moved = torch.roll(image, shifts=(9, 7), dims=(2, 3))  # still 5+ px from every border
    patch, cnn = (create_network(name, 1, 28).eval() for name in ("patch", "cnn"))
    with torch.no_grad():
        assert patch(image).item() == pytest.approx(patch(moved).item(), abs=1e-5)
        assert abs(cnn(image).item() - cnn(moved).item()) > 1e-4


def test_local_pixel_dependency_by_hand():
    image = torch.arange(9.0).view(1, 1, 3, 3)  # centre 4; its neighbours 0..3, 5..8, median (3 + 5) / 2 = 4
    assert local_pixel_dependency(image)[0, 0, 1, 1] == 0
    spike = torch.zeros(1, 1, 3, 3)
    spike[0, 0, 1, 1] = 9.0
    assert local_pixel_dependency(spike)[0, 0, 1, 1] == 9.0  # a lone outlier stands out whole


def test_srm_filters_are_fixed_high_pass_filters():
    network = create_network("srm", 3, 16)
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert network.residual(flat)[..., 2:-2, 2:-2].abs().max() < 1e-6  # a constant has no residual
    assert not any("kernels" in name for name, _ in network.named_parameters())  # never trained
    assert network(torch.rand(2, 3, 16, 16)).shape == (2,)


def smooth_reals(count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(count, 1, SIZE + 4, SIZE + 4, generator=generator)
    return (F.avg_pool2d(noise, 5, stride=1) * 255).round().to(torch.uint8)


def stripes(count: int, seed: int) -> torch.Tensor:
    """A texture no real image has: alternating columns of random bright and dark values."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.rand(count, 1, 1, SIZE, generator=generator) * 255
    levels[..., ::2] = 255 - levels[..., ::2]
    return levels.expand(count, 1, SIZE, SIZE).round().to(torch.uint8)


def test_oneclass_scores_an_unseen_texture_above_real_images_and_never_trains_on_fakes():
    config = DetectorConfig(batch_size=32, lr=3e-3, augment="none", width=16, epochs=6, patience=3)
    blank = torch.zeros(128, 1, SIZE, SIZE, dtype=torch.uint8)
    train, other_train = labelled(smooth_reals(128, 0), blank), labelled(smooth_reals(128, 0), 255 - blank)
    val = labelled(smooth_reals(32, 1), stripes(32, 1))
    first, second = (Detector("oneclass", 1, SIZE, config).fit(t.images, t.labels, val.images, val.labels,
                                                               progress=False) for t in (train, other_train))
    for a, b in zip(first.network.state_dict().values(), second.network.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the training fakes changed nothing: only the reals train the coder
    test = labelled(smooth_reals(200, 2), stripes(200, 2))
    assert evaluate(first, {"unseen": test}, ("none",), 0)[0]["auc"] > 0.9
