"""Generators by name: ``create_gan("dcgan", channels=1, image_size=28)``, as timm's ``create_model``.

A registered factory builds a :class:`GAN` (generator, discriminator and what they were built for) from
the data's shape, its class count and a :class:`GANConfig`. Adding a GAN is one factory and one decorator.
A family that trains without a discriminator (a VAE, a diffusion model) is built the same way, with
``discriminator=None`` and a :class:`~generators.likelihood.LikelihoodModel` as its generator. Options a
family sets otherwise than the GANs (widths, latent size, Adam's rates) are its defaults: the user's
value wins over them, and the checkpoint records what was used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import nn

from benchmark.errors import DeepbenchError
from benchmark.options import leave_out, option, with_defaults
from benchmark.registry import Registry
from generators.capsgan import CapsuleDiscriminator, PaperCapsuleDiscriminator
from generators.dcgan import DCGANDiscriminator, DCGANGenerator, upsampling_plan
from generators.ddpm import TRAINING_STEPS, Diffusion
from generators.sngan import ResNetDiscriminator, ResNetGenerator
from generators.vae import VAE

GENERATORS = Registry("generator")


@dataclass(frozen=True)
class GANConfig:
    """Architecture options; None takes the family's default (:data:`GAN_DEFAULTS` for the GANs)."""

    nz: int | None = option(None, "Latent size (default: 100 for the GANs, 32 for vae; ddpm's is the image).")
    ngf: int | None = option(None, "Generator width (default: 64 for the GANs, 8 for sngan and 16 for ddpm on "
                                   "gray images, 32 for vae and ddpm).")
    ndf: int | None = option(None, "Discriminator width, a VAE's encoder width (default: 64 for the GANs, 16 for "
                                   "sngan on gray images, 32 for vae).")
    spectral_norm: bool = option(False, "Spectral norm on D's layers (drops D's BatchNorm).")
    minibatch_std: bool = option(False, "Minibatch standard deviation feature in D.")
    routing_iterations: int = option(3, "Dynamic-routing iterations of the capsule discriminators.")
    sampling_steps: int | None = option(None, "DDIM steps per sample of ddpm (eta 0; default 100 on gray images, "
                                              "50 on colour ones). With --checkpoint, chosen at sampling time.")
    snr_gamma: float | None = option(None, "ddpm's Min-SNR loss weighting (Hang et al. 2023): a step's loss "
                                           "weighs min(SNR, gamma) / SNR, e.g. 5 (unset or 0: Ho et al.'s "
                                           "unweighted loss, the default).")

    def __post_init__(self):
        for name in ("nz", "ngf", "ndf", "routing_iterations", "sampling_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise DeepbenchError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.snr_gamma is not None and not self.snr_gamma >= 0:
            raise DeepbenchError(f"snr_gamma must be >= 0 (0: off), got {self.snr_gamma}")


GAN_DEFAULTS = {"nz": 100, "ngf": 64, "ndf": 64}  # DCGAN's


@dataclass
class GAN:
    """A generator and what trains it (its discriminator; None for a family trained on its own loss), with the
    data shape and classes they were built for, the architecture options they were built with (every one the
    family uses set; None: one it has no use for) and the family's training defaults where they differ from the
    GANs' (:data:`generators.train.GAN_TRAINING`)."""

    name: str
    generator: nn.Module
    discriminator: nn.Module | None
    channels: int
    image_size: int
    num_classes: int  # 0: unconditional
    config: GANConfig
    train_defaults: dict = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def describe(self) -> dict:
        """What a checkpoint must match to be loaded into this GAN (options another family has are left out)."""
        config = {name: value for name, value in asdict(self.config).items() if value is not None}
        return {"name": self.name, "channels": self.channels, "image_size": self.image_size,
                "num_classes": self.num_classes, "config": config}


DIFFUSION_ONLY = {"sampling_steps": None, "snr_gamma": None}
SAMPLING_OPTIONS = ("sampling_steps",)  # they change how fakes are drawn, not the weights (DDIM's step count)


def sampling_options(config: GANConfig | None) -> dict:
    """The options of ``config`` that are chosen at sampling time and set: ``generate --checkpoint`` applies the
    user's to a trained checkpoint, and a manifest records the ones its fakes were drawn with."""
    return {name: getattr(config, name) for name in SAMPLING_OPTIONS if config and getattr(config, name) is not None}


def _build(name: str, discriminator_class, channels: int, image_size: int, classes: int,
           config: GANConfig, extra: dict, generator_class=DCGANGenerator, defaults: dict = GAN_DEFAULTS,
           training: dict | None = None) -> GAN:
    config = with_defaults(leave_out(config, DIFFUSION_ONLY, name), defaults)
    generator = generator_class(channels, image_size, config.nz, config.ngf, classes)
    discriminator = discriminator_class(channels, image_size, config.ndf, classes, config.spectral_norm,
                                        config.minibatch_std, **extra)
    return GAN(name, generator, discriminator, channels, image_size, classes, config, training or {})


def _conditional_classes(name: str, num_classes: int) -> int:
    if num_classes < 2:
        raise DeepbenchError(f"{name} is class-conditional and needs a data set with 2 or more classes "
                             f"(this one has {num_classes}); use {name[1:]} or a data set with classes")
    return num_classes


@GENERATORS.register("dcgan", "DCGAN (Radford et al. 2015)", group="GAN")
def dcgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("dcgan", DCGANDiscriminator, channels, image_size, 0, config, {})


@GENERATORS.register("cdcgan", "class-conditional DCGAN (label embedding in G, projection in D)", group="GAN")
def cdcgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("cdcgan", DCGANDiscriminator, channels, image_size,
                  _conditional_classes("cdcgan", num_classes), config, {})


@GENERATORS.register("capsgan", "CapsuleGAN: DCGAN generator, capsule discriminator with dynamic routing", group="GAN")
def capsgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("capsgan", CapsuleDiscriminator, channels, image_size, 0, config,
                  {"routing_iterations": config.routing_iterations})


@GENERATORS.register("ccapsgan", "class-conditional CapsuleGAN (one output capsule per class, plus fake)", group="GAN")
def ccapsgan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("ccapsgan", CapsuleDiscriminator, channels, image_size,
                  _conditional_classes("ccapsgan", num_classes), config,
                  {"routing_iterations": config.routing_iterations})


@GENERATORS.register("capsgan-paper", "CapsuleGAN as the paper builds it: CapsNet with one output capsule (28, 32 px)",
                     group="GAN")
def capsgan_paper(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("capsgan-paper", PaperCapsuleDiscriminator, channels, image_size, 0, config,
                  {"routing_iterations": config.routing_iterations})


SNGAN_GRAY_DEFAULTS = {**GAN_DEFAULTS, "ngf": 8, "ndf": 16}
SNGAN_TRAINING = {"batch_size": 32, "beta1": 0.0, "beta2": 0.9, "ema_decay": 0.999}
"""Miyato et al.'s Adam betas (0, 0.9); ours, batch 32 (their 64 buys half the steps in a time budget) and an EMA of
G: chosen by a recipe search at equal CPU time on full MNIST, where SNGAN at DCGAN's Adam trailed DCGAN
(benchmarks/recipes.py sngan; benchmarks/README.md, "SNGAN's recipe", has the figures)."""


def sngan_defaults(channels: int) -> dict:
    """The paper's widths (256 channels in G's blocks, 128 in D's) for colour images; for one channel (digits)
    an eighth of G's and a quarter of D's, 32 channels in every block of both. The ResNet keeps its width at
    full resolution, so at the paper's widths one step on 28 px costs about fifty of DCGAN's on a CPU; at
    these about two, which buys the step count a time budget needs."""
    return GAN_DEFAULTS if channels > 1 else SNGAN_GRAY_DEFAULTS


@GENERATORS.register("sngan", "SNGAN: ResNet generator (nearest up-sampling), spectrally normalised ResNet "
                             "discriminator, hinge loss", group="GAN")
def sngan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("sngan", ResNetDiscriminator, channels, image_size, 0, config, {}, ResNetGenerator,
                  sngan_defaults(channels), SNGAN_TRAINING)


@GENERATORS.register("csngan", "class-conditional SNGAN (label embedding in G, projection in D)", group="GAN")
def csngan(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _build("csngan", ResNetDiscriminator, channels, image_size, _conditional_classes("csngan", num_classes),
                  config, {}, ResNetGenerator, sngan_defaults(channels), SNGAN_TRAINING)


VAE_UNUSED = {"spectral_norm": False, "minibatch_std": False, **DIFFUSION_ONLY}  # a discriminator's, ddpm's
VAE_DEFAULTS = {"nz": 32, "ngf": 32, "ndf": 32}
VAE_TRAINING = {"lr_g": 1e-3, "beta1": 0.9}  # Kingma & Ba's Adam defaults at the rate VAEs are usually trained


def _vae(name: str, channels: int, image_size: int, classes: int, config: GANConfig) -> GAN:
    config = with_defaults(leave_out(config, VAE_UNUSED, name), VAE_DEFAULTS)
    model = VAE(channels, image_size, config.nz, config.ngf, config.ndf, classes)
    return GAN(name, model, None, channels, image_size, classes, config, VAE_TRAINING)


@GENERATORS.register("vae", "convolutional VAE (Kingma & Welling 2014): smooth, low-frequency fakes, no "
                            "discriminator", group="VAE")
def vae(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _vae("vae", channels, image_size, 0, config)


@GENERATORS.register("cvae", "class-conditional VAE (Sohn et al. 2015; label embedding in encoder and decoder)",
                     group="VAE")
def cvae(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _vae("cvae", channels, image_size, _conditional_classes("cvae", num_classes), config)


DDPM_DEFAULTS = {"ngf": 32, "sampling_steps": 50}  # snr_gamma unset: Ho et al.'s unweighted loss
DDPM_TRAINING = {"beta1": 0.9, "ema_decay": 0.999}  # Ho et al.'s Adam at their rate (2e-4), and an EMA
DDPM_GRAY_DEFAULTS = {**DDPM_DEFAULTS, "ngf": 16, "sampling_steps": 100}
DDPM_GRAY_TRAINING = {**DDPM_TRAINING, "lr_g": 1e-3}


def ddpm_defaults(channels: int) -> tuple[dict, dict]:
    """The architecture and training defaults: for colour images width 32 at Ho et al.'s rate, 50 DDIM steps; for
    one channel (digits) width 16 at 1e-3, which beat the colour defaults in 30 CPU-minutes on full MNIST (a
    narrower U-Net takes more steps in the same time), sampled in 100 DDIM steps, which beat 50 steps on the same
    weights and noise where 200 took twice the time for little more (benchmarks/recipes.py ddpm;
    benchmarks/README.md, "DDPM's recipe", has the figures). ``--precision bf16`` is not a default: it is slow on
    CPUs without bfloat16 instructions. Not measured on colour images on a CPU, where 32 px RGB trains at GPU
    budgets."""
    return (DDPM_DEFAULTS, DDPM_TRAINING) if channels > 1 else (DDPM_GRAY_DEFAULTS, DDPM_GRAY_TRAINING)


def _ddpm(name: str, channels: int, image_size: int, classes: int, config: GANConfig) -> GAN:
    pixels = channels * image_size * image_size
    unused = {"spectral_norm": False, "minibatch_std": False, "ndf": None, "nz": pixels}  # its noise is an image
    architecture, training = ddpm_defaults(channels)
    config = with_defaults(leave_out(config, unused, name), architecture)
    if config.ngf % 2 or config.sampling_steps > TRAINING_STEPS:
        raise DeepbenchError(f"{name} needs an even --ngf (the step's sinusoidal embedding has that size) and at most "
                             f"{TRAINING_STEPS} --sampling-steps; got {config.ngf} and {config.sampling_steps}")
    model = Diffusion(channels, image_size, config.ngf, classes, config.sampling_steps, config.snr_gamma)
    return GAN(name, model, None, channels, image_size, classes, config, training)


@GENERATORS.register("ddpm", "denoising diffusion (Ho et al. 2020), small U-Net, cosine schedule, DDIM sampling",
                     group="diffusion")
def ddpm(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _ddpm("ddpm", channels, image_size, 0, config)


@GENERATORS.register("cddpm", "class-conditional ddpm (label embedding added to the step's)", group="diffusion")
def cddpm(channels: int, image_size: int, num_classes: int, config: GANConfig) -> GAN:
    return _ddpm("cddpm", channels, image_size, _conditional_classes("cddpm", num_classes), config)


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
