"""The families trained without a discriminator (vae, ddpm) learn the data, resume bit for bit, and ddpm's DDIM
sampler draws from the distribution DDPM's own sampler draws from."""

from dataclasses import replace

import pandas as pd
import pytest
import torch

from benchmark.errors import DeepbenchError
from benchmark.files import load_checkpoint
from benchmark.images import to_unit_range
from generators.ddpm import ancestral_sample, cosine_alpha_bar, ddim_sample, min_snr_weight
from generators.registry import GANConfig, create_gan
from generators.train import TrainConfig, train
from tests.generators.test_train import blobs

TINY = {"vae": GANConfig(nz=8, ngf=8, ndf=8), "cvae": GANConfig(nz=8, ngf=8, ndf=8),
        "cddpm": GANConfig(ngf=8, sampling_steps=10)}


@torch.no_grad()
def held_out_loss(gan, seed=1):
    """The family's training loss on 256 unseen blobs, with fixed noise, in eval mode."""
    images, labels = blobs(256, seed=seed)
    model = gan.generator.eval()
    noise = model.training_noise(256, torch.Generator().manual_seed(seed), torch.device("cpu"))
    losses = model.training_loss(to_unit_range(images), labels if gan.conditional else None, **noise)
    model.train()
    return {name: value.item() for name, value in losses.items()}


def test_a_few_hundred_vae_steps_halve_the_loss_of_unseen_data(tmp_path):
    """The negative ELBO of unseen blobs, and its reconstruction term alone, fall below half the untrained
    model's."""
    torch.manual_seed(0)
    images, labels = blobs(256)
    gan = create_gan("vae", 1, 8, config=TINY["vae"])
    before = held_out_loss(gan)
    train(gan, images, labels, tmp_path, TrainConfig(epochs=30, batch_size=32, sample_every=10**6, seed=0),
          progress=False)
    after = held_out_loss(gan)
    assert after["loss"] < 0.5 * before["loss"] and after["loss_reconstruction"] < 0.5 * before["loss_reconstruction"]


def test_a_trained_cddpm_predicts_the_noise_and_draws_the_asked_class(tmp_path):
    """The noise-prediction error of unseen blobs falls from 1 (the untrained U-Net predicts no noise) below 0.25;
    the blobs' class is the corner that is bright, and DDIM samples asked for class 0 are brighter top-left than
    bottom-right (the reverse for class 1) in over 90% of cases, where chance is 50%."""
    torch.manual_seed(0)
    images, labels = blobs(256)
    gan = create_gan("cddpm", 1, 8, num_classes=2, config=TINY["cddpm"])
    before = held_out_loss(gan)
    train(gan, images, labels, tmp_path, TrainConfig(epochs=30, batch_size=32, lr_g=1e-3, sample_every=10**6,
                                                     seed=0), progress=False)
    assert before["loss"] == pytest.approx(1.0, abs=0.1) and held_out_loss(gan)["loss"] < 0.25
    asked = torch.arange(200) % 2
    with torch.no_grad():
        fakes = gan.generator.eval()(torch.randn(200, 64, generator=torch.Generator().manual_seed(3)), asked)
    corner_gap = fakes[:, 0, :4, :4].mean((1, 2)) - fakes[:, 0, 4:, 4:].mean((1, 2))
    assert ((corner_gap > 0) == (asked == 0)).float().mean() > 0.9


def steps_of(name, out, steps, resume=False, precision="fp32"):
    torch.manual_seed(123)  # model initialisation
    images, labels = blobs(128)
    config = TrainConfig(epochs=300, max_steps=steps, batch_size=16, ema_decay=0.9, sample_every=15,
                         checkpoint_every=5000, seed=4, precision=precision)
    train(create_gan(name, 1, 8, num_classes=2, config=TINY[name]), images, labels, out, config, resume=resume,
          progress=False)
    return load_checkpoint(out / "checkpoints" / "last.pt")


@pytest.mark.parametrize("name, precision", [("cvae", "fp32"), ("cddpm", "fp32"), ("cddpm", "bf16")])
def test_resume_is_bit_identical(tmp_path, name, precision):
    """40 steps straight equal 20 + resume + 20, with the family's noise, the data order and the EMA in play."""
    straight = steps_of(name, tmp_path / "straight", 40, precision=precision)
    steps_of(name, tmp_path / "split", 20, precision=precision)
    resumed = steps_of(name, tmp_path / "split", 40, resume=True, precision=precision)
    assert resumed["step"] == straight["step"] == 40 and straight["discriminator"] is None
    for part in ("generator", "ema"):
        for key, value in straight[part].items():
            assert torch.equal(value, resumed[part][key]), (part, key)
    assert torch.equal(straight["noise_rng"], resumed["noise_rng"])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "straight" / "losses.csv"),
                                  pd.read_csv(tmp_path / "split" / "losses.csv"))


