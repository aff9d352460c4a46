"""Training moves fakes toward the data, resumes bit for bit, and stops on divergence keeping the last good state."""

import copy
import dataclasses

import pandas as pd
import pytest
import torch

from benchmark.data import load
from benchmark.errors import DeepbenchError
from benchmark.files import load_checkpoint
from benchmark.images import to_unit_range
from generators.registry import GANConfig, create_gan
from generators.sample import load_generator, sample_fakes, to_uint8
from generators.train import TrainConfig, Trainer, train

TINY = GANConfig(nz=8, ngf=8, ndf=8)


def blobs(count=256, seed=0):
    """8x8 gray images: a bright 4x4 square in one of two corners (the class), dark elsewhere, a little noise."""
    rng = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = torch.randint(0, 30, (count, 1, 8, 8), generator=rng, dtype=torch.uint8)
    images[labels == 0, :, :4, :4] = 230
    images[labels == 1, :, 4:, 4:] = 230
    return images, labels


def distance_to_data(gan, images):
    """Mean absolute difference between the mean fake and the mean real image, in [-1, 1] units."""
    gan.generator.eval()
    with torch.no_grad():
        fakes = gan.generator(torch.randn(256, TINY.nz, generator=torch.Generator().manual_seed(5)),
                              torch.arange(256) % 2 if gan.conditional else None)
    gan.generator.train()
    return (fakes.mean(0) - to_unit_range(images).mean(0)).abs().mean().item()


@pytest.mark.parametrize("name, model_options, train_options", [
    ("dcgan", {}, {}),
    ("capsgan", {}, {}),
    ("dcgan", {"spectral_norm": True, "minibatch_std": True}, {"label_smoothing": 0.1, "instance_noise": 0.2}),
    ("dcgan", {}, {"feature_matching": True, "ema_decay": 0.9}),
    ("sngan", {"ndf": 16}, {"ema_decay": 0.0}),  # its own Adam (0/0.9); with DCGAN's it drops a mode here
    ("dcgan", {}, {"precision": "bf16"}),
])
def test_training_moves_fakes_toward_the_data(tmp_path, name, model_options, train_options):
    torch.manual_seed(0)
    images, labels = blobs()
    gan = create_gan(name, 1, 8, config=GANConfig(**{"nz": 8, "ngf": 8, "ndf": 8, **model_options}))
    before = distance_to_data(gan, images)
    train(gan, images, labels, tmp_path, TrainConfig(epochs=40, batch_size=32, lr_g=1e-3, lr_d=1e-3,
                                                     sample_every=10**6, checkpoint_every=10**6, **train_options),
          progress=False)
    if train_options.get("ema_decay"):
        gan.generator = load_generator(tmp_path / "checkpoints" / "last.pt").network  # the EMA weights
    after = distance_to_data(gan, images)
    assert after < 0.5 * before, (before, after)
    assert (tmp_path / "losses.csv").exists() and (tmp_path / "losses.png").exists()
    assert (tmp_path / "samples" / "step_000320.png").exists()


@pytest.mark.parametrize("name, classes, expected", [
    ("dcgan", 0, {"batch_size": 64, "beta1": 0.5, "beta2": 0.999, "ema_decay": 0.0}),  # the DCGAN paper's
    ("sngan", 0, {"batch_size": 32, "beta1": 0.0, "beta2": 0.9, "ema_decay": 0.999}),  # Miyato et al.'s, an EMA
    ("csngan", 2, {"batch_size": 32, "beta1": 0.0, "beta2": 0.9, "ema_decay": 0.999}),
])
def test_each_gan_family_trains_with_its_own_recipe_unless_the_user_sets_an_option(tmp_path, name, classes,
                                                                                   expected):
    images, labels = blobs(96)
    gan = create_gan(name, 1, 8, classes, config=TINY)
    trainer = Trainer(gan, images, labels, tmp_path, TrainConfig())
    assert {option: getattr(trainer.config, option) for option in expected} == expected
    assert trainer.opt_g.defaults["betas"] == trainer.opt_d.defaults["betas"] == (expected["beta1"],
                                                                                  expected["beta2"])
    assert trainer.steps_per_epoch == 96 // expected["batch_size"]
    assert (trainer.ema is not None) == (expected["ema_decay"] > 0)
    given = TrainConfig(batch_size=16, beta1=0.3, beta2=0.95, ema_decay=0.0)
    chosen = Trainer(create_gan(name, 1, 8, classes, config=TINY), images, labels, tmp_path, given)
    assert (chosen.config.batch_size, chosen.opt_g.defaults["betas"], chosen.ema) == (16, (0.3, 0.95), None)


