"""Each perturbation keeps shape and dtype and changes pixels as its docstring says; JPEG settings are read back
exactly from files Pillow wrote at known qualities, and format matching equals encoding with Pillow directly."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.errors import DeepbenchError
from detectors.formats import IJG_CHROMA, JpegSettings, folder_jpeg_settings, ijg_table, jpeg_settings, match_format
from detectors.perturb import PERTURBATIONS, jpeg, perturb


def textured(n=2, channels=3, size=32, seed=0):
    """Smooth stripes plus pixel noise: detail at every frequency, as in a photo."""
    generator = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    stripes = 60 * torch.sin(x / 3.0) * torch.cos(y / 5.0)
    noise = 25 * torch.randn(n, channels, size, size, generator=generator)
    return (128 + stripes + noise).round().clamp(0, 255).to(torch.uint8)


def checkerboard(size=16, channels=3):
    board = (torch.arange(size)[:, None] + torch.arange(size)[None, :]) % 2 * 255
    return board.to(torch.uint8).expand(1, channels, size, size).contiguous()


def high_frequency_energy(images):
    """Mean squared difference of horizontally and vertically adjacent pixels."""
    images = images.double()
    return ((images[..., 1:, :] - images[..., :-1, :]) ** 2).mean() + ((images[..., 1:] - images[..., :-1]) ** 2).mean()


def mean_abs_change(a, b):
    return (a.double() - b.double()).abs().mean().item()


def pillow_jpeg(array, quality, subsampling=None):
    """One HxW or HxWx3 uint8 array through Pillow's JPEG encoder and decoder, with no project code in between."""
    buffer = io.BytesIO()
    options = {"subsampling": subsampling} if subsampling else {}
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality, **options)
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


def write_jpeg(path, quality, subsampling="4:2:0", channels=3, seed=0):
    array = textured(1, channels, 16, seed)[0].permute(1, 2, 0).numpy()
    Image.fromarray(array if channels == 3 else array[..., 0]).save(
        path, format="JPEG", quality=quality, **({"subsampling": subsampling} if channels == 3 else {}))
    return path


def test_names_are_stable_and_in_order():
    assert PERTURBATIONS == ("none", "jpeg95", "jpeg75", "jpeg50", "blur1", "blur2", "noise5", "noise10",
                             "resize0.5")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", PERTURBATIONS)
def test_every_perturbation_keeps_shape_and_dtype(name, channels):
    images = textured(2, channels)
    out = perturb(images, name, seed=1)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal(images, textured(2, channels))  # the input is never changed in place
    if name != "none":
        assert not torch.equal(out, images)


def test_none_is_the_identity():
    images = textured()
    assert perturb(images, "none") is images


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DeepbenchError, match="unknown perturbation 'jpeg10'; known: none, jpeg95, .*resize0.5"):
        perturb(textured(), "jpeg10")


def test_bad_images_are_errors():
    with pytest.raises(DeepbenchError, match="uint8"):
        perturb(textured().float(), "blur1")
    with pytest.raises(DeepbenchError, match="1 or 3 channels"):
        perturb(textured(channels=4), "blur1")
    with pytest.raises(DeepbenchError, match="over 6 pixels"):
        perturb(textured(size=6), "blur2")


def test_lower_jpeg_quality_changes_more():
    images = textured()
    changes = [mean_abs_change(perturb(images, name), images) for name in ("jpeg95", "jpeg75", "jpeg50")]
    assert 0 < changes[0] < changes[1] < changes[2]


def test_jpeg_is_pillow_at_that_quality_and_subsampling():
    images = textured(2, 3)
    for subsampling in ("4:2:0", "4:4:4"):
        out = jpeg(images, 75, subsampling)
        for image, result in zip(images, out, strict=True):
            assert np.array_equal(result.permute(1, 2, 0).numpy(),
                                  pillow_jpeg(image.permute(1, 2, 0).numpy(), 75, subsampling))
    assert not torch.equal(jpeg(images, 75, "4:2:0"), jpeg(images, 75, "4:4:4"))
    with pytest.raises(DeepbenchError, match="quality 0"):
        jpeg(images, 0)
    with pytest.raises(DeepbenchError, match="subsampling '4:1:1'"):
        jpeg(images, 75, "4:1:1")


def test_more_blur_removes_more_high_frequencies():
    images = textured()
    energies = [high_frequency_energy(perturb(images, name)) for name in ("none", "blur1", "blur2")]
    assert energies[0] > 2 * energies[1] and energies[1] > 2 * energies[2]
    flat = torch.full((1, 3, 16, 16), 90, dtype=torch.uint8)
    assert torch.equal(perturb(flat, "blur2"), flat)  # weights sum to one


@pytest.mark.parametrize(("name", "std"), [("noise5", 5.0), ("noise10", 10.0)])
def test_noise_has_the_stated_std_and_follows_the_seed(name, std):
    gray = torch.full((4, 3, 64, 64), 128, dtype=torch.uint8)  # mid-gray: no clipping
    rng_state = torch.get_rng_state()
    noisy = perturb(gray, name, seed=3)
    assert torch.equal(torch.get_rng_state(), rng_state)  # a local generator: the global RNG is untouched
    difference = noisy.double() - 128
    standard_error = std / difference.numel() ** 0.5  # 49k samples
    assert difference.std().item() == pytest.approx(std, abs=4 * standard_error + 0.01)  # +0.01: rounding's share
    assert abs(difference.mean().item()) < 4 * standard_error
    assert torch.equal(perturb(gray, name, seed=3), noisy)
    assert not torch.equal(perturb(gray, name, seed=4), noisy)