def test_bf16_mixed_precision_trains_ddpm_in_bf16_with_fp32_weights_and_resumes_only_in_bf16(tmp_path):
    """Under --precision bf16 the U-Net's convolutions compute in bfloat16 while weights, EMA and the loss stay
    float32; the noise-prediction error of unseen blobs still falls from 1 below 0.25, as in fp32 (the test above);
    the losses differ from fp32's at every step after the first two, whose zero-initialised output layer predicts
    no noise in either arithmetic (so the arithmetic did change), by under 0.1; and a resume
    in fp32 is refused, since the two do not continue each other bit for bit."""
    torch.manual_seed(0)
    images, labels = blobs(256)
    gan = create_gan("cddpm", 1, 8, num_classes=2, config=TINY["cddpm"])
    computed = set()
    gan.generator.unet.conv_in.register_forward_hook(lambda module, inputs, output: computed.add(output.dtype))
    config = TrainConfig(epochs=30, batch_size=32, lr_g=1e-3, sample_every=10**6, seed=0, precision="bf16")
    train(gan, images, labels, tmp_path / "bf16", config, progress=False)
    assert torch.bfloat16 in computed and all(p.dtype == torch.float32 for p in gan.generator.parameters())
    assert held_out_loss(gan)["loss"] < 0.25
    losses = pd.read_csv(tmp_path / "bf16" / "losses.csv")["loss"]
    torch.manual_seed(0)
    train(create_gan("cddpm", 1, 8, num_classes=2, config=TINY["cddpm"]), images, labels, tmp_path / "fp32",
          replace(config, precision="fp32", max_steps=20), progress=False)
    fp32_losses = pd.read_csv(tmp_path / "fp32" / "losses.csv")["loss"]
    assert (losses[2:20] != fp32_losses[2:]).all() and (losses[:20] - fp32_losses).abs().max() < 0.1
    with pytest.raises(DeepbenchError, match="other precision"):
        train(create_gan("cddpm", 1, 8, num_classes=2, config=TINY["cddpm"]), images, labels, tmp_path / "bf16",
              replace(config, precision="fp32", epochs=31), resume=True, progress=False)


