"""The sparse autoencoder: a KL penalty keeps the mean activation of each code unit near rho.

An over-complete code (J >= D) can copy its input; a sparse autoencoder forbids that by
asking each code unit to be active rarely (A. Ng, "Sparse autoencoder", CS294A lecture
notes [1], §2.3; Goodfellow et al. [2] §14.2.1). With sigmoid code units h_j in (0, 1),
the mean activation of unit j over the m examples of a batch is::

    rho_hat_j = 1/m sum_i h_j(x_i)

and the loss adds a penalty ([1] §2.3, the equation of J_sparse), with Ng's weight decay
([1] §2.2) on the weights W of every layer (not the biases)::

    J_sparse = J_rec + lambda/2 sum_l ||W_l||^2 + beta sum_j KL(rho || rho_hat_j),
    KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))

the KL divergence between Bernoulli variables of means rho and rho_hat, which is 0 at
rho_hat = rho and grows without bound as rho_hat -> 0 or 1. The weight decay matters for
the pictures: the digits' border pixels are almost always 0, so nothing but the decay
moves their weights away from the random initial values.

What the units learn (``filters.png``, [1] §3): the input of unit norm that activates
hidden unit j most is ``x = W_j / ||W_j||``, the j-th row of the first layer's weights;
on digits these are pen strokes and blobs, localised parts of digits.

References:
    [1] A. Ng, "Sparse autoencoder", CS294A Lecture notes, Stanford, 2011.
        https://web.stanford.edu/class/cs294a/sparseAutoencoder_2011new.pdf
    [2] I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*, MIT Press 2016, §14.2.1.
"""
import math
import os

import numpy as np

from autograd import as_numpy, ops

from ..registry import Preset, TrainConfig, register
from .autoencoder import DIGITS_RECIPE, Autoencoder

__all__ = ["SparseAutoencoder"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, code_dim=64, hidden=(), reconstruction="mse",
               sparsity=0.05, beta=3.0, weight_decay=1e-3)


@register("sparse-autoencoder")
class SparseAutoencoder(Autoencoder):
    """Sparse autoencoder (Ng 2011): sigmoid code, KL(rho || rho_hat_j) penalty; its filters as a picture.

    Args:
        data_shape, num_levels, code_dim, hidden, architecture, activation, reconstruction:
            as ``Autoencoder`` (the code activation is always "sigmoid").
        sparsity: rho, the target mean activation of each code unit, in (0, 1).
        beta: the penalty's weight, >= 0.
        weight_decay: lambda >= 0, of the penalty lambda/2 sum ||W||^2 on the weights.
        rng: generator (or seed) of the initial weights.
        dtype: float dtype of the parameters.
    """

    presets = {
        "digits-reference": Preset(model=dict(_DIGITS), train=DIGITS_RECIPE,
                                   about="64 sigmoid units on 64 pixels, rho 0.05, beta 3, linear decoder"),
        "digits-tiny": Preset(model=dict(_DIGITS, code_dim=16),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
        "digits-overcomplete": Preset(model=dict(_DIGITS, code_dim=144), train=DIGITS_RECIPE,
                                      about="144 sigmoid units on 64 pixels, rho 0.05, beta 3"),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, code_dim=64, hidden=(), architecture="mlp",
                 activation="relu", reconstruction="mse", sparsity=0.05, beta=3.0, weight_decay=0.0, rng=None,
                 dtype=np.float32):
        if not 0 < sparsity < 1:
            raise ValueError(f"sparsity={sparsity!r} is not allowed: rho must be in (0, 1)")
        if not beta >= 0 or not weight_decay >= 0:
            raise ValueError(f"beta={beta!r}, weight_decay={weight_decay!r}: the penalties' weights must be >= 0")
        super().__init__(data_shape, num_levels, code_dim, hidden, architecture, activation, "sigmoid",
                         reconstruction, rng=rng, dtype=dtype)
        self.sparsity, self.beta, self.weight_decay = sparsity, beta, weight_decay

    def mean_activation(self, h):
        """rho_hat_j = 1/m sum_i h_j(x_i) over the batch: Tensor (J,)."""
        return h.mean(axis=0)

    def penalty(self, h):
        """beta sum_j KL(rho || rho_hat_j) ([1] §2.3) + lambda/2 sum ||W||^2 ([1] §2.2): a scalar Tensor."""
        rho, rho_hat = self.sparsity, self.mean_activation(h)                  # (J,)
        kl = rho * math.log(rho) - rho * ops.log(rho_hat) \
            + (1 - rho) * math.log(1 - rho) - (1 - rho) * ops.log(1 - rho_hat)
        penalty = self.beta * kl.sum()
        if self.weight_decay:
            weights = [p for name, p in self.named_parameters() if name.endswith("weight")]
            penalty = penalty + 0.5 * self.weight_decay * sum((W * W).sum() for W in weights)
        return penalty

    def filters(self):
        """x_j = W_j / ||W_j||, the unit-norm input that activates unit j of the first layer most
        ([1] §3): array (units, *data_shape) for an MLP encoder."""
        layer = self.encoder.layers[0] if len(getattr(self.encoder, "layers", ())) else self.encoder.head
        W = as_numpy(layer.weight.data).astype(np.float64)                      # (units, D)
        W = W / np.linalg.norm(W, axis=1, keepdims=True)
        return W.reshape((len(W),) + self.data_shape)

    def figures(self, run_dir, rng, split=None):
        """The autoencoder's pictures and filters.png (an MLP encoder's first-layer filters)."""
        from ... import plots
        paths = super().figures(run_dir, rng, split)
        if hasattr(self.encoder, "head") and len(self.data_shape) == 3:
            w = self.filters()
            lim = np.abs(w).max()
            paths.append(plots.image_grid(w, os.path.join(run_dir, "filters.png"),
                                          nrow=math.ceil(math.sqrt(len(w))), value_range=(-lim, lim),
                                          title=f"{self.title}: W_j / ||W_j||, one per code unit"))
        return paths
