"""``LatentVariableModel``: models p(x) = int p(z) p(x|z) dz with an encoder q(z|x).

Their likelihood is intractable, so they report *bounds* (the family's contract, tested
for every model of the family, ``tests/minigen/models``):

* ``elbo(x, eps=None)`` -> (N,): the evidence lower bound
  L(x) = E_q[log p(x, z) - log q(z|x)] <= log p(x), with the noise ``eps`` optional;
* ``iwae_bound(x, k, eps=None)`` -> (N,): the importance-weighted bound
  L_k = E[log 1/k sum_i p(x, z_i) / q(z_i|x)], with L = L_1 <= L_k <= L_2k <= log p(x);
* ``posterior_mean(x)`` -> (N, J) codes and ``decode_mean(z)`` -> images in [0, 1]:
  the pictures every latent-variable model draws (reconstructions, interpolations,
  the latent scatter) are written here, once.
"""
import os

import numpy as np

from ..base import GenerativeModel

__all__ = ["LatentVariableModel"]


class LatentVariableModel(GenerativeModel):
    """Base of the latent-variable family (see the module docstring).

    Subclasses set ``self.data_shape``, ``self.latent_dim``, ``self.D`` and define
    ``elbo``, ``iwae_bound``, ``posterior_mean``, ``decode_mean`` and ``sample(n, rng,
    mean=False)``.
    """

    def posterior_mean(self, x):
        """The code of each example: the mean of q(z|x), an array (N, J)."""
        raise NotImplementedError(f"{self.title} must define posterior_mean(x)")

    def decode_mean(self, z):
        """The mean of p(x|z) in [0, 1] for codes z (N, J): images (N, *data_shape)."""
        raise NotImplementedError(f"{self.title} must define decode_mean(z)")

    def reconstruct(self, x):
        """Decoder means at the posterior means: images (N, *data_shape) in [0, 1]."""
        return self.decode_mean(self.posterior_mean(x))

    def interpolate(self, x_a, x_b, steps=8):
        """Decoder means along the straight line from mu(x_a) to mu(x_b).

        Returns:
            (N, steps, *data_shape) in [0, 1]: row i goes from x_a[i] to x_b[i].
        """
        z_a, z_b = self.posterior_mean(x_a), self.posterior_mean(x_b)         # (N, J) each
        t = np.linspace(0.0, 1.0, steps, dtype=z_a.dtype)[None, :, None]        # (1, steps, 1)
        z = (1 - t) * z_a[:, None] + t * z_b[:, None]                          # (N, steps, J)
        images = self.decode_mean(z.reshape(-1, self.latent_dim))              # (N*steps, C, H, W)
        return images.reshape((len(z_a), steps) + tuple(self.data_shape))

    def sample_unit(self):
        """What a raw level divides by to land in [0, 1] (for pictures of draws)."""
        return 1

    def figures(self, run_dir, rng, split=None):
        """samples.png (decoder means, then draws) and, with a test split, reconstructions.png,
        interpolation.png and latent_scatter.png (mu(x) coloured by label)."""
        from ... import plots
        join = lambda name: os.path.join(run_dir, name)  # noqa: E731
        grid = np.concatenate([self.sample(32, rng, mean=True), self.sample(32, rng) / self.sample_unit()])
        paths = [plots.image_grid(grid, join("samples.png"), nrow=16,
                                  title=f"{self.title} prior samples: decoder means (top), draws (bottom)")]
        if split is None:
            return paths
        x, y = split.x[:2000], None if split.y is None else split.y[:2000]
        paths.append(plots.reconstructions(x[:16], self.reconstruct(x[:16]), join("reconstructions.png"),
                                           title="Test examples and their reconstructions"))
        line = self.interpolate(x[16:24], x[24:32], steps=10)                  # (8, 10, C, H, W)
        paths.append(plots.image_grid(line.reshape((-1,) + tuple(self.data_shape)), join("interpolation.png"),
                                      nrow=10, title="Decoded codes between pairs of test examples"))
        paths.append(plots.latent_scatter(self.posterior_mean(x), y, join("latent_scatter.png"),
                                          title="mu(x) of test examples"))
        return paths
