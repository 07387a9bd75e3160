"""DDPM (issue 13): the forward process, the posterior, the discretised decoder, the bound
against the exact likelihood of an enumerable model, the U-Net's gradients, and the samplers.

(The model-table contracts run on the ``ddpm`` row too: tests/minigen/models.)
"""
import numpy as np
import pytest

from autograd import Tensor, gradcheck, no_grad
from minigen.models import build_model
from minigen.models.diffusion import _bound, _sampling
from minigen.models.diffusion.schedules import NoiseSchedule
from minigen.nn.unet import UNet

F64 = np.float64
TINY = dict(T=20, base=8, num_res_blocks=1, groups=4, dropout=0.0)


def tiny(**changes):
    return build_model("ddpm", rng=0, **{**TINY, **changes})


def perturb(model, scale=0.3, seed=1):
    """Move the weights off their start (the U-Net's last convolutions start at zero: eps = 0)."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data = p.data + (scale * rng.standard_normal(p.shape)).astype(p.dtype)
    return model


# -- the forward process and its posterior -------------------------------------------------------
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_the_chain_of_single_steps_has_the_closed_form_moments(kind):
    """x_t simulated step by step with q(x_t | x_{t-1}) (eq. 2) has the moments of eq. 4."""
    s, rng, n = NoiseSchedule(50, kind), np.random.default_rng(0), 40_000
    x0 = np.array([-0.8, 0.3, 1.0])
    x = np.broadcast_to(x0, (n, 3)).copy()
    for t in range(1, s.T + 1):
        x = np.sqrt(1 - s.beta[t]) * x + np.sqrt(s.beta[t]) * rng.standard_normal(x.shape)
        if t in (1, 10, s.T):
            mean, var = s.q_mean_variance(x0[None], np.array([t]))
            np.testing.assert_array_less(np.abs(x.mean(0) - mean[0]), 4 * np.sqrt(var[0] / n))
            np.testing.assert_array_less(np.abs(x.var(0) - var[0]), 4 * var[0] * np.sqrt(2 / n))
            q = s.q_sample(np.broadcast_to(x0, (n, 3)), np.full(n, t), rng.standard_normal((n, 3)))
            np.testing.assert_array_less(np.abs(q.mean(0) - mean[0]), 4 * np.sqrt(var[0] / n))


def test_the_cosine_schedule_is_its_formula():
    s = NoiseSchedule(100, "cosine")
    f = np.cos((np.arange(101) / 100 + 0.008) / 1.008 * np.pi / 2) ** 2
    np.testing.assert_allclose(s.alpha_bar[1:90], (f / f[0])[1:90], rtol=1e-12)   # before beta's clip
    assert s.beta.max() <= 0.999 and s.alpha_bar[0] == 1


@pytest.mark.parametrize("t", [2, 7, 20])
def test_the_posterior_is_bayes_rule_on_a_grid(t):
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0), integrated numerically."""
    s = NoiseSchedule(20, "linear", beta_1=0.01, beta_T=0.3)
    x0, xt = 0.4, -0.7
    grid = np.linspace(-6, 6, 200_001)
    log_w = (-(xt - np.sqrt(s.alpha[t]) * grid) ** 2 / (2 * s.beta[t])
             - (grid - np.sqrt(s.alpha_bar[t - 1]) * x0) ** 2 / (2 * (1 - s.alpha_bar[t - 1])))
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    mean = (w * grid).sum()
    var = (w * (grid - mean) ** 2).sum()
    m, v, log_v = s.posterior(np.array([[x0]]), np.array([[xt]]), np.array([t]))
    np.testing.assert_allclose([m[0, 0], v[0, 0]], [mean, var], rtol=1e-6)
    np.testing.assert_allclose(log_v[0, 0], np.log(var), rtol=1e-6)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="schedule 'quadratic' is unknown"):
        NoiseSchedule(10, "quadratic")
    with pytest.raises(ValueError, match="variance='medium'"):
        tiny(variance="medium")
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 1, 8, 8\)"):
        tiny().to_signal(np.zeros((2, 1, 4, 4), np.int64))
    with pytest.raises(ValueError, match="DDIM needs 1 <= S <= T"):
        _sampling.ddim_times(10, 11)


# -- the discretised decoder and the bound -----------------------------------------------------------
@pytest.mark.parametrize("mean,log_var", [(-1.3, np.log(1e-4)), (0.02, np.log(0.01)), (0.7, np.log(2.0))])
def test_the_decoder_sums_to_one_over_the_17_levels(mean, log_var):
    levels = np.arange(17)
    exact = np.exp(_bound.discretized_gaussian_log_likelihood(levels, np.full(17, mean), log_var, 17))
    approx = np.exp(_bound.discretized_gaussian_log_likelihood(levels, Tensor(np.full(17, mean)),
                                                               Tensor(np.full(17, log_var)), 17).data)
    assert abs(exact.sum() - 1) < 1e-12 and abs(approx.sum() - 1) < 1e-9
    np.testing.assert_allclose(approx, exact, atol=5e-4)              # the tanh approximation of Phi


