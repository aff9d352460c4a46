"""Generators by name: ``create_gan("dcgan", channels=1, image_size=28)``, as timm's ``create_model``.

A registered factory builds a :class:`GAN` (generator, discriminator and what they were built for) from
the data's shape, its class count and a :class:`GANConfig`. Adding a GAN is one factory and one decorator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from benchmark.errors import DeepbenchError
from benchmark.options import option
from benchmark.registry import Registry
from generators.capsgan import CapsuleDiscriminator, PaperCapsuleDiscriminator
from generators.dcgan import DCGANDiscriminator, DCGANGenerator, upsampling_plan
from generators.sngan import ResNetDiscriminator, ResNetGenerator

GENERATORS = Registry("generator")


@dataclass(frozen=True)
class GANConfig:
    """Architecture options; the defaults are DCGAN's (latent 100, widths 64)."""

    nz: int = option(100, "Latent size.")
    ngf: int = option(64, "Generator width.")
    ndf: int = option(64, "Discriminator width.")
    spectral_norm: bool = option(False, "Spectral norm on D's layers (drops D's BatchNorm).")
    minibatch_std: bool = option(False, "Minibatch standard deviation feature in D.")
    routing_iterations: int = option(3, "Dynamic-routing iterations of the capsule discriminators.")

    def __post_init__(self):
        for name in ("nz", "ngf", "ndf", "routing_iterations"):
            if getattr(self, name) < 1:
                raise DeepbenchError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class GAN:
    """A generator and its discriminator, with the data shape and classes they were built for."""

    name: str
    generator: nn.Module
    discriminator: nn.Module
    channels: int
    image_size: int
    num_classes: int  # 0: unconditional
    config: GANConfig

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def describe(self) -> dict:
        """What a checkpoint must match to be loaded into this GAN."""
        return {"name": self.name, "channels": self.channels, "image_size": self.image_size,
                "num_classes": self.num_classes, "config": asdict(self.config)}


def _build(name: str, discriminator_class, channels: int, image_size: int, classes: int,
           config: GANConfig, extra: dict, generator_class=DCGANGenerator) -> GAN:
    generator = generator_class(channels, image_size, config.nz, config.ngf, classes)
    discriminator = discriminator_class(channels, image_size, config.ndf, classes, config.spectral_norm,
                                        config.minibatch_std, **extra)
    return GAN(name, generator, discriminator, channels, image_size, classes, config)


def _conditional_classes(name: str, num_classes: int) -> int:
    if num_classes < 2:
        raise DeepbenchError(f"{name} is class-conditional and needs a data set with 2 or more classes "
                             f"(this one has {num_classes}); use {name[1:]} or a data set with classes")
    return num_classes


@GENERATORS.register("dcgan", "DCGAN (Radford et al. 2015)")
def dcgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("dcgan", DCGANDiscriminator, channels, image_size, 0, config, {})


@GENERATORS.register("cdcgan", "class-conditional DCGAN (label embedding in G, projection in D)")
def cdcgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("cdcgan", DCGANDiscriminator, channels, image_size,
                  _conditional_classes("cdcgan", num_classes), config, {})


@GENERATORS.register("capsgan", "CapsuleGAN: DCGAN generator, capsule discriminator with dynamic routing")
def capsgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("capsgan", CapsuleDiscriminator, channels, image_size, 0, config,
                  {"routing_iterations": config.routing_iterations})


@GENERATORS.register("ccapsgan", "class-conditional CapsuleGAN (one output capsule per class, plus fake)")
def ccapsgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("ccapsgan", CapsuleDiscriminator, channels, image_size,
                  _conditional_classes("ccapsgan", num_classes), config,
                  {"routing_iterations": config.routing_iterations})


@GENERATORS.register("capsgan-paper", "CapsuleGAN as the paper builds it: CapsNet with one output capsule (28, 32 px)")
def capsgan_paper(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("capsgan-paper", PaperCapsuleDiscriminator, channels, image_size, 0, config,
                  {"routing_iterations": config.routing_iterations})


@GENERATORS.register("sngan", "SNGAN: ResNet generator (nearest up-sampling), spectrally normalised ResNet "
                             "discriminator, hinge loss")
def sngan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("sngan", ResNetDiscriminator, channels, image_size, 0, config, {}, ResNetGenerator)


@GENERATORS.register("csngan", "class-conditional SNGAN (label embedding in G, projection in D)")
def csngan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("csngan", ResNetDiscriminator, channels, image_size, _conditional_classes("csngan", num_classes),
                  config, {}, ResNetGenerator)


def create_gan(name: str, channels: int, image_size: int | tuple[int, int], num_classes: int = 0,
               config: GANConfig | None = None) -> GAN:
    """Build the GAN called ``name`` for square images of ``channels`` x ``image_size``."""
    factory = GENERATORS.get(name)
    if isinstance(image_size, tuple):
        if image_size[0] != image_size[1]:
            raise DeepbenchError(f"the GANs need square images, got {image_size[0]}x{image_size[1]}; "
                                 f"pass --image-size N to resize")
        image_size = image_size[0]
    upsampling_plan(image_size)
    return factory(channels, image_size, num_classes, config or GANConfig())
