"""Data set specs: parsing, every source against tiny files in torchvision's formats, subsets, conversion."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from benchmark import data, sources
from benchmark.errors import DeepbenchError
from benchmark.images import InMemoryImages
from tests.benchmark.fixtures import random_digits, write_cifar10, write_image, write_image_folder, write_mnist


def test_parse_spec_names_classes_and_folders(tmp_path):
    assert data.parse_spec("mnist") == data.DatasetSpec("mnist")
    assert data.parse_spec("CIFAR10:cat, dog") == data.DatasetSpec("cifar10", None, ("cat", "dog"))
    assert data.parse_spec(f"folder:{tmp_path}") == data.DatasetSpec("folder", tmp_path)
    assert data.parse_spec(f"folder:{tmp_path}:dog") == data.DatasetSpec("folder", tmp_path, ("dog",))
    assert str(data.parse_spec("mnist:0,1")) == "mnist:0,1"


@pytest.mark.parametrize("spec, message", [
    ("imagenet", "unknown data set 'imagenet'.*known: embedded, mnist, fashion-mnist, cifar10, celeba, folder"),
    ("folder:", "folder spec needs a path"),
    ("mnist:0,,1", "empty class name"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(DeepbenchError, match=message) as error:
        data.parse_spec(spec)
    assert "\n" not in str(error.value)


def test_embedded_default_is_real_mnist_subset():
    train, test = data.load("embedded", "train"), data.load("embedded", "test")
    assert (len(train), len(test)) == (12_000, 2_000)
    assert (train.channels, train.image_size, train.classes) == (1, (28, 28), [str(d) for d in range(10)])
    images, labels = train.tensors()
    assert images.dtype == torch.uint8 and images.shape == (12_000, 1, 28, 28)
    assert images.min() == 0 and images.max() == 255
    counts = labels.bincount(minlength=10)
    assert counts.min() > 1_000 and counts.sum() == 12_000  # every digit well represented
    # MNIST digits are white strokes on black: the border is dark, the centre is bright on average.
    assert images[:, :, :3].float().mean() < 5 and images[:, :, 10:18, 10:18].float().mean() > 60


def test_mnist_reads_extracted_idx_files(tmp_path):
    write_mnist(tmp_path, count=20)
    dataset = data.load("mnist", "test", tmp_path)
    expected_images, expected_labels = random_digits(20, seed=1)
    assert isinstance(dataset, InMemoryImages) and len(dataset) == 20
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(expected_images))
    assert dataset.labels.tolist() == expected_labels.tolist()
    image, label = dataset[3]
    assert image.shape == (1, 28, 28) and label == 3


def test_mnist_gz_only_is_extracted_into_the_cache_not_beside_the_archives(tmp_path, monkeypatch,
                                                                             isolated_paths):
    md5s = write_mnist(tmp_path, count=20, gz=True)
    monkeypatch.setattr(tvd.MNIST, "resources", list(md5s.items()))
    dataset = data.load("mnist", "train", tmp_path)
    assert len(dataset) == 20
    assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == sorted(md5s)  # untouched
    assert list((isolated_paths / "extracted").rglob("train-images-idx3-ubyte"))


def test_an_interrupted_extraction_leaves_no_half_file_that_a_later_or_concurrent_read_takes_as_done(
        tmp_path, monkeypatch, isolated_paths):
    """Two runs started together once read a file the other was still extracting ("files are corrupt")."""
    md5s = write_mnist(tmp_path, count=20, gz=True)
    monkeypatch.setattr(tvd.MNIST, "resources", list(md5s.items()))
    extract = sources.extract_archive

    def interrupted(archive, destination):
        (Path(destination) / Path(archive).stem).write_bytes(b"\x00\x00\x08")  # the first bytes, then killed
        raise KeyboardInterrupt

    monkeypatch.setattr(sources, "extract_archive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.load("mnist", "train", tmp_path)
    assert not [p for p in (isolated_paths / "extracted").rglob("*-ubyte") if ".extracting-" not in str(p)]
    monkeypatch.setattr(sources, "extract_archive", extract)
    assert len(data.load("mnist", "train", tmp_path)) == 20


def test_mnist_gz_with_wrong_md5_is_refused(tmp_path, monkeypatch):
    md5s = write_mnist(tmp_path, count=20, gz=True)
    monkeypatch.setattr(tvd.MNIST, "resources", [(name, "0" * 32) for name in md5s])
    with pytest.raises(DeepbenchError, match="fails its md5 check"):
        data.load("mnist", "train", tmp_path)


def test_fashion_mnist_uses_its_own_folder_and_class_names(tmp_path):
    write_mnist(tmp_path, folder="FashionMNIST", count=20)
    dataset = data.load("fashion-mnist:Trouser,bag", "train", tmp_path)
    assert dataset.classes == ["Trouser", "Bag"]
    assert dataset.labels.tolist() == [0, 1, 0, 1]  # labels 1 and 8 of 0..19 % 10, relabelled in order given


def test_missing_data_set_names_files_and_flag(tmp_path):
    with pytest.raises(DeepbenchError) as error:
        data.load("mnist", "train", tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "--data-root" in message and "--download" in message


def test_cifar10_through_torchvision_with_class_subset(tmp_path, monkeypatch):
    md5s = write_cifar10(tmp_path, count=10)
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[f"data_batch_{i}", md5s[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", md5s["test_batch"]]])
    monkeypatch.setitem(tvd.CIFAR10.meta, "md5", md5s["batches.meta"])
    full = data.load("cifar10", "train", tmp_path)
    assert (len(full), full.channels, full.image_size) == (50, 3, (32, 32))
    dogs = data.load("cifar10:dog", "test", tmp_path)
    assert (len(dogs), dogs.classes, dogs.labels.tolist()) == (1, ["dog"], [0])
    by_index = data.load("cifar10:5", "test", tmp_path)
    assert torch.equal(by_index.images, dogs.images)


def test_cifar10_missing_points_to_an_image_folder_beside_it(tmp_path):
    write_image_folder(tmp_path / "cifar10-jpeg")
    with pytest.raises(DeepbenchError, match="folder:.*cifar10-jpeg"):
        data.load("cifar10", "train", tmp_path)


def test_celeba_layout_split_and_centre_crop(tmp_path):
    folder = tmp_path / "celeba"
    for i in range(4):
        write_image(folder / "img_align_celeba" / f"{i + 1:06d}.jpg", np.full((218, 178, 3), 50 * i, np.uint8))
    (folder / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n")
    train, test = data.load("celeba", "train", tmp_path), data.load("celeba", "test", tmp_path)
    assert (len(train), len(test)) == (2, 1)
    assert train.image_size == (178, 178) and train[0][0].shape == (3, 178, 178)
    assert abs(test[0][0].float().mean().item() - 150) < 2


def test_image_folder_with_splits_and_classes(tmp_path):
    write_image_folder(tmp_path, classes=("cat", "dog"), per_class=3, size=16)
    train = data.load(f"folder:{tmp_path}", "train")
    assert (len(train), train.classes, train.channels, train.image_size) == (6, ["cat", "dog"], 3, (16, 16))
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    dog = data.load(f"folder:{tmp_path}:dog", "test")
    assert dog.classes == ["dog"] and len(dog) == 3 and dog[0][0].float().mean() == 40


def test_jpeg_folder_decodes(tmp_path):
    write_image_folder(tmp_path, suffix=".jpg", per_class=2)
    images, labels = data.load(f"folder:{tmp_path}", "test").tensors(progress=False)
    assert images.shape == (4, 3, 16, 16) and labels.tolist() == [0, 0, 1, 1]
    assert abs(images[2].float().mean().item() - 40) < 3  # JPEG is lossy, but not by much on flat colour


def test_folder_without_splits_is_training_data_only(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"{i}.png", np.zeros((8, 8), np.uint8))
    train = data.load(f"folder:{tmp_path}", "train")
    assert (len(train), train.channels, train.classes) == (3, 1, [tmp_path.name])
    with pytest.raises(DeepbenchError, match="has no test/ folder"):
        data.load(f"folder:{tmp_path}", "test")


def test_wrong_size_or_channels_is_an_error_unless_conversion_is_asked(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_image(tmp_path / "b.png", np.full((12, 12), 200, np.uint8))
    mixed = data.load(f"folder:{tmp_path}", "train")
    with pytest.raises(DeepbenchError, match="b.png is 1x12x12 but .* is 3x8x8; pass --channels and --image-size"):
        mixed[1]
    converted = data.load(f"folder:{tmp_path}", "train", channels=1, image_size=16)
    images, _ = converted.tensors(progress=False)
    assert images.shape == (2, 1, 16, 16) and images[1].min() == 200


def test_in_memory_conversion_repeats_gray_and_resizes():
    dataset = data.load("embedded:4", "test", channels=3, image_size=32)
    assert dataset.channels == 3 and dataset.image_size == (32, 32)
    image, label = dataset[0]
    assert image.shape == (3, 32, 32) and label == 0
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_unreadable_images_are_skipped_with_one_warning_that_counts_them(tmp_path, caplog):
    write_image(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not a png")
    write_image(tmp_path / "c.png", np.full((8, 8), 9, np.uint8))
    (tmp_path / "d.png").write_bytes((tmp_path / "c.png").read_bytes()[:40])  # truncated
    dataset = data.load(f"folder:{tmp_path}", "train")
    images, labels = dataset.tensors(progress=False)
    assert images.shape == (2, 1, 8, 8) and len(labels) == len(dataset) == 2
    assert images[1].eq(9).all()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "skipped 2 unreadable images" in warnings[0] and "--strict" in warnings[0]


def test_under_strict_an_unreadable_image_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmark.images.strict", lambda: True)
    (tmp_path / "a.png").write_bytes(b"not a png")
    write_image(tmp_path / "b.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DeepbenchError, match=r"cannot read image .*a\.png"):
        data.load(f"folder:{tmp_path}", "train").tensors(progress=False)


def test_a_folder_of_unreadable_images_is_an_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"not a png")
    with pytest.raises(DeepbenchError, match="none of its 1 images can be read"):
        data.load(f"folder:{tmp_path}", "train")


def test_unknown_class_lists_known_ones():
    with pytest.raises(DeepbenchError, match="unknown class 'giraffe'.*known classes: 0, 1, 2"):
        data.load("embedded:giraffe", "test")


def test_fingerprint_is_stable_and_content_sensitive(tmp_path):
    write_image_folder(tmp_path / "a", per_class=2)
    write_image_folder(tmp_path / "b", per_class=2)
    first, same = data.load(f"folder:{tmp_path / 'a'}"), data.load(f"folder:{tmp_path / 'b'}")
    assert first.fingerprint == same.fingerprint  # same content, other place
    write_image(tmp_path / "b" / "train" / "cat" / "0000.png", np.full((16, 16, 3), 7, np.uint8))
    changed = data.load(f"folder:{tmp_path / 'b'}")
    assert changed.fingerprint != first.fingerprint
    assert data.load("embedded:1", "test").fingerprint != data.load("embedded:2", "test").fingerprint


def test_root_resolution_order(tmp_path, monkeypatch, isolated_paths):
    assert data.resolve_root(tmp_path) == tmp_path
    monkeypatch.setenv("DEEPBENCH_DATA", str(tmp_path / "env"))
    assert data.resolve_root() == tmp_path / "env"
    monkeypatch.delenv("DEEPBENCH_DATA")
    assert data.resolve_root() == isolated_paths / "data"
