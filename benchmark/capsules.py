"""Capsule-network layers shared by the CapsuleGAN discriminator and the Capsule-Forensics detector.

Both models (Jaiswal et al. 2018; Nguyen et al. 2019) reuse the building blocks of Sabour et al. 2017,
"Dynamic Routing Between Capsules": convolutional primary capsules, routing-by-agreement, and a margin
loss on capsule lengths. Keeping one implementation here means the generator's critic and the detector
score images with the same routing, so their results are comparable. Capsules are vectors whose length
is a probability and whose orientation encodes pose; every tensor of capsules has shape
``(batch, capsules, capsule_dim)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _check_positive_ints(**values: object) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Shrink vectors to length |s|^2 / (1 + |s|^2) so a capsule's length can be read as a probability.

    ``eps`` sits inside the square root, so an all-zero capsule (a dead primary capsule, an output no
    input agrees with) gives a zero output and a finite gradient instead of 0/0. Raise it for float16,
    where 1e-8 rounds to zero.
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0 to keep squash finite at zero, got {eps!r}.")
    squared_norm = s.square().sum(dim=dim, keepdim=True)
    return s * (squared_norm / ((1 + squared_norm) * torch.sqrt(squared_norm + eps)))


def capsule_lengths(v: torch.Tensor) -> torch.Tensor:
    """Class probabilities of output capsules ``(batch, capsules, dim) -> (batch, capsules)``.

    No eps is added, so a zero capsule has probability exactly 0; the norm's backward uses the zero
    subgradient at the origin, so the gradient stays finite there.
    """
    return torch.linalg.vector_norm(v, dim=-1)


class PrimaryCapsules(nn.Module):
    """The first capsule layer: turns a convolutional feature map into low-level pose vectors.

    Each of the ``num_capsules`` capsule types is a group of ``capsule_dim`` convolution channels, read
    at every output position, so the layer yields ``num_capsules * H_out * W_out`` capsules.
    """

    def __init__(
        self, in_channels: int, num_capsules: int, capsule_dim: int, kernel_size: int = 9, stride: int = 2
    ) -> None:
        super().__init__()
        _check_positive_ints(
            in_channels=in_channels,
            num_capsules=num_capsules,
            capsule_dim=capsule_dim,
            kernel_size=kernel_size,
            stride=stride,
        )
        self.num_capsules = num_capsules
        self.capsule_dim = capsule_dim
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv2d(in_channels, num_capsules * capsule_dim, kernel_size, stride)

    def num_output_capsules(self, height: int, width: int) -> int:
        """Capsules produced for a ``height x width`` input, to size the routing layer that follows."""
        if height < self.kernel_size or width < self.kernel_size:
            raise ValueError(f"input of {height}x{width} is smaller than kernel_size={self.kernel_size}.")
        out_height = (height - self.kernel_size) // self.stride + 1
        out_width = (width - self.kernel_size) // self.stride + 1
        return self.num_capsules * out_height * out_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` features to ``(batch, num_output_capsules, capsule_dim)``."""
        features = self.conv(x)
        batch, _, height, width = features.shape
        capsules = features.view(batch, self.num_capsules, self.capsule_dim, height, width)
        capsules = capsules.permute(0, 1, 3, 4, 2).reshape(batch, -1, self.capsule_dim)
        return squash(capsules)


