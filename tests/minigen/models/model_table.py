"""The model table: one row per registered model, the op table's twin for models.

Each row gives a tiny configuration (seconds on a CPU) and tags; ``test_contracts.py``
runs the contracts of every tag on every row that carries it, and fails when a
registered model has no row. Tags:

    gradient        trained by gradients of ``loss``: float64 gradcheck, learning by Adam
    sampler         ``sample(n, rng)`` gives examples of the data's shape
    autoregressive  the Jacobian of the conditionals matches ``dependency_mask()``
    flow            x -> z -> x round trip and log-det against a numerical log|det J|
    exact           ``log_prob`` sums to 1 by enumeration on a tiny instance (``exact``)
    bound           ELBO <= IWAE_k <= IWAE_2k on average

A new model adds one row here.
"""
from dataclasses import dataclass, field

__all__ = ["Row", "ROWS", "row_ids"]


@dataclass
class Row:
    """One registered model in the contract tests.

    Attributes:
        name: the registered name.
        tiny: constructor arguments of a tiny instance (digits-sized data).
        tags: the contracts that apply (module docstring).
        exact: constructor arguments of an instance small enough to enumerate.
        flow: constructor arguments of a small continuous-data flow for the log-det test.
        lr, steps: the learning test's Adam step size and number of steps.
        batch: examples per step in the tests.
    """
    name: str
    tiny: dict
    tags: set = field(default_factory=set)
    exact: dict = None
    flow: dict = None
    lr: float = 1e-2
    steps: int = 40
    batch: int = 32