def test_ddim_over_every_step_draws_what_ancestral_sampling_draws():
    """With the exact noise predictor of Gaussian data (per pixel N(mu, 0.2^2): E[eps | x_t] is
    sqrt(1 - a) (x_t - sqrt(a) mu) / (a 0.2^2 + 1 - a) at signal share a), both samplers must return that
    distribution. 4,000 samples: a pixel's mean has a standard error of 0.2 / sqrt(4000) = 0.0032, so 0.016
    (5 standard errors) bounds the error of either mean image and 0.023 (5 of their difference's) the gap between
    them; the pixels' standard deviation must come out at 0.2 within 0.01 (its own standard error is 0.0022).
    A sampler with a wrong coefficient misses these by far more."""
    alpha_bar = cosine_alpha_bar()
    mu, spread = torch.linspace(-0.5, 0.5, 16).view(1, 1, 4, 4), 0.2

    def exact(x, t, labels):
        signal = alpha_bar[t][:, None, None, None]
        return (1 - signal).sqrt() * (x - signal.sqrt() * mu) / (signal * spread**2 + 1 - signal)

    noise = torch.randn(4000, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    ddim = ddim_sample(exact, noise, None, alpha_bar, len(alpha_bar))
    ancestral = ancestral_sample(exact, noise, None, alpha_bar, torch.Generator().manual_seed(1))
    for samples in (ddim, ancestral):
        assert (samples.mean(0) - mu).abs().max() < 0.016
        assert samples.std(0).mean().item() == pytest.approx(spread, abs=0.01)
    assert (ddim.mean(0) - ancestral.mean(0)).abs().max() < 0.023
    fifty = ddim_sample(exact, noise, None, alpha_bar, 50)  # the default: the same mean, a little less spread
    assert (fifty.mean(0) - mu).abs().max() < 0.016 and fifty.std(0).mean().item() == pytest.approx(spread, abs=0.02)


def test_min_snr_weighs_each_images_noise_error_by_min_snr_gamma_over_snr():
    """At signal share a the SNR is a / (1 - a): 0.5 gives SNR 1 (weight 1 under gamma 5), 0.9 SNR 9 (5/9), 0.99
    SNR 99 (5/99). The loss is the mean over images of each one's squared error times its weight; without gamma,
    Ho et al.'s plain mean squared error of the same network."""
    signal = torch.tensor([0.5, 0.9, 0.99])
    assert min_snr_weight(signal, 5.0).tolist() == pytest.approx([1, 5 / 9, 5 / 99], rel=1e-5)
    torch.manual_seed(0)
    weighted = create_gan("ddpm", 1, 8, config=GANConfig(ngf=8, snr_gamma=5)).generator
    plain = create_gan("ddpm", 1, 8, config=GANConfig(ngf=8)).generator
    torch.nn.init.normal_(weighted.unet.out[-1].weight)  # a network that predicts something
    plain.load_state_dict(weighted.state_dict())
    real, epsilon = torch.rand(3, 1, 8, 8) * 2 - 1, torch.randn(3, 1, 8, 8)
    time = torch.stack([(weighted.alpha_bar - a).abs().argmin() for a in signal])
    with torch.no_grad():
        a = weighted.alpha_bar[time][:, None, None, None]
        errors = (weighted.unet(a.sqrt() * real + (1 - a).sqrt() * epsilon, time) - epsilon).square().mean((1, 2, 3))
        expected = (errors * min_snr_weight(weighted.alpha_bar[time], 5.0)).mean()
        assert weighted.training_loss(real, None, time, epsilon)["loss"].item() == pytest.approx(expected.item())
        assert plain.training_loss(real, None, time, epsilon)["loss"].item() == pytest.approx(errors.mean().item())
        assert expected < 0.9 * errors.mean()  # the weights bite: the two losses differ


@pytest.mark.parametrize(("name", "config", "train_options", "ignored"), [
    ("ddpm", GANConfig(nz=100), {}, "--nz"),
    ("vae", GANConfig(spectral_norm=True), {}, "--spectral-norm"),
    ("dcgan", GANConfig(sampling_steps=20), {}, "--sampling-steps"),
    ("vae", GANConfig(snr_gamma=5), {}, "--snr-gamma"),
    ("vae", GANConfig(), {"label_smoothing": 0.1}, "--label-smoothing"),
])
def test_an_option_the_family_has_no_use_for_is_named_in_a_warning_and_not_recorded(tmp_path, caplog, name, config,
                                                                                    train_options, ignored):
    """One generate call passes its options to every family it trains, so another family's option is no error;
    but the user hears which family ignores it, and the checkpoint records only what was used."""
    images, labels = blobs(64)
    train(create_gan(name, 1, 8, config=config), images, labels, tmp_path,
          TrainConfig(max_steps=1, batch_size=16, **train_options), progress=False)
    assert f"{name} has no use for {ignored}; ignored for it" in caplog.text
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    recorded = {**state["gan"]["config"], **state["train"]}
    option = ignored[2:].replace("-", "_")
    assert recorded.get(option) in (None, False, 0.0, 64)  # 64: ddpm's noise is the 8x8 image


def test_a_family_default_yields_to_the_users_value_and_the_checkpoint_records_what_was_used(tmp_path):
    """ddpm's defaults follow the channels: width 16 at 1e-3 and 100 DDIM steps on gray images (what trained and
    sampled best on MNIST in a CPU budget), width 32 at Ho et al.'s 2e-4 and 50 steps on colour ones; an option
    the user gives wins over either."""
    gray, labels = blobs(64)
    runs = {"gray": (gray, GANConfig(), {}), "colour": (gray.repeat(1, 3, 1, 1), GANConfig(), {}),
            "given": (gray, GANConfig(ngf=8), {"lr_g": 3e-4, "beta1": 0.5, "ema_decay": 0.0})}
    for run, (images, config, options) in runs.items():
        train(create_gan("ddpm", images.shape[1], 8, config=config), images, labels, tmp_path / run,
              TrainConfig(max_steps=1, batch_size=16, **options), progress=False)
    state = {run: load_checkpoint(tmp_path / run / "checkpoints" / "last.pt") for run in runs}
    used = {run: (s["gan"]["config"]["ngf"], s["train"]["lr_g"], s["train"]["beta1"], s["train"]["ema_decay"])
            for run, s in state.items()}
    assert used == {"gray": (16, 1e-3, 0.9, 0.999), "colour": (32, 2e-4, 0.9, 0.999), "given": (8, 3e-4, 0.5, 0.0)}
    assert state["given"]["ema"] is None
    assert state["gray"]["gan"]["config"]["nz"] == 64
    assert {run: s["gan"]["config"]["sampling_steps"] for run, s in state.items()} == {"gray": 100, "colour": 50,
                                                                                      "given": 100}


@pytest.mark.parametrize("config", [GANConfig(ngf=7), GANConfig(sampling_steps=1001)])
def test_a_ddpm_it_cannot_build_is_refused_in_one_line_naming_the_option(config):
    with pytest.raises(DeepbenchError, match="even --ngf .* at most 1000 --sampling-steps"):
        create_gan("ddpm", 1, 8, config=config)


@torch.no_grad()
def test_ddpm_samples_a_large_batch_in_chunks_that_give_the_whole_batchs_images(monkeypatch):
    """On a CPU the U-Net sees at most SAMPLING_CHUNK fakes a call (a 500-fake call ran at half the rate), and the
    fakes are those of one call on the whole batch, labels kept with their noise. Per-sample convolutions do not
    depend on the batch, so the two agree to float32 rounding: 1e-5 is far below uint8's step of 2/255."""
    from generators import ddpm

    monkeypatch.setattr(ddpm, "SAMPLING_CHUNK", 4)
    gan = create_gan("cddpm", 1, 8, num_classes=3, config=TINY["cddpm"])
    network = gan.generator.eval()
    sizes = []
    network.unet.register_forward_pre_hook(lambda module, inputs: sizes.append(len(inputs[0])))
    z, labels = torch.randn(10, gan.config.nz), torch.arange(10) % 3
    chunked = network(z, labels)
    assert set(sizes) == {4, 2}
    whole = ddim_sample(network.unet, z.view(10, 1, 8, 8), labels, network.alpha_bar, network.sampling_steps)
    assert chunked.shape == whole.shape and (chunked - whole).abs().max() < 1e-5
