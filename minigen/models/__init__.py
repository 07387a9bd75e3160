"""minigen.models: one folder per family, one base class per family, one file per paper.

    base.py            GenerativeModel: the protocol (loss, train_step, eval_step, sample,
                       log_prob or a named bound, report, figures)
    registry.py        register, TrainConfig, Preset, resolve, build_model
    autoregressive/    AutoregressiveModel -> PixelCNN
    latent/            LatentVariableModel -> VAE
    flows/             FlowModel -> RealNVP (the bijections are in minigen/nn/flows.py)
    classical/         ClassicalModel -> the independent-pixel baseline
    adversarial/       AdversarialModel (two optimisers, n_critic): the GANs' base
    energy/            EnergyModel (loss = E(data) - E(chain samples)): the RBMs' and EBMs' base
    diffusion/         DiffusionModel (always an EMA; evaluates and samples with it)
    classifier.py      mlp: a digit classifier (not generative), for the metrics

A new model is its model file (``@register("name")`` from ``registry``), one import line
below, one row of the model table (``tests/minigen/models/model_table.py``) and one example.
"""
from .base import GenerativeModel, as_generator, bits_per_dim
from .registry import (Preset, TrainConfig, build_model, get_model, get_preset, list_models, register,
                       resolve)

__all__ = ["GenerativeModel", "Preset", "TrainConfig", "register", "get_model", "list_models",
           "build_model", "get_preset", "resolve", "as_generator", "bits_per_dim"]

# -- registered models: one import line each ---------------------------------------------
from . import classifier  # noqa: E402,F401  (mlp)
from .classical import independent  # noqa: E402,F401  (independent)
from .autoregressive import pixelcnn  # noqa: E402,F401  (pixelcnn)
from .latent import vae  # noqa: E402,F401  (vae)
from .flows import realnvp  # noqa: E402,F401  (realnvp)
from .autoregressive import fvsbn, made, nade  # noqa: E402,F401  (fvsbn, nade, made)
from .adversarial import dcgan, gan, wgan_gp  # noqa: E402,F401  (gan, dcgan, wgan-gp)
from .latent import autoencoder, denoising, sparse, vqvae  # noqa: E402,F401  (*autoencoder, vq-vae)
from .energy import dbm, ebm, rbm  # noqa: E402,F401  (dbm, ebm, rbm)
from .classical import gmm, kde  # noqa: E402,F401  (gmm, kde)
from .autoregressive import gated_pixelcnn, pixelrnn  # noqa: E402,F401  (gated-pixelcnn, row-lstm, diagonal-bilstm)
# -- wavenet --
from .autoregressive import wavenet  # noqa: E402,F401  (wavenet)
# -- gan variants --
from .adversarial import cgan, cyclegan, vae_gan, wgan  # noqa: E402,F401  (cgan, wgan, cyclegan, vae-gan)
# -- flows --
from .flows import glow, iaf, maf, nice, planar  # noqa: E402,F401  (nice, maf, iaf, glow, planar)
# -- spline flows and lattice --
from .flows import spline_flow  # noqa: E402,F401  (spline-flow)
from .flows import phi4  # noqa: E402,F401  (phi4)
# -- diffusion --
from .diffusion import ddpm, latent  # noqa: E402,F401  (ddpm, latent-diffusion)
# -- energy --
# -- autoencoders --
from .latent import gsn, seq2seq, stacked, vqvae_prior  # noqa: E402,F401  (gsn, *-autoencoder, vq-vae-prior)
