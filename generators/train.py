"""The training loop of every generator family: plain, resumable bit for bit, and watched for divergence.

A GAN's step is pytorch/examples' DCGAN step (update D on a real and a fake batch, then G), with the usual
stabilisers as small named options: TTUR (separate learning rates), one-sided label smoothing, annealed
instance noise, feature matching, EMA of G's weights, and in the models spectral norm and minibatch
standard deviation. A family without a discriminator (a VAE, a diffusion model) has one step instead: its
generator's own ``training_loss`` on a real batch, with the noise that loss needs drawn here (see
:class:`LikelihoodModel`). Everything else is shared: data order, checkpoints, resume, EMA, sample grids,
scores and ``best.pt``. Real images stay in memory as one uint8 tensor and are scaled per batch.

Reproducibility: the data order of epoch ``e`` comes from its own generator seeded by ``(seed, e)`` and all
sampling noise from one generator whose state is checkpointed with the models, optimizers, EMA and step,
so ``resume=True`` continues exactly where the checkpoint stopped.

Under torchrun (see :mod:`benchmark.distributed`) every rank draws the same permutation and noise as a single
process would, keeps its slice of each global batch, and DistributedDataParallel averages the gradients: N
processes follow one process's training (to float tolerance with ``sync_bn``). Rank 0 alone keeps the EMA,
samples, scores and writes; checkpoints also hold every rank's global RNG state, restored per rank.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from benchmark import distributed, sync_batchnorm
from benchmark.errors import DeepbenchError
from benchmark.files import load_checkpoint, remove_stale_temp_files, save_checkpoint, write_csv
from benchmark.images import to_unit_range
from benchmark.options import leave_out, option, with_defaults
from benchmark.rundir import BEST_CHECKPOINT, LAST_CHECKPOINT
from benchmark.runtime import progress_bar
from benchmark.versions import PROTOCOLS
from generators.likelihood import TrainingLoss
from generators.losses import discriminator_loss, generator_loss, real_probability
from generators.progress import save_loss_plot, save_sample_grid
from generators.registry import GAN

log = logging.getLogger(__name__)


PRECISIONS = ("fp32", "bf16")
GAN_TRAINING = {"batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999,
                "ema_decay": 0.0}  # the DCGAN paper's Adam


@dataclass(frozen=True)
class TrainConfig:
    """Training options. Defaults: batch 64 and, for the GANs, Adam 2e-4 with betas (0.5, 0.999), as in the DCGAN
    paper; an option left None takes its family's default (``GAN.train_defaults``, e.g. SNGAN's batch 32 and betas
    (0, 0.9); else :data:`GAN_TRAINING`)."""

    epochs: int = option(10, "Training epochs.")
    max_steps: int | None = option(None, "Stop after this many steps, before --epochs ends (a later --resume "
                                         "goes on).")
    max_minutes: float | None = option(None, "Stop once the training steps have used this many minutes (sample "
                                             "grids, scores and checkpoints not counted), before --epochs ends (a "
                                             "later --resume goes on): equal compute for comparisons. On a "
                                             "CPU, minutes of the process's CPU time (T threads spend T a minute; "
                                             "other work on the cores still costs steps, so compare on an idle "
                                             "machine); on a GPU, of the wall clock. The step it stops at depends "
                                             "on the machine.")
    batch_size: int | None = option(None, "Images per step (default 64, sngan 32).")
    lr_g: float | None = option(None, "Generator learning rate (Adam; default 2e-4, vae and ddpm on gray images "
                                      "1e-3).")
    lr_d: float | None = option(None, "Discriminator learning rate (default 2e-4; higher than --lr-g: TTUR, "
                                      "Heusel et al. 2017).")
    beta1: float | None = option(None, "Adam beta1 (default 0.5, vae and ddpm 0.9, sngan 0).")
    beta2: float | None = option(None, "Adam beta2 (default 0.999, sngan 0.9).")
    label_smoothing: float = option(0.0, "One-sided: real targets become 1 - this (e.g. 0.1).")
    instance_noise: float = option(0.0, "Std of noise on D's inputs, annealed linearly to 0 (e.g. 0.1).")
    feature_matching: bool = option(False, "G matches the mean of D's features on real data (Salimans et al. "
                                           "2016).")
    ema_decay: float | None = option(None, "EMA decay of G's weights, e.g. 0.999 (0: off; default off, sngan "
                                           "and ddpm 0.999); sampling then uses the EMA generator.", aliases=("--ema",))
    sample_every: int = option(500, "Steps between sample grids.")
    checkpoint_every: int = option(500, "Steps between checkpoints (last.pt).")
    score_every: int = option(1000, "Steps between quality scores that choose checkpoints/best.pt.")
    divergence_patience: int = option(1000, "Steps with D(x) > 0.99 and D(G(z)) < 0.01 before training stops "
                                             "as collapsed.")
    seed: int = option(0, "Seed of the networks, the data order and the noise.")
    sync_bn: bool = option(False, "Under torchrun: BatchNorm statistics over the global batch, not each rank's "
                                  "slice.")
    precision: str = option("fp32", "Arithmetic of the training steps' forward and backward passes: fp32, or bf16 "
                                    "mixed precision (torch.autocast; weights, optimizer and EMA stay fp32). "
                                    "bf16 is fastest on GPUs since NVIDIA's Ampere and on CPUs with "
                                    "bfloat16 instructions (AVX512-BF16, AMX); sampling and scores stay fp32.",
                       choices=PRECISIONS)

    def __post_init__(self):
        positive = ("epochs", "batch_size", "sample_every", "checkpoint_every", "score_every", "divergence_patience")
        for name in positive:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise DeepbenchError(f"{name} must be at least 1, got {value}")
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) is not None and not 0 < getattr(self, name) < 1:
                raise DeepbenchError(f"{name} must lie in (0, 1), got {getattr(self, name)}")
        if not 0 <= self.label_smoothing < 0.5:
            raise DeepbenchError(f"label_smoothing must lie in [0, 0.5), got {self.label_smoothing}")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise DeepbenchError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        if self.instance_noise < 0:
            raise DeepbenchError(f"instance_noise must be >= 0, got {self.instance_noise}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise DeepbenchError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.precision not in PRECISIONS:
            raise DeepbenchError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


ADVERSARIAL_ONLY = {"label_smoothing": 0.0, "instance_noise": 0.0, "feature_matching": False}


def warmed_up_ema(decay: float) -> Callable:
    """EMA updates whose decay grows as min(decay, (1 + n) / (10 + n)) after n updates (TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``): at a fixed 0.999 the average would still hold 0.999**500 =
    61% of the untrained weights after 500 steps, and sample grids and scores of a short run would show noise."""
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], count: torch.Tensor) -> None:
        rate = min(decay, (1 + int(count)) / (10 + int(count)))
        for mean, value in zip(averaged, current, strict=True):
            if mean.is_floating_point():
                mean.lerp_(value, 1 - rate)
            else:  # BatchNorm's count of batches seen
                mean.copy_(value)
    return update


@dataclass
class TrainResult:
    step: int
    best_step: int | None
    best_score: float | None
    seconds: float
    checkpoint: Path


Scorer = Callable[[torch.Tensor], float]  # fake images in [-1, 1] -> quality, lower is better


def memory_layout(gan: GAN) -> torch.memory_format:
    """channels_last, oneDNN's and cuDNN's fast convolution layout (DCGAN's step measured 8-15% faster on 2 CPU
    cores), unless the generator asks for another: GroupNorm, ddpm's normalisation, ran 20 times slower in bf16
    on channels_last than on contiguous images on a CPU (6.8 ms against 0.3 ms a call), and ddpm's fp32 step was
    no faster on channels_last."""
    return getattr(gan.generator, "memory_layout", torch.channels_last)


def checkpoint_kind(gan: GAN) -> str:
    return f"generator:{gan.name}"


class Trainer:
    """Trains one GAN into ``out`` (its ``generators/<name>/`` folder of the run directory)."""

    def __init__(self, gan: GAN, images: torch.Tensor, labels: torch.Tensor, out: str | Path, config: TrainConfig,
                 device: torch.device | str = "cpu", scorer: Scorer | None = None, score_samples: int = 1000):
        expected = (gan.channels, gan.image_size, gan.image_size)
        if images.dtype != torch.uint8 or tuple(images.shape[1:]) != expected:
            raise DeepbenchError(f"training images are {images.dtype} {tuple(images.shape[1:])} but {gan.name} "
                                 f"was built for uint8 {expected}; pass --channels/--image-size to convert")
        defaults = {**GAN_TRAINING, **gan.train_defaults}
        if gan.discriminator is None:  # no D: no D's rate either (--lr sets both rates, so no warning for it)
            config = replace(leave_out(config, ADVERSARIAL_ONLY, gan.name), lr_d=None)
            defaults.pop("lr_d")
        config = with_defaults(config, defaults)  # what training uses, and records
        if len(images) < config.batch_size:
            raise DeepbenchError(f"{len(images)} training images are fewer than one batch of {config.batch_size}; "
                                 f"lower --batch-size")
        self.gan, self.config, self.device = gan, config, torch.device(device)
        self.images = images
        self.labels = labels.long() if gan.conditional else torch.zeros(len(images), dtype=torch.long)
        self.out, self.scorer, self.score_samples = Path(out), scorer, score_samples
        self.layout = memory_layout(gan)
        self.G = gan.generator.to(self.device, memory_format=self.layout)
        self.D = (gan.discriminator.to(self.device, memory_format=self.layout)
                  if gan.discriminator is not None else None)  # None: a family that trains on its own loss
        self.part = distributed.local_batch(config.batch_size)  # this rank's rows of every global batch
        if config.sync_bn and distributed.enabled():
            for network in filter(None, (self.G, self.D)):
                sync_batchnorm.convert(network)
        # each network itself under one process
        self.train_g = distributed.data_parallel(self.G if self.D is not None else TrainingLoss(self.G), self.device)
        self.train_d = distributed.data_parallel(self.D, self.device) if self.D is not None else None
        self.g_parameters = list(self.G.parameters())
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g_parameters, lr=config.lr_g, betas=betas)
        self.opt_d = (torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=betas)
                      if self.D is not None else None)
        self.ema = (AveragedModel(self.G, multi_avg_fn=warmed_up_ema(config.ema_decay), use_buffers=True)
                    if config.ema_decay and distributed.is_main() else None)
        self.noise = torch.Generator(self.device).manual_seed(config.seed)
        self.steps_per_epoch = len(images) // config.batch_size
        self.schedule_steps = config.epochs * self.steps_per_epoch  # annealing follows epochs, not max_steps,
        self.total_steps = min(self.schedule_steps, config.max_steps or math.inf)  # so a stop can resume exactly
        self.step, self.history, self.best_step, self.best_score, self.seconds = 0, [], None, None, 0.0
        self.budget_seconds = 0.0  # the training steps' time on budget_clock(): what --max-minutes counts
        self.order, self.order_epoch = torch.empty(0, dtype=torch.long), -1
        fixed = torch.Generator().manual_seed(config.seed + 1)  # its own stream: grids never shift training noise
        self.fixed_z = torch.randn(64, gan.config.nz, generator=fixed).to(self.device)
        self.fixed_labels = self.class_cycle(64)
        self.score_z = torch.randn(score_samples, gan.config.nz, generator=fixed).to(self.device)
        self.score_labels = self.class_cycle(score_samples)

    @property
    def checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def class_cycle(self, count: int) -> torch.Tensor | None:
        """Labels 0, 1, ..., K-1, 0, ... for conditional sampling; None for unconditional GANs."""
        return torch.arange(count, device=self.device) % self.gan.num_classes if self.gan.conditional else None

    def sampler(self) -> torch.nn.Module:
        """The network fakes come from: the EMA generator when EMA is on."""
        return self.ema.module if self.ema is not None else self.G

    # -- checkpoints ---------------------------------------------------------------------------------
    def state(self, rank_rng: list[torch.Tensor] | None = None) -> dict:
        """Everything training depends on; under torchrun also each rank's global RNG state (``rank_rng``)."""
        extra = {} if rank_rng is None else {"rank_rng": rank_rng}
        return {"kind": checkpoint_kind(self.gan), "gan": self.gan.describe(), "train": asdict(self.config),
                "step": self.step, "seconds": self.seconds, "budget_seconds": self.budget_seconds,
                "generator": self.G.state_dict(),
                "discriminator": self.D.state_dict() if self.D is not None else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict() if self.opt_d else None,
                "ema": self.ema.state_dict() if self.ema else None,
                "noise_rng": self.noise.get_state(), "history": self.history,
                "best_step": self.best_step, "best_score": self.best_score,
                "protocols": {"training": PROTOCOLS["training"]}, **extra}

    def save(self, name: str, rank_rng: list[torch.Tensor] | None = None) -> Path:
        return save_checkpoint(self.checkpoint_dir / name, self.state(rank_rng))

    def resume(self) -> None:
        """Load ``last.pt``; the architecture and every option but the length of training must match."""
        path = self.checkpoint_dir / LAST_CHECKPOINT
        state = load_checkpoint(path, checkpoint_kind(self.gan))
        if state["gan"] != self.gan.describe():
            raise DeepbenchError(f"{path} was trained with {state['gan']}, not {self.gan.describe()}; "
                                 f"resume with the same options or use a new --out")
        length = {"epochs", "max_steps", "max_minutes"}
        changed = [f.name for f in fields(TrainConfig)
                   if f.name not in length and state["train"].get(f.name, f.default) != getattr(self.config, f.name)]
        if changed:
            raise DeepbenchError(f"{path} was trained with other {', '.join(changed)}; resume with the same "
                                 f"options (only --epochs may change) or use a new --out")
        saved = (state.get("protocols") or {}).get("training")
        if saved is not None and saved != PROTOCOLS["training"]:  # absent: saved before versions were kept
            raise DeepbenchError(f"{path} was trained under training protocol {saved}, and this code trains under "
                                 f"{PROTOCOLS['training']}; a resumed run would mix the two: use --force")
        saved_world = len(state.get("rank_rng") or [None])
        if saved_world != distributed.world_size():
            raise DeepbenchError(f"{path} was trained by {saved_world} process(es), this run has "
                                 f"{distributed.world_size()}; resume with torchrun --nproc_per_node={saved_world}")
        self.G.load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.D is not None:
            self.D.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.noise.set_state(state["noise_rng"])
        if "rank_rng" in state:
            torch.set_rng_state(state["rank_rng"][distributed.rank()])
        self.step, self.seconds, self.history = state["step"], state["seconds"], state["history"]
        self.budget_seconds = state.get("budget_seconds", self.seconds)
        self.best_step, self.best_score = state["best_step"], state["best_score"]
        log.info("resumed %s from step %d", self.gan.name, self.step)

    # -- one step ------------------------------------------------------------------------------------
    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = divmod(step, self.steps_per_epoch)
        if self.order_epoch != epoch:
            order_rng = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
            self.order, self.order_epoch = torch.randperm(len(self.images), generator=order_rng), epoch
        rows = self.order[index * self.config.batch_size:(index + 1) * self.config.batch_size][self.part]
        real = to_unit_range(self.images[rows].to(self.device)).contiguous(memory_format=self.layout)
        return real, self.labels[rows].to(self.device)

    def noisy(self, images: torch.Tensor, std: float) -> torch.Tensor:
        """Instance noise (Sønderby et al. 2017): blurs D's view of both distributions early on.

        Drawn for the global batch and sliced, like all noise, so every rank's stream stays the single process's.
        """
        if std == 0:
            return images
        shape = (self.config.batch_size, *images.shape[1:])
        return images + std * torch.randn(shape, generator=self.noise, device=self.device)[self.part]

    def train_step(self, step: int) -> dict:
        return self.adversarial_step(step) if self.D is not None else self.likelihood_step(step)

    def adversarial_step(self, step: int) -> dict:
        config, kind = self.config, self.D.loss
        real, real_labels = self.batch(step)
        batch = config.batch_size  # noise for the global batch; this rank keeps its rows
        z = torch.randn(batch, self.gan.config.nz, generator=self.noise, device=self.device)[self.part]
        fake_labels = (torch.randint(self.gan.num_classes, (batch,), generator=self.noise, device=self.device)
                       if self.gan.conditional else torch.zeros(batch, dtype=torch.long, device=self.device))
        fake_labels = fake_labels[self.part]
        g_labels = fake_labels if self.gan.conditional else None
        d_labels = real_labels if self.gan.conditional else None
        std = config.instance_noise * max(0.0, 1.0 - step / self.schedule_steps)

        with self.autocast():
            fake = self.train_g(z, g_labels)
            out_real, features_real = self.train_d(self.noisy(real, std), d_labels)
            out_fake, _ = self.train_d(self.noisy(fake.detach(), std), g_labels)
            loss_d = discriminator_loss(kind, out_real, out_fake, real_labels, fake_labels, config.label_smoothing)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # G's loss gives D no gradients (below), so DDP must not wait to average them
        with self.unsynced_d(), self.autocast():
            out_g, features_fake = self.train_d(self.noisy(fake, std), g_labels)
            if config.feature_matching:
                loss_g = F.mse_loss(features_fake.mean(0), features_real.detach().mean(0))
            else:
                loss_g = generator_loss(kind, out_g, fake_labels)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward(inputs=self.g_parameters)  # G's gradients only: D's weight gradients would be discarded
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update_parameters(self.G)
        with torch.no_grad():
            d_real = real_probability(kind, out_real, real_labels).mean().item()
            d_fake = real_probability(kind, out_fake, fake_labels).mean().item()
        values = distributed.mean({"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real": d_real,
                                   "d_fake": d_fake})  # the global batch's, the same on every rank
        return {"step": step + 1, "epoch": step // self.steps_per_epoch + 1, **values}

    def likelihood_step(self, step: int) -> dict:
        """One step of a family without a discriminator: its own loss on a real batch, noise drawn for the global
        batch and sliced as in the adversarial step."""
        real, labels = self.batch(step)
        noise = self.G.training_noise(self.config.batch_size, self.noise, self.device)
        with self.autocast():
            losses = self.train_g(real, labels if self.gan.conditional else None,
                                  {name: value[self.part] for name, value in noise.items()})
        self.opt_g.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update_parameters(self.G)
        values = distributed.mean({name: value.item() for name, value in losses.items()})
        return {"step": step + 1, "epoch": step // self.steps_per_epoch + 1, **values}

    def autocast(self) -> contextlib.AbstractContextManager:
        """The forward passes and losses of a step under ``precision``; the backward pass follows the forward's
        dtypes, as torch.autocast recommends."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def unsynced_d(self) -> contextlib.AbstractContextManager:
        return self.train_d.no_sync() if self.train_d is not self.D else contextlib.nullcontext()

    # -- the loop ------------------------------------------------------------------------------------
    def out_of_time(self) -> bool:
        """Whether ``max_minutes`` of training have been spent, by rank 0's clock, so that every rank stops at the
        same step (one broadcast a step, only when there is a budget)."""
        if self.config.max_minutes is None:
            return False
        return distributed.broadcast(self.budget_seconds >= 60 * self.config.max_minutes)

    def budget_clock(self) -> float:
        """The clock ``max_minutes`` counts, around the training steps alone (a grid or a score of a diffusion
        model's fakes costs hundreds of a GAN's, which would otherwise spend the budget unequally across
        families): this process's CPU time on a CPU, so that a budget buys the same computation on a busy
        machine as on an idle one; the wall clock on a GPU, whose work the CPU only queues."""
        return time.process_time() if self.device.type == "cpu" else time.perf_counter()

    def check_divergence(self, row: dict) -> None:
        """Stop on NaN/inf losses or a discriminator that has won outright for ``divergence_patience`` steps."""
        good = f"the last good checkpoint is {self.checkpoint_dir / 'last.pt'}"
        losses = {name: value for name, value in row.items() if name.startswith("loss")}
        if not all(math.isfinite(value) for value in losses.values()):
            values = ", ".join(f"{name}={value}" for name, value in losses.items())
            fix = " or add --spectral-norm" if self.D is not None else ""
            raise DeepbenchError(f"{self.gan.name} diverged at step {row['step']} ({values}); {good}; lower --lr"
                                 f"{fix}")
        recent = self.history[-self.config.divergence_patience:]
        if self.D is not None and len(recent) == self.config.divergence_patience and all(
                r["d_real"] > 0.99 and r["d_fake"] < 0.01 for r in recent):
            raise DeepbenchError(f"{self.gan.name} collapsed: D(x) > 0.99 and D(G(z)) < 0.01 for the last "
                                 f"{len(recent)} steps (to step {row['step']}); {good}; try --label-smoothing "
                                 f"0.1, --instance-noise 0.1 or --spectral-norm")

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None, batch_size: int = 500) -> torch.Tensor:
        """Fakes in [-1, 1] from the sampling network in eval mode (BatchNorm uses running statistics)."""
        network = self.sampler()
        was_training = network.training
        network.eval()
        parts = [network(z[i:i + batch_size], None if labels is None else labels[i:i + batch_size])
                 for i in range(0, len(z), batch_size)]
        network.train(was_training)
        return torch.cat(parts)

    def score(self) -> None:
        """Score a fixed sample; keep ``best.pt`` when it is the best so far (GANs can get worse late)."""
        value = float(self.scorer(self.generate(self.score_z, self.score_labels)))
        self.history[-1]["quality"] = value
        if self.best_score is None or value < self.best_score:
            self.best_step, self.best_score = self.step, value
            self.save(BEST_CHECKPOINT)

    def write_logs(self) -> None:
        frame = pd.DataFrame(self.history)
        write_csv(self.out / "losses.csv", frame)
        save_loss_plot(frame, self.out / "losses.png", self.gan.name)

    def fit(self, progress: bool | None = None) -> TrainResult:
        """Train to ``total_steps``; checkpoints, grids, scores and logs along the way."""
        config = self.config
        bar = progress_bar(total=self.total_steps, initial=self.step, show=progress, desc=self.gan.name, unit="step")
        started = time.perf_counter() - self.seconds
        spent = self.out_of_time()  # a run resumed with its budget spent takes no further step
        while self.step < self.total_steps and not spent:
            step_started = self.budget_clock()
            row = self.train_step(self.step)
            self.budget_seconds += self.budget_clock() - step_started
            self.history.append(row)
            try:
                self.check_divergence(row)
            except DeepbenchError:
                if distributed.is_main():
                    self.write_logs()  # the curves up to the failure help to diagnose it
                raise
            self.step += 1
            self.seconds = time.perf_counter() - started
            bar.update()
            bar.set_postfix({name: f"{value:.3g}" for name, value in row.items() if name not in ("step", "epoch")},
                            refresh=False)
            spent = self.out_of_time()
            finished = self.step == self.total_steps or spent
            main = distributed.is_main()
            if main and (self.step % config.sample_every == 0 or finished):
                save_sample_grid(self.generate(self.fixed_z, self.fixed_labels),
                                 self.out / "samples" / f"step_{self.step:06d}.png")
            if main and self.scorer is not None and (self.step % config.score_every == 0 or finished):
                self.score()
            if self.step % config.checkpoint_every == 0 or finished:
                rank_rng = distributed.gather_rng_states(torch.get_rng_state())  # every rank takes part
                if main:
                    self.save(LAST_CHECKPOINT, rank_rng)
                    self.write_logs()
            if finished:
                break
        bar.close()
        if not self.history and distributed.is_main():
            self.write_logs()
        # rank 0's choice of best.pt for all; the broadcast also holds the others until last.pt is written
        self.best_step, self.best_score = distributed.broadcast((self.best_step, self.best_score))
        last = self.checkpoint_dir / LAST_CHECKPOINT
        return TrainResult(self.step, self.best_step, self.best_score, self.seconds, last)


def train(gan: GAN, images: torch.Tensor, labels: torch.Tensor, out: str | Path, config: TrainConfig | None = None,
          device: torch.device | str = "cpu", resume: bool = False, scorer: Scorer | None = None,
          progress: bool | None = None) -> TrainResult:
    """Train ``gan`` on uint8 ``images`` into ``out``; with ``resume`` continue from ``out``'s last checkpoint.

    Without ``resume``, an existing checkpoint is an error rather than something to overwrite. With it, a
    missing checkpoint starts from scratch: a run interrupted before this generator began resumes too.
    """
    trainer = Trainer(gan, images, labels, out, config or TrainConfig(), device, scorer)
    last = trainer.checkpoint_dir / LAST_CHECKPOINT
    if resume and last.exists():
        for stale in remove_stale_temp_files(trainer.checkpoint_dir) if distributed.is_main() else []:
            log.info("removed %s, left by a checkpoint write that was killed", stale.name)
        trainer.resume()
    else:
        refuse_to_overwrite(last)
    return trainer.fit(progress)


def refuse_to_overwrite(last: Path) -> None:
    """A checkpoint from an earlier training is continued (--resume) or replaced (--force), never overwritten."""
    if last.exists():
        raise DeepbenchError(f"{last} exists; pass --resume to continue that training, --force to train it again, "
                             f"or use a new --out")
