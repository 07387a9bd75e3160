"""``ClassicalModel``: estimators fitted by counting or closed-form updates, not by gradients.

Histograms, kernel density estimates, mixtures fitted by EM, and count-based baselines
follow the same protocol as the deep models so that the run layer trains, evaluates and
reports them the same way: ``train_step(batch)`` accumulates the batch's sufficient
statistics (or takes one EM step), ``eval_step``, ``log_prob`` and ``sample`` read the
fitted quantities. Their state lives in buffers, so checkpoints and exact resume work
unchanged. They have no optimiser; ``fit(split)`` is the one-call version for a student.
"""
from autograd import no_grad

from ..base import GenerativeModel

__all__ = ["ClassicalModel"]


class ClassicalModel(GenerativeModel):
    """Base of the classical family (see the module docstring)."""

    best_metric = ("val/nll", "min")

    def configure_optimizers(self, config, total_steps):
        """No optimiser: the model is fitted by its statistics (``train_step``)."""
        self.optimizers, self.schedules, self.ema = {}, {}, None
        return self.optimizers

    def train_step(self, batch):
        """Accumulate the statistics of ``batch``; returns its NLL under the updated fit."""
        raise NotImplementedError(f"{self.title} must define train_step(batch)")

    def eval_step(self, batch):
        """NLL (nats per example) and bits/dim of a batch."""
        with no_grad():
            return self.nats_metrics(-self.log_prob(self.split_batch(batch)[0]))

    def fit(self, split, batch_size=256):
        """Fit on a whole ``Dataset`` in one call (one pass of ``train_step``); returns self."""
        for i in range(0, len(split), batch_size):
            self.train_step(split.x[i:i + batch_size])
        return self
