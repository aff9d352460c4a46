"""The field's generalisation protocols, as the training unions they need.

- **Train on one, test on all**: every generator alone, what ``detect`` does by default.
- **Leave one family out** (GenImage, AIGIBench): for each family of the run's generators (GAN, VAE, diffusion,
  as ``generators.registry`` groups them), one detector trained on the union of every other family's
  generators, evaluated on the held-out family's.
- **More generators**: in a few seeded orders of the generators, detectors trained on the first 1, 2, ... of
  them, each evaluated on the generators it has not seen; held-out AUC against the number of training
  generators says whether seeing more generators buys generalisation.

Each protocol only adds training sets (``a+b+c`` unions, :func:`detectors.sets.union_training_sets`); every
detector is evaluated on every held-out set as usual, and the report reads the protocols back from the rows.
"""

from __future__ import annotations

import torch

from benchmark.errors import DeepbenchError
from detectors.sets import UNION


def family_of(generator: str) -> str:
    """GAN, VAE or diffusion for a registered generator; "other" for fakes made elsewhere."""
    from generators.registry import GENERATORS  # the networks' module, only needed to read the families
    return GENERATORS.group(generator) or "other"


def leave_one_family_out(generators: list[str]) -> dict[str, str]:
    """{held-out family: the union of every other family's generators}; empty with fewer than two families."""
    families = {generator: family_of(generator) for generator in generators}
    held_out = sorted(set(families.values()))
    if len(held_out) < 2:
        return {}
    return {family: UNION.join(g for g in generators if families[g] != family) for family in held_out}


def generator_orders(generators: list[str], orders: int, seed: int = 0) -> list[list[str]]:
    """``orders`` distinct seeded permutations of ``generators`` (as many as exist, when fewer)."""
    if orders < 0:
        raise DeepbenchError(f"--generator-orders must be a non-negative integer, got {orders}")
    rng, found = torch.Generator().manual_seed(seed + 5), []
    for _ in range(100 * max(orders, 1)):
        if len(found) == orders:
            break
        order = [generators[i] for i in torch.randperm(len(generators), generator=rng).tolist()]
        if order not in found:
            found.append(order)
    return found


def more_generator_unions(generators: list[str], orders: int, seed: int = 0) -> list[str]:
    """The training sets of the more-generators curve: every proper prefix of every order, as a union name."""
    unions = [UNION.join(sorted(order[:count])) for order in generator_orders(generators, orders, seed)
              for count in range(1, len(generators))]
    return list(dict.fromkeys(unions))


def protocol_training_sets(generators: list[str], leave_out_families: bool, orders: int, seed: int) -> list[str]:
    """The unions the asked protocols add to the run's training sets, each once."""
    added = list(leave_one_family_out(generators).values()) if leave_out_families else []
    return list(dict.fromkeys(added + more_generator_unions(generators, orders, seed)))