def test_the_ema_warms_up_as_tensorflows_does_then_decays_at_the_given_rate(tmp_path):
    """After the weights w1, w2, w3 of three steps: the first update copies w1, the second averages at
    min(0.999, 2/11), the third at min(0.999, 3/12); at decay 0.1 the cap binds from the second update on."""
    images, labels = blobs(96)
    for decay, rates in ((0.999, (2 / 11, 3 / 12)), (0.1, (0.1, 0.1))):
        trainer = Trainer(create_gan("dcgan", 1, 8, config=TINY), images, labels, tmp_path,
                          TrainConfig(batch_size=32, ema_decay=decay))
        weights = []
        for step in range(3):
            trainer.train_step(step)
            weights.append(trainer.G.main[0].weight.detach().clone())
        expected = weights[0]
        for rate, current in zip(rates, weights[1:], strict=True):
            expected = rate * expected + (1 - rate) * current
        assert torch.allclose(trainer.ema.module.main[0].weight, expected, rtol=0, atol=1e-7)


def test_the_papers_capsule_discriminator_trains_its_generator_toward_the_data(tmp_path):
    """capsgan-paper's margin-loss objective on one "real" capsule, on the blobs scaled to 28 px (its size).
    With spectral norm: with BatchNorm, this tiny D wins outright on these toy images (so does capsgan's)."""
    torch.manual_seed(0)
    small, labels = blobs()
    images = torch.nn.functional.pad(small.repeat_interleave(3, 2).repeat_interleave(3, 3), (2, 2, 2, 2))
    gan = create_gan("capsgan-paper", 1, 28, config=GANConfig(nz=8, ngf=8, ndf=8, spectral_norm=True))
    before = distance_to_data(gan, images)
    # 320 steps of 8: as close to the data as 320 of 32 (12% of the distance before), at a third of the time
    result = train(gan, images, labels, tmp_path, TrainConfig(epochs=10, batch_size=8, lr_g=1e-3, lr_d=1e-3,
                                                              sample_every=10**6, checkpoint_every=10**6),
                   progress=False)
    assert distance_to_data(gan, images) < 0.5 * before
    last = pd.read_csv(tmp_path / "losses.csv").iloc[-20:]
    assert 0 < last["d_real"].mean() < 1 and 0 < last["d_fake"].mean() < 1, result  # D's capsule, not saturated


def test_conditional_training_produces_the_asked_class(tmp_path):
    torch.manual_seed(0)
    images, labels = blobs()
    gan = create_gan("cdcgan", 1, 8, num_classes=2, config=TINY)
    train(gan, images, labels, tmp_path, TrainConfig(epochs=60, batch_size=32, lr_g=1e-3, lr_d=1e-3,
                                                     sample_every=10**6, checkpoint_every=10**6), progress=False)
    gan.generator.eval()
    with torch.no_grad():
        fakes = gan.generator(torch.randn(200, TINY.nz), torch.arange(200) % 2)
    top_left = fakes[:, 0, :4, :4].mean((1, 2)) > fakes[:, 0, 4:, 4:].mean((1, 2))
    asked_top_left = torch.arange(200) % 2 == 0
    assert (top_left == asked_top_left).float().mean() > 0.9


def test_one_step_is_the_textbook_dcgan_step(tmp_path):
    """D's step then G's step, as PyTorch's dcgan example writes them, to the last bit of the weights; D keeps
    only its own loss's gradients (G's backward stops at G's weights instead of also filling D's)."""
    torch.manual_seed(0)
    images, labels = blobs(64)
    gan = create_gan("dcgan", 1, 8, config=TINY)
    config = TrainConfig(batch_size=32, seed=3)
    trainer = Trainer(gan, images, labels, tmp_path, config)
    g, d = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))  # the DCGAN paper's, our GAN defaults
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real, _ = trainer.batch(0)
    z = torch.randn(config.batch_size, TINY.nz, generator=torch.Generator().manual_seed(config.seed))

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    fake = g(z)
    out_real, out_fake = d(real)[0], d(fake.detach())[0]
    loss_d = bce(out_real, torch.ones_like(out_real)) + bce(out_fake, torch.zeros_like(out_fake))
    loss_d.backward()
    d_gradients = [p.grad.clone() for p in d.parameters()]
    opt_d.step()
    out_g = d(fake)[0]
    loss_g = bce(out_g, torch.ones_like(out_g))
    loss_g.backward()
    opt_g.step()

    row = trainer.train_step(0)
    assert (row["loss_d"], row["loss_g"]) == (loss_d.item(), loss_g.item())
    for ours, textbook in [(trainer.G, g), (trainer.D, d)]:
        for (name, mine), theirs in zip(ours.state_dict().items(), textbook.state_dict().values(), strict=True):
            assert torch.equal(mine, theirs), name
    for p, expected in zip(trainer.D.parameters(), d_gradients, strict=True):
        assert torch.equal(p.grad, expected)