ROWS = [
    Row("pixelcnn", dict(hidden=8, num_blocks=1, head=8, first_kernel=5),
        tags={"gradient", "sampler", "autoregressive", "exact"},
        exact=dict(data_shape=(1, 2, 2), num_levels=3, hidden=4, num_blocks=1, head=4, first_kernel=3)),
    Row("vae", dict(latent_dim=4, hidden=(32,), test_samples=4), tags={"gradient", "sampler", "bound"},
        lr=3e-3),
    Row("realnvp", dict(couplings=1, final_couplings=1, hidden=8, test_draws=1),
        tags={"gradient", "sampler", "flow"}, lr=3e-3,
        flow=dict(data_shape=(1, 4, 4), num_levels=None, couplings=1, final_couplings=1, hidden=4)),
    Row("independent", dict(), tags={"sampler", "exact"}, steps=5,
        exact=dict(data_shape=(1, 1, 3), num_levels=3)),
    Row("fvsbn", dict(), tags={"gradient", "sampler", "autoregressive", "exact"},
        exact=dict(data_shape=(1, 2, 2), num_levels=3)),
    Row("nade", dict(hidden=16), tags={"gradient", "sampler", "autoregressive", "exact"},
        exact=dict(data_shape=(1, 2, 2), num_levels=3, hidden=4)),
    Row("made", dict(hidden=(512, 512), num_masks=2, ordering="random"),  # wide: no path dead at the probes
        tags={"gradient", "sampler", "autoregressive", "exact"}, lr=3e-3,
        exact=dict(data_shape=(1, 2, 2), num_levels=3, hidden=(8, 8), num_masks=2, ordering="random")),
    Row("kde", dict(bandwidth=0.15), tags={"sampler"}, steps=4),
    Row("gmm", dict(components=2, covariance="diag", floor=1e-3), tags={"sampler"}, steps=3, batch=256),
    Row("rbm", dict(num_hidden=16, num_chains=32, sample_steps=50), tags={"gradient", "sampler", "exact"},
        exact=dict(data_shape=(1, 2, 2), num_hidden=3, init_std=0.5), lr=0.1),
    Row("ebm", dict(hidden=4, sgld_steps=5, buffer_size=64), tags={"gradient", "sampler"}, lr=1e-3, steps=20),
    Row("autoencoder", dict(code_dim=4, hidden=(32,)), tags={"gradient", "sampler"}, lr=3e-3),
    Row("sparse-autoencoder", dict(code_dim=16), tags={"gradient", "sampler"}, lr=3e-3),
    Row("denoising-autoencoder", dict(code_dim=32, max_walkback=3, sample_steps=3),
        tags={"gradient", "sampler"}, lr=3e-3),
    # no "gradient": the straight-through estimator is not the loss's derivative (tests/minigen/test_vqvae.py)
    Row("vq-vae", dict(num_embeddings=8, embedding_dim=4, hidden=16), tags={"sampler"}, lr=3e-3),
    Row("gated-pixelcnn", dict(hidden=8, num_layers=1, head=8, first_kernel=3),
        tags={"gradient", "sampler", "autoregressive", "exact"},
        exact=dict(data_shape=(1, 2, 2), num_levels=3, hidden=4, num_layers=1, head=4, first_kernel=3)),
    Row("row-lstm", dict(hidden=8, num_layers=1, head=8, first_kernel=5),
        tags={"gradient", "sampler", "autoregressive", "exact"},
        exact=dict(data_shape=(1, 2, 2), num_levels=3, hidden=4, num_layers=1, head=4, first_kernel=3)),
    Row("diagonal-bilstm", dict(hidden=8, num_layers=1, head=8, first_kernel=5),
        tags={"gradient", "sampler", "autoregressive", "exact"},
        exact=dict(data_shape=(1, 2, 2), num_levels=3, hidden=4, num_layers=1, head=4, first_kernel=3)),
    Row("dbm", dict(hidden=(12, 6), pretrain_steps=0, num_chains=32, sample_steps=50), tags={"gradient", "sampler"},
        lr=1e-2),
    Row("gan", dict(latent_dim=4, hidden=(32,)), tags={"gradient", "sampler"}, lr=3e-3),
    Row("dcgan", dict(latent_dim=4, channels=4), tags={"gradient", "sampler"}, lr=3e-3),
    Row("wgan-gp", dict(latent_dim=4, channels=4, n_critic=2), tags={"gradient", "sampler"}, lr=1e-2),
    Row("mlp", dict(hidden=32, augment=False), tags={"gradient"}, lr=3e-3),
    # -- wavenet rows --
    Row("wavenet", dict(residual=8, gate_channels=8, skip=8, head=8),
        tags={"gradient", "sampler", "autoregressive", "exact"},
        exact=dict(data_shape=(1, 4), num_levels=3, residual=4, gate_channels=4, skip=4, head=4,
                   dilations=(1,))),
    # -- gan-variant rows --
    Row("cgan", dict(latent_dim=4, channels=4), tags={"gradient", "sampler"}, lr=3e-3),
    Row("wgan", dict(latent_dim=4, channels=4, n_critic=2, clip=1.0),   # c = 0.01 puts the critic's units
        tags={"gradient", "sampler"}, lr=1e-2),                         # at LeakyReLU's kink: no gradcheck
    Row("cyclegan", dict(channels=4, n_res=1), tags={"gradient"}, lr=3e-3),   # translates: no p(z) to sample
    Row("vae-gan", dict(latent_dim=4, channels=4), tags={"gradient", "sampler"}, lr=3e-3),
    # -- flow rows --
    Row("nice", dict(hidden=16, test_draws=1), tags={"gradient", "sampler", "flow"}, lr=3e-3,
        flow=dict(data_shape=(4,), num_levels=None, hidden=4)),
    Row("maf", dict(layers=2, hidden=(32,), test_draws=1), tags={"gradient", "sampler", "flow"}, lr=3e-3,
        flow=dict(data_shape=(4,), num_levels=None, layers=2, hidden=(8,))),
    Row("iaf", dict(data_shape=(1, 8, 8), num_levels=17, layers=1, hidden=(16,)),   # density: 64 passes
        tags={"gradient", "sampler", "flow"}, lr=3e-3, flow=dict(data_shape=(4,), layers=2, hidden=(8,))),
    Row("glow", dict(steps=1, hidden=8, test_draws=1), tags={"gradient", "sampler", "flow"}, lr=3e-3,
        flow=dict(data_shape=(1, 4, 4), num_levels=None, levels=2, steps=1, hidden=4)),
    Row("planar", dict(data_shape=(1, 8, 8), num_levels=17, flows=4), tags={"gradient", "sampler", "flow"},
        lr=3e-3, flow=dict(data_shape=(3,), flows=3)),
    # -- spline and lattice rows --
    Row("spline-flow", dict(couplings=2, bins=4, hidden=16, test_draws=1), tags={"gradient", "sampler", "flow"},
        lr=3e-3, flow=dict(data_shape=(4,), num_levels=None, couplings=2, bins=3, bound=2.0, hidden=4)),
    Row("phi4", dict(L=8, couplings=2, hidden=4, proposals=64, hmc_chains=2),   # (1, 8, 8): the digits' shape
        tags={"gradient", "sampler", "flow"}, lr=1e-2, flow=dict(L=4, couplings=2, hidden=2)),
    # -- diffusion rows --
    Row("ddpm", dict(T=20, base=8, num_res_blocks=1, groups=4, dropout=0.0, eval_timesteps=2,
                     test_timesteps=2, figure_samples=4, ddim_steps=(2, 5), fid_samples=8),
        tags={"gradient", "sampler"}, lr=1e-2),
    Row("latent-diffusion", dict(latent_dim=4, T=20, hidden=16, num_blocks=1, figure_samples=1),
        tags={"gradient", "sampler"}, lr=1e-2),
    # -- energy rows --
    # -- autoencoder rows --
    # no "gradient": the straight-through estimator is not the loss's derivative (as vq-vae)
    Row("vq-vae-prior", dict(num_embeddings=8, embedding_dim=4, hidden=16, prior_hidden=8, prior_blocks=1,
                             prior_head=8, prior_kernel=3, vqvae_steps=20), tags={"sampler"}, lr=3e-3),
    Row("stacked-autoencoder", dict(hidden=(32,), code_dim=8, pretrain_steps=5), tags={"gradient", "sampler"},
        lr=3e-3),
    Row("gsn", dict(code_dim=32, walkback_steps=2, sample_steps=3), tags={"gradient", "sampler"}, lr=3e-3),
    Row("seq2seq-autoencoder", dict(code_dim=4, hidden=16), tags={"gradient", "sampler"}, lr=3e-3),
]


def row_ids(rows):
    return [r.name for r in rows]