def _gauss_hermite(n):
    z, w = np.polynomial.hermite_e.hermegauss(n)                       # weight exp(-z^2 / 2)
    return z, w / w.sum()


def _mu(model, x, t):
    """mu_theta(x_t, t) of 1-pixel images x (M,) and its log variance, unclipped (as in the bound)."""
    x = x.reshape(-1, 1, 1, 1)
    tv = np.full(len(x), t)
    eps, log_var = model.network(x, tv)
    x0 = model.schedule.predict_x0(x, tv, eps.data)
    return model.schedule.posterior(x0, x, tv)[0].reshape(-1), log_var.data.reshape(-1)


@pytest.mark.parametrize("variance", ["small", "large"])
def test_the_bound_is_above_the_exact_nll_of_an_enumerable_model(variance):
    """T = 2 on one pixel of 17 levels: p(x_0) = E_{x_2} E_{x_1 | x_2} p(x_0 | x_1) by Gauss-Hermite
    quadrature sums to 1 over the levels, and the bound (its expectations by quadrature too) is >= -log p."""
    model = perturb(build_model("ddpm", rng=0, data_shape=(1, 1, 1), T=2, beta_1=0.05, beta_T=0.3, base=4,
                                mults=(1,), num_res_blocks=1, attention=(), groups=2, dropout=0.0,
                                variance=variance, dtype=F64))
    model.eval()
    z, w = _gauss_hermite(60)
    levels = np.arange(17)
    with no_grad():
        mu2, lv2 = _mu(model, z, 2)                                      # x_2 ~ N(0, 1) at the nodes
        x1 = (mu2[:, None] + np.exp(0.5 * lv2[:, None]) * z[None, :]).reshape(-1)   # (60 * 60,)
        mu1, lv1 = _mu(model, x1, 1)
        p_given_x1 = np.exp(_bound.discretized_gaussian_log_likelihood(
            levels[:, None], mu1[None, :], lv1[None, :], 17))             # (17, 3600)
        p = p_given_x1 @ np.outer(w, w).reshape(-1)                      # (17,)
        assert abs(p.sum() - 1) < 1e-8, p.sum()
        L_T = _bound.prior_kl(model.schedule, model.to_signal(levels.reshape(-1, 1, 1, 1)))
        x = np.repeat(levels, len(z)).reshape(-1, 1, 1, 1)                # every level at every node
        eps = np.tile(z, 17).reshape(x.shape)                             # x_t = q_sample(x_0, t, node)
        L_1, L_0 = (model.terms_at(x, np.full(len(x), t), eps).reshape(17, -1) @ w for t in (2, 1))
    bound = L_T + L_1 + L_0
    assert np.all(bound >= -np.log(p) - 1e-8), (bound, -np.log(p))


def test_the_stratified_estimator_is_unbiased_for_all_the_terms():
    """E over draws of the K-step estimate = E over draws of the sum of every term (T = 8);
    each image is repeated 200 times in the batch: 200 independent draws in one call."""
    model = perturb(tiny(data_shape=(1, 2, 2), T=8, beta_T=0.3, attention=(), mults=(1,), dtype=F64))
    model.eval()
    x = np.repeat(np.array([[[[0, 16], [8, 3]]], [[[12, 5], [1, 9]]]]), 200, axis=0)     # (400, 1, 2, 2)
    with no_grad():
        est, terms = model.nll_bound(x, 4, np.random.default_rng(0))
        full, _ = model.nll_bound(x, "all", np.random.default_rng(1))
    est, full = est.reshape(2, 200), full.reshape(2, 200)
    se = np.sqrt(est.var(1) / 200 + full.var(1) / 200)
    np.testing.assert_array_less(np.abs(est.mean(1) - full.mean(1)), 4 * se)
    assert np.all(terms["mc_var"] > 0) and np.all(terms["L_T"] > 0)


def test_the_unet_passes_a_float64_gradcheck():
    rng = np.random.default_rng(0)
    net = UNet(1, 4, (1, 2), 1, (2,), 4, groups=2, dropout=0.0, num_classes=3, rng=rng, dtype=F64)
    perturb(net)
    x = rng.standard_normal((2, 1, 4, 4))
    some = [net.conv_in.weight, net.time[0].weight, net.label.weight, net.middle[1].qkv.weight,
            net.down[0][0].conv1.weight, net.up[0][0].emb.weight, net.conv_out.weight]
    assert gradcheck(lambda x: net(x, np.array([3, 17]), np.array([0, 3])), [x], params=some,
                     mode="directional", n_directions=2)