def test_resize_keeps_a_constant_and_loses_a_checkerboard():
    for size in ((16, 16), (17, 15)):
        constant = torch.full((2, 3, *size), 77, dtype=torch.uint8)
        assert torch.equal(perturb(constant, "resize0.5"), constant)
    board = checkerboard(16)
    assert board.double().std().item() > 120
    out = perturb(board, "resize0.5").double()
    assert (out - 127.5).abs().max().item() < 5  # each 2x2 block averaged to mid-gray (the border a little off)


# --- JPEG settings and format matching ---------------------------------------------------------------------------

@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4", "4:2:2"])
@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_jpeg_settings_recovers_quality_and_subsampling(tmp_path, quality, subsampling):
    path = write_jpeg(tmp_path / "a.jpg", quality, subsampling)
    assert jpeg_settings(path) == JpegSettings(quality, subsampling, exact=True)


def test_jpeg_settings_of_gray_png_and_other_files(tmp_path):
    assert jpeg_settings(write_jpeg(tmp_path / "gray.jpg", 90, channels=1)) == JpegSettings(90, None, True)
    Image.fromarray(textured(1, 3, 16)[0].permute(1, 2, 0).numpy()).save(tmp_path / "a.png")
    assert jpeg_settings(tmp_path / "a.png") is None
    (tmp_path / "notes.txt").write_text("not an image")
    assert jpeg_settings(tmp_path / "notes.txt") is None
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DeepbenchError, match="cannot read JPEG .*broken.jpg"):
        jpeg_settings(tmp_path / "broken.jpg")


def test_jpeg_settings_estimates_quality_for_other_encoders(tmp_path):
    luma = list(ijg_table(75))
    luma[5] += 3  # one entry off libjpeg's table: quality 75 is still the nearest
    array = textured(1, 3, 16)[0].permute(1, 2, 0).numpy()
    Image.fromarray(array).save(tmp_path / "a.jpg", format="JPEG", qtables=[luma, list(ijg_table(75, IJG_CHROMA))])
    settings = jpeg_settings(tmp_path / "a.jpg")
    assert settings == JpegSettings(75, "4:2:0", exact=False)
    assert str(settings) == "JPEG quality 75 (estimated), 4:2:0"


def test_ijg_table_matches_libjpeg_at_every_quality():
    buffer = io.BytesIO()
    array = textured(1, 1, 16)[0, 0].numpy()
    for quality in (1, 10, 49, 50, 51, 99, 100):
        buffer.seek(0)
        buffer.truncate()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        assert tuple(Image.open(buffer).quantization[0]) == ijg_table(quality)


@pytest.mark.parametrize(("quality", "subsampling"), [(75, "4:2:0"), (90, "4:4:4")])
def test_match_format_equals_pillow_at_the_reals_settings(tmp_path, quality, subsampling):
    reals = [write_jpeg(tmp_path / f"{i}.jpg", quality, subsampling, seed=i) for i in range(3)]
    settings = folder_jpeg_settings(reals)
    assert settings == JpegSettings(quality, subsampling, True)
    fakes = textured(2, 3, seed=9)
    matched = match_format(fakes, settings)
    for fake, result in zip(fakes, matched, strict=True):
        assert np.array_equal(result.permute(1, 2, 0).numpy(),
                              pillow_jpeg(fake.permute(1, 2, 0).numpy(), quality, subsampling))


def test_match_format_of_gray_and_lossless():
    gray = textured(2, 1)
    matched = match_format(gray, JpegSettings(75, "4:2:0", True))  # gray images have no subsampling to apply
    assert np.array_equal(matched[0, 0].numpy(), pillow_jpeg(gray[0, 0].numpy(), 75))
    assert match_format(gray, None) is gray  # lossless reals: nothing to match
    with pytest.raises(DeepbenchError, match="gray JPEGs .* --channels 1"):
        match_format(textured(2, 3), JpegSettings(75, None, True))


def test_folder_settings_none_for_png_and_errors_on_disagreement(tmp_path):
    pngs = []
    for i in range(2):
        pngs.append(tmp_path / f"{i}.png")
        Image.fromarray(textured(1, 3, 16, seed=i)[0].permute(1, 2, 0).numpy()).save(pngs[-1])
    assert folder_jpeg_settings(pngs) is None

    jpegs = [write_jpeg(tmp_path / f"{i}.jpg", 75, seed=i) for i in range(4)]
    jpegs.append(write_jpeg(tmp_path / "odd.jpg", 90))
    with pytest.raises(DeepbenchError, match="0.jpg is JPEG quality 75, 4:2:0 but .*odd.jpg is JPEG quality 90"):
        folder_jpeg_settings(jpegs, sample=2)  # the sample is spread over the list, so the last file is read
    with pytest.raises(DeepbenchError, match="but .*0.png is not JPEG"):
        folder_jpeg_settings(jpegs[:2] + pngs[:1])
    with pytest.raises(DeepbenchError, match="no image files"):
        folder_jpeg_settings([])
