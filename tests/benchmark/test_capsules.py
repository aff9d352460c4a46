import math

import pytest
import torch
from torch import nn

from benchmark.capsules import DynamicRouting, PrimaryCapsules, capsule_lengths, margin_loss, squash


def reference_routing(weight: torch.Tensor, u: torch.Tensor, iterations: int) -> torch.Tensor:
    """Sabour et al.'s routing written out element by element, inner iterations on detached predictions."""
    batch, in_capsules, _ = u.shape
    out_capsules = weight.shape[1]
    outputs = []
    for b in range(batch):
        u_hat = [[weight[i, j] @ u[b, i] for j in range(out_capsules)] for i in range(in_capsules)]
        logits = [[torch.zeros((), dtype=u.dtype) for _ in range(out_capsules)] for _ in range(in_capsules)]
        for iteration in range(iterations):
            last = iteration == iterations - 1
            predictions = u_hat if last else [[p.detach() for p in row] for row in u_hat]
            coupling = []
            for i in range(in_capsules):
                exps = [torch.exp(logits[i][j]) for j in range(out_capsules)]
                coupling.append([e / sum(exps) for e in exps])
            v = []
            for j in range(out_capsules):
                s = sum(coupling[i][j] * predictions[i][j] for i in range(in_capsules))
                norm = torch.sqrt(s @ s)
                v.append(norm**2 / (1 + norm**2) * s / norm)
            if not last:
                for i in range(in_capsules):
                    for j in range(out_capsules):
                        logits[i][j] = logits[i][j] + predictions[i][j] @ v[j]
        outputs.append(torch.stack(v))
    return torch.stack(outputs)


def test_squash_matches_hand_computed_value():
    s = torch.tensor([[3.0, 4.0], [0.3, -0.4]])
    expected = torch.tensor([[25 / 26 * 0.6, 25 / 26 * 0.8], [0.25 / 1.25 * 0.6, 0.25 / 1.25 * -0.8]])
    torch.testing.assert_close(squash(s), expected, rtol=1e-6, atol=1e-7)


def test_squash_along_other_dim_and_norm_below_one():
    s = torch.randn(4, 6, 5) * 10
    v = squash(s, dim=1)
    torch.testing.assert_close(v, squash(s.transpose(1, 2)).transpose(1, 2))
    norms = v.norm(dim=1)
    assert (norms < 1).all() and (norms > 0.9).all()


def test_squash_is_finite_at_zero_in_value_and_gradient():
    s = torch.zeros(3, 4, requires_grad=True)
    v = squash(s)
    (v * torch.arange(4.0)).sum().backward()
    assert torch.equal(v, torch.zeros(3, 4))
    assert torch.isfinite(s.grad).all()


def test_capsule_lengths_are_norms_and_safe_at_zero():
    v = torch.tensor([[[3.0, 4.0], [0.0, 0.0]]], requires_grad=True)
    lengths = capsule_lengths(v)
    lengths.sum().backward()
    torch.testing.assert_close(lengths, torch.tensor([[5.0, 0.0]]))
    torch.testing.assert_close(v.grad, torch.tensor([[[0.6, 0.8], [0.0, 0.0]]]))


def test_primary_capsules_shape_layout_and_count():
    torch.manual_seed(0)
    layer = PrimaryCapsules(in_channels=3, num_capsules=4, capsule_dim=5, kernel_size=3, stride=2)
    x = torch.randn(2, 3, 11, 9)
    out = layer(x)
    # 11x9 -> 5x4 positions, 4 capsule types each
    assert out.shape == (2, 4 * 5 * 4, 5)
    assert layer.num_output_capsules(11, 9) == out.shape[1] == 80
    features = layer.conv(x)
    capsule_type, row, col = 2, 3, 1
    index = capsule_type * 5 * 4 + row * 4 + col
    torch.testing.assert_close(out[:, index], squash(features[:, 10:15, row, col]))
    assert (out.norm(dim=-1) < 1).all()


def test_primary_capsules_count_with_default_kernel():
    layer = PrimaryCapsules(in_channels=256, num_capsules=32, capsule_dim=8)
    assert layer.num_output_capsules(20, 20) == 1152
    assert layer(torch.randn(1, 256, 20, 20)).shape == (1, 1152, 8)


def test_routing_matches_explicit_loop_reference_in_value_and_gradient():
    torch.manual_seed(0)
    layer = DynamicRouting(in_capsules=5, in_dim=4, out_capsules=3, out_dim=6, iterations=3).double()
    with torch.no_grad():
        layer.weight.mul_(8)  # make routing move the coupling far from uniform
    u = squash(torch.randn(2, 5, 4, dtype=torch.float64)).requires_grad_()
    probe = torch.randn(2, 3, 6, dtype=torch.float64)

    out = layer(u)
    grads = torch.autograd.grad((out * probe).sum(), (layer.weight, u))
    expected = reference_routing(layer.weight, u, iterations=3)
    expected_grads = torch.autograd.grad((expected * probe).sum(), (layer.weight, u))

    # squash's eps (1e-8 under the square root) is the only difference from the exact formula
    assert out.shape == (2, 3, 6)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-9)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-9)
    # routing must differ from a single uniform-coupling pass, or the comparison above proves little
    uniform = DynamicRouting(5, 4, 3, 6, iterations=1).double()
    uniform.weight = layer.weight
    assert (uniform(u) - out).abs().max() > 1e-2