def test_the_learned_variance_trains_its_interpolation():
    model = tiny(variance="learned")
    x = np.random.default_rng(0).integers(0, 17, (8, 1, 8, 8))
    loss, metrics = model.loss(x)
    loss.backward()
    g = model.unet.conv_out.weight.grad.data                              # (2C, ...): eps then v
    assert np.abs(g[1:]).sum() > 0 and np.isfinite(metrics["vlb_term"])


# -- samplers ---------------------------------------------------------------------------------
def test_ddim_with_eta_zero_is_deterministic():
    model = perturb(tiny(), 0.05)
    model.eval()
    x_T = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    a = _sampling.ddim(model, 3, np.random.default_rng(1), 5, eta=0.0, x_T=x_T)
    b = _sampling.ddim(model, 3, np.random.default_rng(2), 5, eta=0.0, x_T=x_T)
    c = _sampling.ddim(model, 3, np.random.default_rng(3), 5, eta=1.0, x_T=x_T)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("t", [2, 9, 20])
def test_ddim_with_all_steps_and_eta_one_is_the_ancestral_step(t):
    """S = T, eta = 1: the same mean and sigma^2 = beta~_t as DDPM's step (given the same noise z)."""
    model = perturb(tiny(num_classes=10), 0.05)
    model.eval()
    np.testing.assert_array_equal(_sampling.ddim_times(model.T, model.T), np.arange(1, model.T + 1))
    rng = np.random.default_rng(t)
    x, z, y = rng.standard_normal((4, 1, 8, 8)), rng.standard_normal((4, 1, 8, 8)), np.arange(4)
    for noise in (0 * z, z):
        ddim, _ = _sampling.ddim_step(model, x, t, t - 1, 1.0, noise, y=y, w=2.0)
        ddpm, _ = _sampling.ancestral_step(model, x, t, noise, y=y, w=2.0, variance="small")
        np.testing.assert_allclose(ddim, ddpm, atol=1e-10)


def test_guidance_mixes_the_conditional_and_the_unconditional_noise():
    model = perturb(tiny(num_classes=10), 0.05)
    model.eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    t, y = np.array([3, 9, 20]), np.array([1, 5, 9])
    cond, _ = _sampling.guided_eps(model, x, t, y, 0.0)
    none, _ = _sampling.guided_eps(model, x, t, None, 0.0)
    guided, _ = _sampling.guided_eps(model, x, t, y, 1.5)
    np.testing.assert_allclose(guided, 2.5 * cond - 1.5 * none, atol=1e-5)


def test_the_benchmark_twin_in_pytorch_is_the_same_unet():
    """minigen.bench.models_unet's PyTorch U-Net, given minigen's weights, computes the same eps."""
    torch = pytest.importorskip("torch")
    from minigen.bench.models_unet import _minigen_setup, _torch_model
    from minigen.nn.unet import timestep_embedding
    net, _ = _minigen_setup()
    twin = _torch_model(torch, timestep_embedding)
    mine, theirs = net.parameters(), list(twin.parameters())
    assert [p.shape for p in mine] == [tuple(p.shape) for p in theirs]
    perturb(net, 0.02)
    with torch.no_grad():
        for p, q in zip(mine, theirs):
            q.copy_(torch.from_numpy(np.asarray(p.data)))
    net.eval()
    twin.eval()
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((2, 1, 8, 8)).astype(np.float32), np.array([5, 900])
    with no_grad():
        ours = net(Tensor(x), t).data
    np.testing.assert_allclose(ours, twin(torch.from_numpy(x), torch.from_numpy(t)).detach().numpy(),
                               rtol=1e-3, atol=1e-4)


def test_latent_diffusion_loads_its_autoencoder_from_a_run_folder(tmp_path):
    from minigen.run import train
    vae_dir = str(tmp_path / "vae")
    train("vae", out=vae_dir, steps=2, progress=False, figures=False,
          model_kwargs=dict(latent_dim=4, hidden=(16,), test_samples=0))
    model = build_model("latent-diffusion", rng=0, autoencoder=vae_dir, latent_dim=4, T=20, hidden=16,
                        num_blocks=1)
    x, y = np.random.default_rng(0).integers(0, 17, (8, 1, 8, 8)), np.arange(8)
    model.configure_optimizers(__import__("minigen.models", fromlist=["TrainConfig"]).TrainConfig())
    assert np.isfinite(model.train_step((x, y))["loss"])
    assert model.autoencoder.parameters() and not {id(p) for p in model.autoencoder.parameters()} & \
        {id(p) for p in model.parameters()}                          # frozen: not among the trained ones
    with no_grad():
        s = model.sample(3, np.random.default_rng(1))
    assert s.shape == (3, 1, 8, 8) and s.dtype == np.int64 and 0 <= s.min() and s.max() <= 16
    with pytest.raises(ValueError, match="built for latent_dim=8"):
        build_model("latent-diffusion", rng=0, autoencoder=vae_dir, latent_dim=8).autoencoder
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        build_model("latent-diffusion", rng=0, autoencoder=str(tmp_path / "none")).autoencoder
