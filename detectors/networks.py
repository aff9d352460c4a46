"""Real-vs-fake networks by name: ``cnn``, ``capsule`` and ``timm:<model>``.

Every network maps float images in [-1, 1] to one score per image whose sigmoid is P(fake), so that the
detector around it (``detectors.detector``) trains and evaluates them all alike. The capsule network keeps
its own output (two capsule lengths, real and fake) and loss (margin loss), as Capsule-Forensics does.
"""

from __future__ import annotations

from unittest import mock

import torch
from torch import nn

from benchmark.capsules import DynamicRouting, PrimaryCapsules, capsule_lengths
from benchmark.errors import DeepbenchError
from benchmark.registry import Registry

NETWORKS = Registry("detector")


def conv_block(inputs: int, outputs: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Four conv/BN/ReLU blocks (three of them halving), global average pooling, one logit: fast at 28-64 px.

    Width 64 rather than 32: on MNIST DCGAN fakes (20 epochs) it reached 99.1% test accuracy where 32 stopped
    at 98.9%.
    """

    loss = "bce"

    def __init__(self, channels: int, image_size: int, width: int = 64):
        super().__init__()
        self.body = nn.Sequential(*conv_block(channels, width, 1), *conv_block(width, 2 * width, 2),
                                  *conv_block(2 * width, 4 * width, 2), *conv_block(4 * width, 4 * width, 2),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1)


class CapsuleDetector(nn.Module):
    """Capsule-Forensics-style detector (Nguyen et al. 2019): conv features, primary capsules, and two output
    capsules (real, fake) chosen by dynamic routing; the capsule lengths are the outputs."""

    loss = "margin"

    def __init__(self, channels: int, image_size: int, width: int = 64, routing_iterations: int = 3):
        super().__init__()
        layers, size = conv_block(channels, width, 1), image_size
        while size > 16:  # halve down to CapsNet-like input sizes, as the CapsuleGAN discriminator does
            layers += conv_block(width, width, 2)
            size = (size + 1) // 2
        self.features = nn.Sequential(*layers)
        self.primary = PrimaryCapsules(width, 16, 8, kernel_size=5, stride=2)
        self.routing = DynamicRouting(self.primary.num_output_capsules(size, size), 8, 2, 16, routing_iterations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return capsule_lengths(self.routing(self.primary(self.features(x))))


def fake_logit(loss: str, output: torch.Tensor) -> torch.Tensor:
    """One score per image, higher for more fake: the logit itself; for capsules, the fake capsule's lead over the
    real one; for a coder of real images, how far the coding cost departs from its expectation, either way."""
    if loss == "bce":
        return output
    if loss == "coding":
        return (output[:, 0] - output[:, 1]).abs()
    return (output[:, 1] - output[:, 0]) * 10  # lengths lie in [0, 1): spread their difference over the sigmoid


@NETWORKS.register("cnn", "small convolutional classifier (4 conv/BN/ReLU blocks, global pooling)")
def cnn(channels: int, image_size: int, width: int = 64) -> nn.Module:
    return SmallCNN(channels, image_size, width)


@NETWORKS.register("capsule", "capsule network with dynamic routing (after Capsule-Forensics), margin loss")
def capsule(channels: int, image_size: int, width: int = 64) -> nn.Module:
    return CapsuleDetector(channels, image_size, width)


class TimmBackbone(nn.Module):
    """Any timm model with one output, so its logit is P(fake)'s."""

    loss = "bce"

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).squeeze(1)


def timm_network(model_name: str, channels: int, pretrained: bool = False, download: bool = False) -> nn.Module:
    """``timm.create_model(name, num_classes=1, in_chans=C)``.

    Pretrained weights come from the Hugging Face cache on disk unless ``download`` is set: offline, the
    hub client would otherwise retry for about a minute before failing.
    """
    import huggingface_hub.constants
    import timm

    if not timm.is_model(model_name):
        raise DeepbenchError(f"unknown timm model {model_name!r}; see timm.list_models(), e.g. timm:resnet18")
    try:
        with mock.patch.object(huggingface_hub.constants, "HF_HUB_OFFLINE", not download):
            model = timm.create_model(model_name, pretrained=pretrained, num_classes=1, in_chans=channels)
    except Exception as error:  # hub errors differ by version: offline, missing file, no such tag
        if not pretrained:
            raise
        raise DeepbenchError(f"pretrained weights for timm:{model_name} are not available "
                             f"({type(error).__name__}); pass --download to fetch them, put them in the Hugging "
                             f"Face cache, or drop --pretrained"
                             ) from None
    return TimmBackbone(model)


def create_network(name: str, channels: int, image_size: int, pretrained: bool = False,
                   download: bool = False, width: int | None = None) -> nn.Module:
    """The network called ``name``: a registered one (at ``width``, or its own default), or ``timm:<model>``."""
    if name.startswith("timm:"):
        if width is not None:
            raise DeepbenchError(f"--width applies to {', '.join(NETWORKS.names())}; {name} has its own widths "
                                 f"(pick a timm model of the size you want, e.g. timm:lcnet_035)")
        return timm_network(name.removeprefix("timm:"), channels, pretrained, download)
    if pretrained:
        raise DeepbenchError(f"--pretrained applies to timm:<model> detectors only, not {name!r}")
    return NETWORKS.get(name)(channels, image_size, **({} if width is None else {"width": width}))


from detectors import artefact_networks, one_class  # noqa: E402, F401  register npr, lpd, srm, patch and oneclass