def run_steps(out, steps, resume=False, name="cdcgan"):
    torch.manual_seed(123)  # model initialisation
    images, labels = blobs(128)
    gan = create_gan(name, 1, 8, num_classes=2, config=TINY)
    config = TrainConfig(epochs=300, max_steps=steps, batch_size=16, instance_noise=0.1, label_smoothing=0.1,
                         ema_decay=0.9, sample_every=150, checkpoint_every=5000, seed=4)
    train(gan, images, labels, out, config, resume=resume, progress=False)
    return load_checkpoint(out / "checkpoints" / "last.pt")


def test_resume_is_bit_identical(tmp_path):
    """400 steps straight (50 epochs, sample grids on the way) equal 200 + resume + 200, with every source of
    randomness in play."""
    straight = run_steps(tmp_path / "straight", 400)
    run_steps(tmp_path / "split", 200)
    resumed = run_steps(tmp_path / "split", 400, resume=True)
    assert resumed["step"] == straight["step"] == 400
    for part in ("generator", "discriminator", "ema"):
        for key, value in straight[part].items():
            assert torch.equal(value, resumed[part][key]), (part, key)
    assert torch.equal(straight["noise_rng"], resumed["noise_rng"])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "straight" / "losses.csv"),
                                  pd.read_csv(tmp_path / "split" / "losses.csv"))


def test_a_time_budget_stops_training_at_the_same_step_and_resume_goes_on(tmp_path, monkeypatch):
    """A CPU clock that moves one second per reading: training stops at the step where the budget runs out,
    writes its checkpoint there; a resume with the same budget (a suite finishing its other stages) takes no
    further step, and one with a larger budget continues from it."""
    from generators import train as train_module

    readings = iter(range(10**6))
    monkeypatch.setattr(train_module.time, "process_time", lambda: float(next(readings)))
    images, labels = blobs(64)
    config = TrainConfig(epochs=50, batch_size=16, sample_every=10**6, checkpoint_every=10**6, max_minutes=0.1)
    stopped = train(create_gan("dcgan", 1, 8, config=TINY), images, labels, tmp_path, config, progress=False)
    assert stopped.step == 6 and load_checkpoint(stopped.checkpoint)["step"] == 6  # 6 s = 0.1 min
    written = stopped.checkpoint.read_bytes()
    again = train(create_gan("dcgan", 1, 8, config=TINY), images, labels, tmp_path, config, resume=True,
                  progress=False)
    assert again.step == 6 and stopped.checkpoint.read_bytes() == written
    longer = dataclasses.replace(config, max_minutes=0.2)
    resumed = train(create_gan("dcgan", 1, 8, config=TINY), images, labels, tmp_path, longer, resume=True,
                    progress=False)
    assert resumed.step == 12 and len(pd.read_csv(tmp_path / "losses.csv")) == 12


def test_a_time_budget_counts_the_training_steps_not_the_grids_scores_and_checkpoints(tmp_path, monkeypatch):
    """A clock that moves one second in each training step and a hundred in each score (a score of a diffusion
    model's fakes costs hundreds of a GAN's): with a grid, a score and a checkpoint after every step, a budget of
    six seconds still buys six steps, as it does a family whose scores cost nothing."""
    from generators import train as train_module

    clock = [0.0]
    monkeypatch.setattr(train_module.time, "process_time", lambda: clock[0])
    training_step = Trainer.train_step

    def one_second_step(self, step):
        clock[0] += 1
        return training_step(self, step)

    def slow_scorer(fakes):
        clock[0] += 100
        return 1.0

    monkeypatch.setattr(Trainer, "train_step", one_second_step)
    images, labels = blobs(64)
    config = TrainConfig(epochs=50, batch_size=16, sample_every=1, checkpoint_every=1, score_every=1, max_minutes=0.1)
    stopped = train(create_gan("dcgan", 1, 8, config=TINY), images, labels, tmp_path, config, scorer=slow_scorer,
                    progress=False)
    assert stopped.step == 6 and load_checkpoint(stopped.checkpoint)["budget_seconds"] == 6


def test_existing_checkpoint_is_not_overwritten_without_resume(tmp_path):
    run_steps(tmp_path, 5)
    with pytest.raises(DeepbenchError, match="last.pt exists; pass --resume"):
        run_steps(tmp_path, 10)


