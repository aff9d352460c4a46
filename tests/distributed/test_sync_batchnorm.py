"""Converting a network to synchronised BatchNorm keeps what it computes: in one process the twins are exact."""

import copy

import pytest
import timm
import torch
from timm.layers import BatchNormAct2d
from torch import nn

from benchmark import sync_batchnorm
from detectors.networks import create_network


@pytest.mark.parametrize("make", [lambda: create_network("cnn", 3, 16),
                                  lambda: timm.create_model("mobilenetv3_small_050", num_classes=1)])
def test_every_batchnorm_gets_a_twin_that_computes_the_same(make):
    torch.manual_seed(0)
    original = make()
    converted = sync_batchnorm.convert(copy.deepcopy(original))
    kinds = [type(m) for m in converted.modules()]
    assert BatchNormAct2d not in kinds and nn.BatchNorm2d not in kinds
    assert any(issubclass(kind, sync_batchnorm.SyncBatchNorm2d) for kind in kinds)
    images = torch.randn(4, 3, 16, 16)
    for mode in ("train", "eval"):  # batch statistics, then the running statistics both updated
        getattr(original, mode)(), getattr(converted, mode)()
        torch.testing.assert_close(converted(images), original(images), rtol=0, atol=0)
    assert converted.state_dict().keys() == original.state_dict().keys()
