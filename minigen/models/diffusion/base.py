"""``DiffusionModel``: denoising diffusion models evaluate and sample with averaged weights.

A diffusion model (Ho et al. 2020) learns to reverse a fixed noising process step by step;
its loss is an ordinary expectation, so the default ``train_step`` trains it. What the
family shares is the exponential moving average of the weights (Ho et al. 2020, §4:
decay 0.9999; 0.999 for small runs): it is always kept (the loop updates it after every
step), and evaluation and sampling use the averaged weights, which give markedly better
samples and bounds than the raw ones. A run's ``TrainConfig.ema_decay`` overrides the
model's ``ema_decay``.
"""
from ...schedules import EMA
from ..base import GenerativeModel

__all__ = ["DiffusionModel"]


class DiffusionModel(GenerativeModel):
    """Base of the diffusion family (see the module docstring).

    Subclasses define ``loss``, ``eval_figures(batch)`` (the evaluation metrics, computed
    here with the averaged weights) and ``sample_raw(n, rng)``.
    """

    ema_decay = 0.999
    best_metric = ("val/loss", "min")

    def configure_optimizers(self, config, total_steps=None):
        """The default optimiser, and always an EMA of the weights."""
        super().configure_optimizers(config, total_steps)
        self.ema = EMA(self, decay=config.ema_decay or self.ema_decay, warmup=True)
        return self.optimizers

    def averaged(self):
        """A context in which the parameters are the EMA's (nothing changes without an EMA)."""
        import contextlib
        return self.ema.averaged() if self.ema is not None else contextlib.nullcontext()

    def eval_figures(self, batch):
        raise NotImplementedError(f"{self.title} must define eval_figures(batch)")

    def sample_raw(self, n, rng):
        raise NotImplementedError(f"{self.title} must define sample_raw(n, rng)")

    def eval_step(self, batch):
        """``eval_figures`` with the averaged weights."""
        with self.averaged():
            return self.eval_figures(batch)

    def sample(self, n, rng):
        """``sample_raw`` with the averaged weights."""
        with self.averaged():
            return self.sample_raw(n, rng)