def test_resume_refuses_another_models_checkpoint(tmp_path):
    run_steps(tmp_path, 5, name="cdcgan")
    (tmp_path / "checkpoints" / "last.pt").rename(tmp_path / "checkpoints" / "other.pt")
    run_steps(tmp_path / "caps", 5, name="ccapsgan")
    (tmp_path / "checkpoints" / "other.pt").rename(tmp_path / "caps" / "checkpoints" / "last.pt")
    with pytest.raises(DeepbenchError, match="holds 'generator:cdcgan', not 'generator:ccapsgan'"):
        run_steps(tmp_path / "caps", 10, resume=True, name="ccapsgan")


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    images, labels = blobs(128)
    gan = create_gan("dcgan", 1, 8, config=TINY)
    forward, calls = gan.discriminator.forward, []

    def poisoned(x, labels=None):
        calls.append(1)
        output, features = forward(x, labels)
        return (output * float("nan"), features) if len(calls) > 3 * 25 else (output, features)

    gan.discriminator.forward = poisoned
    config = TrainConfig(epochs=10, batch_size=16, checkpoint_every=10, sample_every=10**6)
    with pytest.raises(DeepbenchError, match="diverged at step 26 .*last good checkpoint is .*last.pt"):
        train(gan, images, labels, tmp_path, config, progress=False)
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 20
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())
    assert len(pd.read_csv(tmp_path / "losses.csv")) == 26  # the log shows the failing step


def test_a_discriminator_that_wins_outright_stops_training(tmp_path):
    images, labels = blobs(64)
    trainer = Trainer(create_gan("dcgan", 1, 8, config=TINY), images, labels, tmp_path,
                      TrainConfig(divergence_patience=3))
    trainer.history = [{"step": s, "loss_d": 0.0, "loss_g": 9.0, "d_real": 0.999, "d_fake": 0.001}
                       for s in range(1, 4)]
    with pytest.raises(DeepbenchError, match="collapsed: D\\(x\\) > 0.99 and D\\(G\\(z\\)\\) < 0.01 for the last 3"):
        trainer.check_divergence(trainer.history[-1])
    trainer.history[-1]["d_fake"] = 0.2
    trainer.check_divergence(trainer.history[-1])


def test_a_scorer_keeps_the_best_checkpoint(tmp_path):
    images, labels = blobs(128)
    scores = iter([3.0, 1.0, 2.0])
    result = train(create_gan("dcgan", 1, 8, config=TINY), images, labels, tmp_path,
                   TrainConfig(epochs=3, batch_size=16, score_every=8, sample_every=10**6),
                   scorer=lambda fakes: next(scores), progress=False)
    assert (result.step, result.best_step, result.best_score) == (24, 16, 1.0)
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["step"] == 16
    assert pd.read_csv(tmp_path / "losses.csv")["quality"].dropna().tolist() == [3.0, 1.0, 2.0]


def test_bad_training_options_name_the_value():
    with pytest.raises(DeepbenchError, match="lr_d must lie in \\(0, 1\\), got 5"):
        TrainConfig(lr_d=5)
    with pytest.raises(DeepbenchError, match="fewer than one batch of 64"):
        Trainer(create_gan("dcgan", 1, 8, config=TINY), *blobs(10), "/nonexistent", TrainConfig())
    with pytest.raises(DeepbenchError, match="built for uint8 \\(1, 28, 28\\)"):
        Trainer(create_gan("dcgan", 1, 28, config=TINY), *blobs(100), "/nonexistent", TrainConfig())


def test_sampled_fakes_match_their_manifest_and_the_network(tmp_path):
    images, labels = blobs(128)
    train(create_gan("cdcgan", 1, 8, num_classes=2, config=TINY), images, labels, tmp_path / "gen",
          TrainConfig(epochs=1, batch_size=16), progress=False)
    loaded = load_generator(tmp_path / "gen" / "checkpoints" / "last.pt")
    manifest = sample_fakes(loaded, tmp_path / "fakes", 25, seed=3, batch_size=10, classes=["tl", "br"],
                            progress=False)
    written = sorted(p.name for p in (tmp_path / "fakes").glob("*.png"))
    assert written == manifest["file"].tolist() and len(written) == 25
    assert manifest["label"].tolist() == [i % 2 for i in range(25)]
    assert set(manifest["class"]) == {"tl", "br"} and set(manifest["generator"]) == {"cdcgan"}
    assert set(manifest["checkpoint_sha256"]) == {loaded.sha256}
    on_disk = pd.read_csv(tmp_path / "fakes" / "manifest.csv")
    assert on_disk["file"].tolist() == written
    stored, _ = load(f"folder:{tmp_path / 'fakes'}").tensors(progress=False)
    noise = torch.Generator().manual_seed(3)
    z = torch.cat([torch.randn(count, TINY.nz, generator=noise) for count in (10, 10, 5)])  # as sampled, by batch
    with torch.no_grad():
        expected = to_uint8(loaded.network(z, torch.arange(25) % 2))
    assert torch.equal(stored, expected)  # lossless PNGs of exactly what the network made