def test_routing_lengths_are_probabilities():
    torch.manual_seed(0)
    layer = DynamicRouting(in_capsules=32, in_dim=8, out_capsules=10, out_dim=16)
    lengths = capsule_lengths(layer(squash(torch.randn(4, 32, 8) * 5)))
    assert lengths.shape == (4, 10)
    assert ((lengths >= 0) & (lengths < 1)).all()


def test_margin_loss_matches_hand_computed_value_for_index_and_one_hot_targets():
    lengths = torch.tensor([[0.95, 0.3], [0.2, 0.05]])
    # sample 0: present 0, absent 0.5 * 0.2^2 = 0.02; sample 1: absent 0.5 * 0.1^2 = 0.005, present 0.85^2
    expected = torch.tensor((0.02 + 0.005 + 0.85**2) / 2)
    torch.testing.assert_close(margin_loss(lengths, torch.tensor([0, 1])), expected)
    torch.testing.assert_close(margin_loss(lengths, torch.tensor([[1.0, 0.0], [0.0, 1.0]])), expected)


def test_margin_loss_uses_the_given_margins():
    lengths = torch.tensor([[0.5, 0.5]])
    loss = margin_loss(lengths, torch.tensor([0]), m_plus=0.8, m_minus=0.2, lambda_=1.0)
    torch.testing.assert_close(loss, torch.tensor(0.3**2 + 0.3**2))


def test_margin_loss_is_zero_for_perfect_predictions():
    lengths = torch.tensor([[0.95, 0.05, 0.0], [0.02, 0.1, 0.91]])
    assert margin_loss(lengths, torch.tensor([0, 2])).item() == 0.0


def test_tiny_capsule_classifier_learns_two_kinds_of_images():
    torch.manual_seed(0)
    images = torch.rand(32, 1, 8, 8) * 0.2
    labels = torch.arange(32) % 2
    images[labels == 0, :, :4] += 0.8  # kind 0: bright top half
    images[labels == 1, :, 4:] += 0.8  # kind 1: bright bottom half
    primary = PrimaryCapsules(in_channels=1, num_capsules=4, capsule_dim=4, kernel_size=3, stride=2)
    model = nn.Sequential(primary, DynamicRouting(primary.num_output_capsules(8, 8), 4, 2, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)

    losses = []
    for _ in range(40):
        loss = margin_loss(capsule_lengths(model(images)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    with torch.no_grad():
        lengths = capsule_lengths(model(images))
    assert losses[-1] < 0.25 * losses[0]
    assert (lengths.argmax(dim=1) == labels).float().mean() > 0.95


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DynamicRouting(8, 4, 2, 16, iterations=0), "iterations must be an int >= 1, got 0"),
        (lambda: DynamicRouting(0, 4, 2, 16), "in_capsules must be an int >= 1, got 0"),
        (lambda: DynamicRouting(8, 4, 2, 16.0), "out_dim must be an int >= 1, got 16.0"),
        (lambda: DynamicRouting(8, 4, True, 16), "out_capsules must be an int >= 1, got True"),
        (lambda: PrimaryCapsules(1, 4, -2), "capsule_dim must be an int >= 1, got -2"),
        (lambda: PrimaryCapsules(1, 4, 8, stride=0), "stride must be an int >= 1, got 0"),
        (lambda: PrimaryCapsules(1, 4, 8).num_output_capsules(8, 20), "8x20 is smaller than kernel_size=9"),
        (lambda: DynamicRouting(8, 4, 2, 16)(torch.zeros(3, 8, 5)), r"\(batch, 8, 4\), got \(3, 8, 5\)"),
        (lambda: squash(torch.ones(3), eps=0.0), "eps must be > 0 .* got 0.0"),
    ],
)
def test_layers_reject_invalid_arguments_naming_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": torch.tensor([0, 3])}, r"\[0, 3\), got 3"),
        ({"targets": torch.tensor([-1, 0])}, r"\[0, 3\), got -1"),
        ({"targets": torch.zeros(2, 2)}, r"one-hot of shape \(2, 3\), got shape \(2, 2\)"),
        ({"targets": torch.tensor([0.0, 1.0])}, r"got shape \(2,\)"),
        ({"targets": torch.full((2, 3), 2.0)}, r"\[0, 1\], got 2.0"),
        ({"m_plus": 0.1, "m_minus": 0.1}, "m_minus=0.1, m_plus=0.1"),
        ({"m_plus": 1.5}, "m_plus=1.5"),
        ({"lambda_": -0.5}, "lambda_ must be >= 0, got -0.5"),
    ],
)
def test_margin_loss_rejects_invalid_arguments_naming_the_value(kwargs, message):
    arguments = {"lengths": torch.full((2, 3), 0.5), "targets": torch.tensor([0, 1]), **kwargs}
    with pytest.raises(ValueError, match=message):
        margin_loss(**arguments)


def test_margin_loss_rejects_lengths_without_class_axis():
    with pytest.raises(ValueError, match=r"got \(4,\)"):
        margin_loss(torch.full((4,), 0.5), torch.tensor([0, 1, 0, 1]))


def test_reference_softmax_is_over_output_capsules():
    # a sanity check of the reference itself: one input capsule, iterations=1 -> uniform coupling 1/out
    weight = torch.eye(2, dtype=torch.float64).expand(1, 3, 2, 2)
    u = torch.tensor([[[0.6, 0.0]]], dtype=torch.float64)
    s = 0.6 / 3
    expected_length = s**2 / (1 + s**2)
    lengths = reference_routing(weight, u, iterations=1).norm(dim=-1)
    assert math.isclose(lengths[0, 0].item(), expected_length, rel_tol=1e-12)
