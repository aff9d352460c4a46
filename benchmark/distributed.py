"""Data-parallel training under ``torchrun``: one process per GPU (or CPU), one process group, rank 0 writes.

Without ``torchrun`` (no ``WORLD_SIZE`` above 1 in the environment) nothing here starts a process group and
every helper is the identity or a no-op, so a plain run is exactly what it was before: one process, the
same numbers, the same files.

Under ``torchrun`` each process trains on its contiguous slice of the global batch that a single process
would have drawn (same seed, same permutation, same noise), DistributedDataParallel averages the gradients,
and so N processes train what one process would, to float tolerance (exactly so when BatchNorm statistics
are synchronised, see :mod:`benchmark.sync_batchnorm`). Work that produces results (sampling, Inception
features) is split with :func:`shard` and put back together with :func:`gather_rows`; files are written by
rank 0 alone (:func:`is_main`), the others wait at a :func:`barrier` where they read what it wrote.

Every collective must be reached by every rank, whatever each rank finds on disk: a barrier that one rank
skips (because a cache file exists for it, say) is matched by another collective of the other ranks, and the
run hangs. So no collective here sits behind a condition that can differ between ranks, and each one goes
through :func:`collective`, which numbers it and names it in ``-v`` output (``rank 1 collective 12: barrier
(main_first)``), so that two ranks' logs show where they part. The process group has a timeout
(``DEEPBENCH_DIST_TIMEOUT`` seconds, 300 by default, a few minutes for the slowest step between two
collectives on a CPU); a rank that waits longer stops with one line naming the collective, rather than
hanging for the 30 minutes of torch's default. ``TORCH_DISTRIBUTED_DEBUG=DETAIL`` adds torch's own checks.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta

import torch
import torch.distributed as dist

from benchmark.errors import DeepbenchError

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 300
_collectives = 0  # how many collectives this rank has entered: equal on every rank at every barrier


def timeout_seconds() -> float:
    """The process group's timeout: ``$DEEPBENCH_DIST_TIMEOUT`` seconds, else ``DEFAULT_TIMEOUT_S``."""
    text = os.environ.get("DEEPBENCH_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise DeepbenchError(f"DEEPBENCH_DIST_TIMEOUT={text!r} is not a positive number of seconds")
    return seconds


def init_from_env() -> bool:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (NCCL with CUDA, else gloo); True if it did.

    torchrun's rendezvous options (``--nnodes``, ``--rdzv_endpoint``) reach us only through the environment
    (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), so multi-node needs no code.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()))
    atexit.register(shutdown)
    return True


def shutdown() -> None:
    """Leave the process group (at exit), so NCCL does not warn about a group that was never destroyed."""
    if dist.is_initialized():
        dist.destroy_process_group()


def enabled() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if enabled() else 0


def world_size() -> int:
    return dist.get_world_size() if enabled() else 1


def is_main() -> bool:
    """Whether this process writes files and prints: rank 0, or the only process."""
    return rank() == 0


def collective(name: str, function: Callable, *args, **kwargs):
    """Run one collective under its number and ``name``; a timeout becomes a one-line error that says where.

    Every rank must call the same collectives in the same order; the number makes a mismatch visible in the
    ranks' ``-v`` logs.
    """
    global _collectives
    _collectives += 1
    log.debug("rank %d collective %d: %s", rank(), _collectives, name)
    try:
        return function(*args, **kwargs)
    except (RuntimeError, dist.DistError) as error:
        if "timed out" not in str(error).lower() and "timeout" not in str(error).lower():
            raise
        raise DeepbenchError(
            f"rank {rank()} of {world_size()} waited over {timeout_seconds():g} s at collective {_collectives} "
            f"({name}) for ranks that never reached it: the ranks called different collectives (a file or cache "
            f"present for some ranks only, or a step only some ranks take); rerun with -v to see each rank's "
            f"collectives, or raise DEEPBENCH_DIST_TIMEOUT if a step is only slow") from None


def barrier(name: str = "barrier") -> None:
    if enabled():
        collective(f"barrier ({name})", dist.barrier)


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. fills a cache), then the others run it and find the result on disk.

    Each rank reaches exactly one barrier, whatever the block finds or returns: rank 0 after the block (also
    when the block returns early from inside the ``with``), the others before it.
    """
    if not is_main():
        barrier("main_first: rank 0 goes first")
    try:
        yield
    finally:
        if is_main():
            barrier("main_first: rank 0 goes first")


def local_batch(batch_size: int) -> slice:
    """This rank's contiguous rows of a global batch; the batch must split evenly, or ranks would weigh unequally."""
    world = world_size()
    if batch_size % world:
        raise DeepbenchError(f"--batch-size {batch_size} does not split evenly over {world} processes; pass a "
                             f"multiple of {world}")
    size = batch_size // world
    return slice(rank() * size, (rank() + 1) * size)


def shard(count: int) -> range:
    """This rank's contiguous share of ``count`` items; shares differ in size by at most one."""
    world, me = world_size(), rank()
    return range(me * count // world, (me + 1) * count // world)


def _device() -> torch.device:
    """Where collectives take their tensors: the rank's GPU under NCCL, the CPU under gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's rows concatenated in rank order, on every rank; the ranks may hold different numbers of rows.

    Collectives need equal shapes, so each rank pads its rows to the longest and the padding is cut off after.
    """
    if not enabled():
        return tensor
    device = _device()
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world_size())]
    collective("all_gather (row counts)", dist.all_gather, sizes, torch.tensor([len(tensor)], device=device))
    counts = [int(size) for size in sizes]
    padded = torch.zeros((max(counts), *tensor.shape[1:]), dtype=tensor.dtype, device=device)
    padded[:len(tensor)] = tensor
    parts = [torch.empty_like(padded) for _ in counts]
    collective("all_gather (rows)", dist.all_gather, parts, padded)
    return torch.cat([part[:count] for part, count in zip(parts, counts, strict=True)]).to(tensor.device)


def mean(values: dict[str, float]) -> dict[str, float]:
    """The mean over ranks of each value (losses of equal-sized batch slices average to the global batch's)."""
    if not enabled():
        return values
    stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=_device())
    collective(f"all_reduce ({', '.join(values)})", dist.all_reduce, stacked)
    return dict(zip(values, (stacked / world_size()).tolist(), strict=True))


def broadcast(value):
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not enabled():
        return value
    box = [value]
    collective("broadcast", dist.broadcast_object_list, box, src=0, device=_device())
    return box[0]


def gather_rng_states(state: torch.Tensor) -> list[torch.Tensor] | None:
    """Every rank's RNG state (a uint8 tensor) in rank order, for a checkpoint; None in a single process."""
    if not enabled():
        return None
    return [row.clone() for row in gather_rows(state[None])]  # own storage each: set_rng_state ignores offsets


def data_parallel(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` wrapped in DistributedDataParallel, or ``module`` itself in a single process.

    Buffers are not broadcast from rank 0 at every forward: GAN discriminators run several forwards before one
    backward, and the broadcast would change BatchNorm buffers that autograd still needs.
    """
    if not enabled():
        return module
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    with warnings.catch_warnings():  # newer torch renames the option (forward_sync_buffers); torch 2.4 lacks that name
        warnings.simplefilter("ignore", FutureWarning)
        return collective("DistributedDataParallel construction", torch.nn.parallel.DistributedDataParallel, module,
                          device_ids=ids, broadcast_buffers=False)
