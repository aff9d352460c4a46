"""Every GAN builds for every supported size and channel count, and refuses what it cannot build."""

import pytest
import torch

from benchmark.errors import DeepbenchError
from generators.registry import GENERATORS, GANConfig, create_gan

SMALL = GANConfig(nz=8, ngf=8, ndf=8)


@pytest.mark.parametrize("name", ["dcgan", "cdcgan", "capsgan", "ccapsgan", "sngan", "csngan"])
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32), (3, 64), (1, 8)])
def test_shapes(name, channels, size):
    gan = create_gan(name, channels, size, num_classes=10, config=SMALL)
    labels = torch.tensor([0, 3, 9]) if gan.conditional else None
    images = gan.generator(torch.randn(3, 8), labels)
    assert images.shape == (3, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1
    output, features = gan.discriminator(images, labels)
    expected = (3,) if gan.discriminator.loss in ("bce", "hinge") else (3, (10 if gan.conditional else 1) + 1)
    assert output.shape == expected and features.shape[0] == 3
    if gan.discriminator.loss == "margin":
        assert ((output >= 0) & (output < 1)).all()  # capsule lengths are probabilities


@pytest.mark.parametrize("channels, size, capsules", [(1, 28, 6 * 6), (3, 32, 8 * 8)])
def test_the_papers_capsule_discriminator_is_capsnet_with_one_output_capsule(channels, size, capsules):
    paper = create_gan("capsgan-paper", channels, size).discriminator  # the default width: CapsNet's own
    assert paper.features[0].out_channels == 256 and paper.features[0].kernel_size == (9, 9)
    assert (paper.primary.num_capsules, paper.primary.capsule_dim, paper.primary.stride) == (32, 8, 2)
    assert (paper.routing.in_capsules, paper.routing.out_capsules, paper.routing.out_dim) == (32 * capsules, 1, 16)
    tiny = create_gan("capsgan-paper", channels, size, config=SMALL)
    output, _ = tiny.discriminator(tiny.generator(torch.randn(3, 8)))
    assert output.shape == (3, 1) and ((output >= 0) & (output < 1)).all()


def test_sngan_up_samples_by_nearest_neighbour_and_normalises_every_layer_of_its_discriminator():
    gan = create_gan("sngan", 3, 32)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in gan.generator.modules())
    layers = [m for m in gan.discriminator.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)  # spectral norm on each
    assert (sum(p.numel() for p in gan.generator.parameters()), sum(p.numel() for p in gan.discriminator.parameters())
            ) == (4_162_051, 1_070_337)  # the paper's CIFAR-10 ResNet: about 4.3M and 1.0M


def test_sngan_is_narrow_on_gray_images_where_the_papers_widths_cost_fifty_dcgan_steps_a_step():
    gray = create_gan("sngan", 1, 28)
    assert (gray.config.ngf, gray.config.ndf, gray.generator.width) == (8, 16, 32)
    assert {m.out_channels for m in gray.discriminator.modules() if isinstance(m, torch.nn.Conv2d)} == {32}
    assert create_gan("csngan", 1, 28, num_classes=10).config.ngf == 8
    given = create_gan("sngan", 1, 28, config=GANConfig(ngf=64))
    assert (given.config.ngf, given.config.ndf) == (64, 16)  # the user's value wins, option by option


def test_conditional_generator_depends_on_the_label():
    gan = create_gan("cdcgan", 1, 28, num_classes=10, config=SMALL).generator.eval()
    z = torch.randn(1, 8).repeat(2, 1)
    images = gan(z, torch.tensor([1, 7]))
    assert not torch.allclose(images[0], images[1])


def test_options_reach_the_models():
    gan = create_gan("dcgan", 1, 28, config=GANConfig(nz=8, ngf=8, ndf=8, spectral_norm=True, minibatch_std=True))
    names = [name for name, _ in gan.discriminator.named_parameters()]
    assert any("parametrizations.weight" in name for name in names)  # spectral norm applied
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gan.discriminator.modules())
    routing = create_gan("capsgan", 1, 28, config=GANConfig(routing_iterations=5)).discriminator.routing
    assert routing.iterations == 5


@pytest.mark.parametrize("call, message", [
    (lambda: create_gan("stylegan", 1, 28),
     "unknown generator 'stylegan'; known: dcgan, cdcgan, capsgan, ccapsgan, capsgan-paper, sngan, csngan"),
    (lambda: create_gan("dcgan", 1, 30), "image size 30 is not supported"),
    (lambda: create_gan("dcgan", 1, (28, 32)), "need square images"),
    (lambda: create_gan("cdcgan", 1, 28, num_classes=1), "cdcgan is class-conditional and needs"),
    (lambda: create_gan("capsgan-paper", 3, 64), "capsgan-paper is the paper's discriminator for 28 and 32 px"),
    (lambda: GANConfig(nz=0), "nz must be at least 1"),
])
def test_bad_requests_are_clear_errors(call, message):
    with pytest.raises(DeepbenchError, match=message):
        call()


def test_registry_lists_all_generators():
    assert GENERATORS.names() == ["dcgan", "cdcgan", "capsgan", "ccapsgan", "capsgan-paper", "sngan", "csngan", "vae",
                                "cvae", "ddpm", "cddpm"]
