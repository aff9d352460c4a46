"""Report pictures: the sample grid keeps every pixel and make_grid's layout, the charts are readable PNGs
sized for a web page, bad input fails with a DeepbenchError, and no figure or temp file is left behind."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from benchmark.errors import DeepbenchError
from reports.presentation.leaderboard import quality_detectability_table
from reports.presentation.plots import (
    save_auc_heatmap,
    save_image_grid,
    save_quality_detectability_plot,
    save_robustness_plot,
    save_roc_curves,
)
from tests.reports.rows import detection_row


def opened(path):
    """The PNG at ``path`` after checking it is the only file in its folder (no temp file left beside it)."""
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.copy()


def web_sized(image):
    return 500 <= image.width <= 1000 and 200 <= image.height <= 1000


@pytest.fixture(autouse=True)
def no_open_figures():
    yield
    assert plt.get_fignums() == []


def test_grid_has_make_grid_layout_and_exact_pixels(tmp_path):
    images = torch.randint(0, 256, (10, 3, 6, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    path = save_image_grid(images, tmp_path / "grid.png", nrow=4)
    grid = np.asarray(opened(path))
    # 4 columns and 3 rows of 8x6 images, 2 pixels of padding between and around them
    assert grid.shape == (3 * (6 + 2) + 2, 4 * (8 + 2) + 2, 3)
    top, left = 2 + 1 * (6 + 2), 2 + 1 * (8 + 2)  # image 5: second row, second column
    np.testing.assert_array_equal(grid[top:top + 6, left:left + 8], images[5].permute(1, 2, 0).numpy())


def test_gray_grid_is_a_valid_image(tmp_path):
    images = torch.arange(3 * 25, dtype=torch.uint8).reshape(3, 1, 5, 5)
    grid = np.asarray(opened(save_image_grid(images, tmp_path / "gray.png")))
    assert grid.shape == (5 + 4, 3 * (5 + 2) + 2, 3)
    np.testing.assert_array_equal(grid[2:7, 2:7, 0], images[0, 0].numpy())
    assert (grid[..., 0] == grid[..., 2]).all()


@pytest.mark.parametrize("images", [
    torch.zeros(2, 3, 4, 4),                        # floats
    torch.zeros(3, 4, 4, dtype=torch.uint8),        # no batch axis
    torch.zeros(0, 3, 4, 4, dtype=torch.uint8),     # no images
    torch.zeros(2, 2, 4, 4, dtype=torch.uint8),     # two channels
    np.zeros((2, 3, 4, 4), dtype=np.uint8),         # not a tensor
], ids=["float", "rank3", "empty", "2channels", "numpy"])
def test_grid_rejects_bad_input(tmp_path, images):
    with pytest.raises(DeepbenchError) as raised:
        save_image_grid(images, tmp_path / "grid.png")
    assert "\n" not in str(raised.value)
    assert not tmp_path.joinpath("grid.png").exists()


def test_roc_curves(tmp_path, monkeypatch):
    lines, plot = [], plt.Axes.plot
    monkeypatch.setattr(plt.Axes, "plot", lambda self, *a, **k: lines.append((a, k)) or plot(self, *a, **k))
    curves = [
        {"label": "cnn@dcgan", "fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.9, 1.0], "auc": 0.94},
        {"label": "capsule@dcgan", "fpr": np.linspace(0, 1, 50), "tpr": np.linspace(0, 1, 50) ** 0.3, "auc": 0.81},
        {"label": "costs $5 and $6", "fpr": [0.0, 1.0], "tpr": [0.0, 1.0], "auc": 0.5},  # not TeX
    ]
    path = save_roc_curves(curves, tmp_path / "figures" / "roc.png", "ROC, cifar10 test")
    assert path == tmp_path / "figures" / "roc.png"
    assert web_sized(opened(path))
    assert [k["label"] for _, k in lines] == ["cnn@dcgan (AUC 0.940)", "capsule@dcgan (AUC 0.810)",
                                              "costs $5 and $6 (AUC 0.500)", "chance"]
    np.testing.assert_array_equal(lines[1][0][1], curves[1]["tpr"])  # each curve drawn through its own points


def test_auc_heatmap_with_missing_values(tmp_path):
    matrix = pd.DataFrame([[0.99, 0.7, np.nan], [0.6, 0.98, 0.75]],
                          index=["dcgan", "capsgan"], columns=["dcgan", "capsgan", "real-test"])
    matrices = {"cnn": matrix, "capsule": matrix * 0.95, "resnet18": matrix.fillna(0.5), "<script>": matrix}
    assert web_sized(opened(save_auc_heatmap(matrices, tmp_path / "auc.png")))


def test_auc_heatmap_draws_an_inverted_auc_apart_from_chance(tmp_path, monkeypatch):
    """0.3 (a detector that ranks fakes as more real than reals) must not look like 0.5 (chance), and 0.3 and
    0.7 lie on opposite sides of the map; once, everything below 0.5 was clipped to the chance colour."""
    drawn, texts, imshow, text = [], [], plt.Axes.imshow, plt.Axes.text
    monkeypatch.setattr(plt.Axes, "imshow", lambda self, *a, **k: drawn.append(imshow(self, *a, **k)) or drawn[-1])
    monkeypatch.setattr(plt.Axes, "text", lambda self, x, y, s, **k: texts.append(s) or text(self, x, y, s, **k))
    matrix = pd.DataFrame([[0.3, 0.5, 0.7, 1.0]], index=["dcgan"], columns=["a", "b", "c", "d"])
    save_auc_heatmap({"cnn": matrix}, tmp_path / "auc.png")
    colours = drawn[0].to_rgba(matrix.to_numpy())[0]
    inverted, chance, better, perfect = (np.asarray(c[:3]) for c in colours)
    assert np.abs(inverted - chance).max() > 0.3 and np.abs(better - chance).max() > 0.3
    assert np.abs(inverted - better).max() > 0.3 and np.abs(perfect - better).max() > 0.1
    assert texts[:2] == ["0.300\ninv.", "0.500"]


def test_auc_heatmap_needs_a_detector(tmp_path):
    with pytest.raises(DeepbenchError, match="no detectors"):
        save_auc_heatmap({}, tmp_path / "auc.png")


def test_robustness_plot(tmp_path, monkeypatch):
    drawn, bar = [], plt.Axes.bar
    monkeypatch.setattr(plt.Axes, "bar", lambda self, x, height, *a, **k: drawn.append(list(height)) or bar(
        self, x, height, *a, **k))
    frame = pd.DataFrame({"cnn@dcgan": [0.99, 0.9, 0.55], "capsule@dcgan": [0.97, np.nan, 0.5]},
                         index=["none", "jpeg:75", "noise:0.1"])
    assert web_sized(opened(save_robustness_plot(frame, tmp_path / "robustness.png", "robustness")))
    np.testing.assert_array_equal(drawn, frame.fillna(0).to_numpy().T)  # a series per detector, bars at its AUCs


def test_robustness_plot_needs_values(tmp_path):
    with pytest.raises(DeepbenchError, match="no AUCs"):
        save_robustness_plot(pd.DataFrame(), tmp_path / "robustness.png", "robustness")


def test_quality_against_detectability_pairs_each_generator_with_each_detectors_auc_on_its_own_fakes(
        tmp_path, monkeypatch):
    """Only in-distribution, clean, headline-protocol rows of learned detectors; each generator's FID beside them,
    a series per detector (no best-of selection on the evaluation split), error bars from the intervals."""
    results = {"generators": [{"generator": "vae", "fid": 80.0}, {"generator": "ddpm", "fid": 20.0}],
               "detectors": [detection_row("cnn", "vae", "vae", 0.99), detection_row("cnn", "ddpm", "ddpm", 0.7),
                             detection_row("cnn", "vae", "ddpm", 0.4), detection_row("capsule", "ddpm", "ddpm", 0.6),
                             detection_row("capsule", "vae", "vae", 0.95),
                             detection_row("baseline:spectrum", "vae", "vae", 1.0),
                             detection_row("cnn", "vae", "vae", 0.5, protocol="raw"),
                             detection_row("cnn", "vae", "vae", 0.8, perturbation="jpeg75")]}
    table = quality_detectability_table(results).sort_values(["detector", "generator"])
    assert table[["detector", "generator", "quality", "auc"]].values.tolist() == [
        ["capsule", "ddpm", 20.0, 0.6], ["capsule", "vae", 80.0, 0.95], ["cnn", "ddpm", 20.0, 0.7],
        ["cnn", "vae", 80.0, 0.99]]
    bars, errorbar = [], plt.Axes.errorbar
    monkeypatch.setattr(plt.Axes, "errorbar", lambda self, x, y, *a, **k: bars.append((k["label"], list(x), list(y),
                                                                                        k["yerr"])) or errorbar(
        self, x, y, *a, **k))
    assert web_sized(opened(save_quality_detectability_plot(table, tmp_path / "quality.png")))
    assert [(label, x, y) for label, x, y, _ in bars] == [("capsule", [20.0, 80.0], [0.6, 0.95]),
                                                         ("cnn", [20.0, 80.0], [0.7, 0.99])]
    np.testing.assert_allclose(bars[0][3], 0.01)
    one = {**results, "generators": results["generators"][:1]}
    assert quality_detectability_table(one).empty  # one generator: nothing to relate