class DynamicRouting(nn.Module):
    """Routing-by-agreement: lets each input capsule send its output to the parents that agree with it.

    Each input capsule ``i`` predicts every output capsule ``j`` as ``u_hat_j|i = W_ij u_i``. Routing
    logits start at zero; each iteration sets coupling coefficients ``c_ij = softmax_j(b_ij)`` (an input
    distributes itself over the outputs), forms ``v_j = squash(sum_i c_ij u_hat_j|i)`` and adds the
    agreement ``<u_hat_j|i, v_j>`` to ``b_ij``.

    The non-final iterations run on detached predictions: routing is treated as a fixed assignment and
    gradients reach ``W`` and the inputs through the final iteration only. This is the usual fast
    choice and avoids backpropagating through the iterative procedure. The weight has shape
    ``(in_capsules, out_capsules, out_dim, in_dim)``.
    """

    def __init__(self, in_capsules: int, in_dim: int, out_capsules: int, out_dim: int, iterations: int = 3):
        super().__init__()
        _check_positive_ints(
            in_capsules=in_capsules,
            in_dim=in_dim,
            out_capsules=out_capsules,
            out_dim=out_dim,
            iterations=iterations,
        )
        self.in_capsules = in_capsules
        self.in_dim = in_dim
        self.out_capsules = out_capsules
        self.out_dim = out_dim
        self.iterations = iterations
        self.weight = nn.Parameter(torch.empty(in_capsules, out_capsules, out_dim, in_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fan-in init over the ``in_capsules * in_dim`` terms summed into ``s``, as for a linear layer.

        The initial output lengths then do not depend on the number of input capsules, so small test
        models and Sabour's 1152 x 8 inputs (where this is the customary std of about 0.01) start alike.
        """
        nn.init.normal_(self.weight, std=(self.in_capsules * self.in_dim) ** -0.5)

    def extra_repr(self) -> str:
        return (
            f"in_capsules={self.in_capsules}, in_dim={self.in_dim}, out_capsules={self.out_capsules}, "
            f"out_dim={self.out_dim}, iterations={self.iterations}"
        )

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Route ``(batch, in_capsules, in_dim)`` capsules to ``(batch, out_capsules, out_dim)``."""
        if u.ndim != 3 or u.shape[1:] != (self.in_capsules, self.in_dim):
            raise ValueError(
                f"expected input of shape (batch, {self.in_capsules}, {self.in_dim}), got {tuple(u.shape)}."
            )
        # Predictions laid out (batch, out, in, out_dim), so both sums over input capsules are matmuls;
        # measured faster on CPU than einsum or broadcasting over the (batch, in, out, out_dim) layout.
        u_hat = torch.einsum("ijdk,bik->bjid", self.weight, u).contiguous()
        u_hat_fixed = u_hat.detach()
        logits = u.new_zeros(u.shape[0], self.out_capsules, self.in_capsules)
        for _ in range(self.iterations - 1):
            v = self._outputs(logits, u_hat_fixed)
            logits = logits + (u_hat_fixed @ v.unsqueeze(-1)).squeeze(-1)
        return self._outputs(logits, u_hat)

    @staticmethod
    def _outputs(logits: torch.Tensor, u_hat: torch.Tensor) -> torch.Tensor:
        """One routing step's outputs; the softmax runs over output capsules (dim 1 of the logits)."""
        coupling = logits.softmax(dim=1)
        return squash((coupling.unsqueeze(2) @ u_hat).squeeze(2))


def margin_loss(
    lengths: torch.Tensor,
    targets: torch.Tensor,
    m_plus: float = 0.9,
    m_minus: float = 0.1,
    lambda_: float = 0.5,
) -> torch.Tensor:
    """Sabour et al.'s margin loss, which unlike cross-entropy lets several capsules be present at once.

    ``lengths`` is ``(batch, classes)``, e.g. from :func:`capsule_lengths`. ``targets`` is class indices
    ``(batch,)`` or one-hot / soft labels ``(batch, classes)``. The per-sample loss is
    ``sum_k T_k max(0, m_plus - |v_k|)^2 + lambda_ (1 - T_k) max(0, |v_k| - m_minus)^2``; ``lambda_``
    down-weights absent classes so early training does not shrink every capsule. Returns the batch mean.
    """
    if lengths.ndim != 2:
        raise ValueError(f"lengths must have shape (batch, classes), got {tuple(lengths.shape)}.")
    if not 0 <= m_minus < m_plus <= 1:
        raise ValueError(
            f"margins must satisfy 0 <= m_minus < m_plus <= 1, got m_minus={m_minus!r}, m_plus={m_plus!r}."
        )
    if lambda_ < 0:
        raise ValueError(f"lambda_ must be >= 0, got {lambda_!r}.")
    targets = _target_matrix(targets, lengths)
    present = targets * F.relu(m_plus - lengths).square()
    absent = lambda_ * (1 - targets) * F.relu(lengths - m_minus).square()
    return (present + absent).sum(dim=1).mean()


def _target_matrix(targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    batch, classes = lengths.shape
    if targets.shape == (batch,) and not targets.is_floating_point():
        out_of_range = targets[(targets < 0) | (targets >= classes)]
        if out_of_range.numel():
            raise ValueError(f"class indices must lie in [0, {classes}), got {out_of_range[0].item()!r}.")
        return F.one_hot(targets.long(), classes).to(lengths.dtype)
    if targets.shape != lengths.shape:
        raise ValueError(
            f"targets must be class indices of shape ({batch},) or one-hot of shape {(batch, classes)}, "
            f"got shape {tuple(targets.shape)}."
        )
    targets = targets.to(lengths.dtype)
    outside = targets[(targets < 0) | (targets > 1)]
    if outside.numel():
        raise ValueError(f"one-hot targets must lie in [0, 1], got {outside[0].item()!r}.")
    return targets
