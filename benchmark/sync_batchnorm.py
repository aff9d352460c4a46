"""BatchNorm whose batch statistics span every process's slice of the batch, on CPUs and GPUs alike.

With data parallelism each process sees 1/N of the batch; plain BatchNorm would normalise by that slice's
statistics, so N processes would train another model than one process with the same global batch. torch's
``SyncBatchNorm`` fixes this on GPUs only; this module gathers each rank's (count, mean, M2) with autograd
and combines them as Chan et al.'s parallel variance does, so the tested CPU path is the GPU path too.
In eval mode, or in a single process, it is plain ``BatchNorm2d``. timm's ``BatchNormAct2d`` (BatchNorm, then
dropout and activation, in EfficientNets, MobileNets and others) becomes :class:`SyncBatchNormAct2d`.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.distributed as dist
from torch import nn

from benchmark import distributed


class _AllGather(torch.autograd.Function):
    """Every rank's tensor, stacked; the gradient reaching a rank's tensor sums what all ranks' losses sent it."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


class SyncBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` with statistics over the global batch while training under a process group."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and distributed.enabled()):
            return super().forward(x)
        count = x.new_tensor([x.numel() / x.shape[1]])
        local_mean = x.mean((0, 2, 3))
        local_m2 = ((x - local_mean[None, :, None, None]) ** 2).sum((0, 2, 3))
        parts = _AllGather.apply(torch.cat([count, local_mean, local_m2]))  # (world, 1 + 2C)
        counts, means, m2s = parts[:, :1], parts[:, 1:1 + x.shape[1]], parts[:, 1 + x.shape[1]:]
        total = counts.sum()
        mean = (counts * means).sum(0) / total
        m2 = (m2s + counts * (means - mean) ** 2).sum(0)
        var = m2 / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_((m2 / (total - 1)).detach(), momentum)  # unbiased, as BatchNorm keeps it
        scale = torch.rsqrt(var + self.eps)
        out = (x - mean[None, :, None, None]) * scale[None, :, None, None]
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out


class SyncBatchNormAct2d(SyncBatchNorm2d):
    """timm's ``BatchNormAct2d`` with global statistics: the synchronised normalisation, then its dropout and
    activation modules (the same objects, so their settings carry over)."""

    def __init__(self, num_features: int, eps: float, momentum: float | None, affine: bool,
                 track_running_stats: bool, drop: nn.Module, act: nn.Module) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.drop, self.act = drop, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(super().forward(x)))


def _synced(child: nn.Module, batchnorm_act: type) -> nn.Module | None:
    """The synchronised twin of a BatchNorm layer, or None for any other module (subclasses with other
    forward passes included, which a twin would silently change)."""
    if type(child) is nn.BatchNorm2d:
        twin = SyncBatchNorm2d
    elif type(child) is batchnorm_act:
        twin = partial(SyncBatchNormAct2d, drop=child.drop, act=child.act)
    else:
        return None
    return twin(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)


def convert(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` and timm ``BatchNormAct2d`` inside ``module`` (in place) by its synchronised
    twin with the same state."""
    from timm.layers import BatchNormAct2d  # here, not at the top: importing timm costs every command a second

    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            synced = _synced(child, BatchNormAct2d)
            if synced is None:
                continue
            state = child.state_dict()
            synced.load_state_dict(state)
            if state:
                synced.to(next(iter(state.values())).device)
            synced.train(child.training)
            setattr(parent, name, synced)
    return module
