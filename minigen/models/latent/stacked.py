"""The stacked autoencoder: greedy layer-wise pretraining, then fine-tuning of the whole stack.

Bengio et al. [1] (and Hinton & Salakhutdinov 2006 with RBMs) trained deep networks
one layer at a time: layer l is the encoder of a *shallow* autoencoder whose input is
the code of the layers below, kept fixed ([1] §2, Algorithm "greedy layer-wise
training"). Vincent et al. [2] make each shallow autoencoder a *denoising* one (§3.5,
Fig. 3: "stacked denoising autoencoders"): its input is corrupted, its target is not::

    h_0 = x
    stage l = 1..S:   h~_{l-1} ~ C(h~ | h_{l-1})  (masking: each unit zeroed with probability nu)
                      loss_l = || d_l(e_l(h~_{l-1})) - h_{l-1} ||^2,   h_{l-1} = e_{l-1}(...e_1(x)) fixed
    fine-tuning:      loss = || d_1(...d_S(e_S(...e_1(x)))) - x ||^2   all layers, no corruption

Here e_1..e_S are the layers of the ``Autoencoder``'s MLP encoder (``hidden`` then the
code layer: S = len(hidden) + 1), and d_l the mirrored decoder layer that maps layer l's
output back to layer l-1's (the decoder's output layer for l = 1). Each stage runs
``pretrain_steps`` optimiser steps, then fine-tuning runs until early stopping; the step
counter is a buffer, so a resumed run is in the same stage. The decoder layers keep
their pretrained weights as the fine-tuning's starting point.

What pretraining is for ([1] §3, [2] §6-7): a better *initialisation* for a supervised
network when labels are few. ``classifier_from_encoder`` builds an MLP classifier whose
hidden layers are the trained encoder's (``pretrained=False``: the same architecture at
PyTorch's default initialisation), and ``few_label_accuracy`` fine-tunes either on n
labelled digits and reports the test accuracy (examples/20_autoencoder_uses.py: 50
and 100 labels).

The figures are the autoencoder's (``loss``/``mse``: squared error per image of the full
stack); during pretraining ``val/loss`` measures the stack as it stands.

References:
    [1] Y. Bengio, P. Lamblin, D. Popovici and H. Larochelle, "Greedy layer-wise training of deep
        networks", NeurIPS 2007.
    [2] P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio and P.-A. Manzagol, "Stacked denoising
        autoencoders: learning useful representations in a deep network with a local denoising
        criterion", JMLR 11, 2010.
"""
import copy

import numpy as np

from autograd import Tensor, as_numpy, device_of, no_grad, to_device

from ...nn import losses
from ...nn.layers import Linear
from ...nn.module import Module
from ..registry import Preset, TrainConfig, register
from ._ae_nets import activate
from .autoencoder import DIGITS_RECIPE, Autoencoder

__all__ = ["StackedAutoencoder", "EncoderClassifier", "classifier_from_encoder", "few_label_accuracy"]

_DIGITS = dict(data_shape=(1, 8, 8), num_levels=17, code_dim=32, hidden=(256, 128), activation="relu",
               noise=0.2, pretrain_steps=96)


@register("stacked-autoencoder")
class StackedAutoencoder(Autoencoder):
    """Stacked (denoising) autoencoder (Bengio et al. 2007; Vincent et al. 2010): layer-wise, then fine-tuned.

    Args:
        data_shape, num_levels, code_dim, hidden, activation, code_activation: as ``Autoencoder``
            (an MLP with the squared error).
        noise: nu, the masking probability of each stage's input in pretraining (0: plain AEs).
        pretrain_steps: optimiser steps of each of the len(hidden) + 1 stages (0: no pretraining).
        rng: generator (or seed) of the initial weights and the training noise.
        dtype: float dtype of the parameters.
    """

    presets = {
        "digits-reference": Preset(model=dict(_DIGITS), train=DIGITS_RECIPE,
                                   about="64-256-128-32 ReLU, 3 stages of 96 steps (masking 0.2), then "
                                         "fine-tuning"),
        "digits-scratch": Preset(model=dict(_DIGITS, pretrain_steps=0), train=DIGITS_RECIPE,
                                 about="the reference architecture trained end to end from the start"),
        "digits-tiny": Preset(model=dict(_DIGITS, hidden=(32,), code_dim=8, pretrain_steps=10),
                              train=TrainConfig(data="digits", epochs=3, batch_size=64, lr=3e-3, seed=0)),
    }

    def __init__(self, data_shape=(1, 8, 8), num_levels=17, code_dim=32, hidden=(256, 128), activation="relu",
                 code_activation="linear", noise=0.2, pretrain_steps=96, rng=None, dtype=np.float32):
        if not 0 <= noise < 1:
            raise ValueError(f"noise={noise!r} is not allowed: a masking probability in [0, 1)")
        if not isinstance(pretrain_steps, int) or pretrain_steps < 0:
            raise ValueError(f"pretrain_steps={pretrain_steps!r} is not allowed: an integer >= 0")
        super().__init__(data_shape, num_levels, code_dim, hidden, "mlp", activation, code_activation, "mse",
                         rng=rng, dtype=dtype)
        self.noise, self.pretrain_steps = noise, pretrain_steps
        self.num_stages = len(hidden) + 1
        self.register_buffer("step_count", np.zeros((), np.int64))

    # -- the stack's layers ---------------------------------------------------------------------
    def encoder_layers(self):
        """e_1..e_S with their activations: ``[(Linear, activation)]``."""
        enc = self.encoder
        return [(layer, enc.activation) for layer in enc.layers] + [(enc.head, enc.code_activation)]

    def decoder_layers(self):
        """d_1..d_S, d_l mapping layer l's output back to layer l-1's: ``[(Linear, activation)]``
        (d_1 is the decoder's linear output layer)."""
        dec = self.decoder
        return [(dec.head, "linear")] + [(layer, dec.activation) for layer in reversed(list(dec.layers))]

    @property
    def stage(self):
        """1..S during pretraining, S + 1 while fine-tuning."""
        return min(int(self.step_count.data) // self.pretrain_steps + 1, self.num_stages + 1) \
            if self.pretrain_steps else self.num_stages + 1

    def features(self, x_in, upto):
        """h_upto = e_upto(...e_1(x)): Tensor (N, width) (x_in (N, *data_shape) a Tensor)."""
        h = x_in.reshape(x_in.shape[0], -1)
        for layer, act in self.encoder_layers()[:upto]:
            h = activate(layer(h), act)
        return h

    def stage_loss(self, x_in, stage, rng):
        """loss_l of a pretraining stage (module docstring): the mean over the batch of
        ||d_l(e_l(h~_{l-1})) - h_{l-1}||^2, the layers below fixed. Returns a scalar Tensor."""
        with no_grad():
            h = self.features(x_in, stage - 1)                                # h_{l-1} (N, width)
        keep = to_device(rng.random(h.shape) >= self.noise, device_of(h.data)).astype(h.dtype)
        (enc, act), (dec, dec_act) = self.encoder_layers()[stage - 1], self.decoder_layers()[stage - 1]
        r = activate(dec(activate(enc(Tensor(h.data * keep)), act)), dec_act)
        return losses.mse(r, Tensor(h.data), reduction="none").sum(axis=-1).mean()

    def objective(self, x, rng, train=True):
        """A pretraining stage's loss while training in stage <= S, else the whole stack's."""
        stage = self.stage
        if not (train and self.training and stage <= self.num_stages):
            return super().objective(x, rng, train)
        x_in = self.data_view(x)[0]
        loss = self.stage_loss(x_in, stage, rng)
        with no_grad():
            h = self.encode(x_in)
        return loss, {"rec": float(as_numpy(loss.data)), "stage": float(stage)}, h

    def train_step(self, batch):
        """One optimiser step (of the stage's loss), then the step counter."""
        metrics = super().train_step(batch)
        self.step_count.data = to_device(np.array(int(self.step_count.data) + 1, np.int64),
                                         device_of(self.step_count.data))
        return metrics


# -- what pretraining is for: a classifier with few labels ---------------------------------------
class EncoderClassifier(Module):
    """p(y|x) = softmax(W h(x) + b), h(x) the encoder's code (its hidden layers below it)."""

    def __init__(self, encoder, num_classes, *, rng, dtype=np.float32):
        super().__init__()
        self.encoder = encoder
        self.out = Linear(encoder.head.weight.shape[0], num_classes, rng=rng, dtype=dtype)

    def forward(self, x):
        return self.out(self.encoder(x))                                        # (N, classes) logits


def classifier_from_encoder(model, num_classes=10, pretrained=True, rng=0):
    """A classifier on ``model``'s encoder: a copy of its trained weights (``pretrained``), or the
    same architecture at PyTorch's default initialisation."""
    rng = np.random.default_rng(rng)
    if pretrained:
        encoder = copy.deepcopy(model.encoder)
    else:
        enc = model.encoder
        encoder = Autoencoder(model.data_shape, model.num_levels, model.latent_dim,
                              [layer.weight.shape[0] for layer in enc.layers], "mlp", enc.activation,
                              enc.code_activation, rng=rng, dtype=model.dtype).encoder
    return EncoderClassifier(encoder, num_classes, rng=rng, dtype=model.dtype)


def few_label_accuracy(model, x, y, x_test, y_test, pretrained=True, steps=500, lr=1e-3, seed=0):
    """Fine-tune ``classifier_from_encoder`` on the labelled (x, y) (all of them per step, Adam),
    and return its accuracy on (x_test, y_test)."""
    from ...optim import Adam
    clf = classifier_from_encoder(model, int(max(y.max(), y_test.max())) + 1, pretrained, rng=seed)
    scale = 1.0 / (model.num_levels - 1) if model.num_levels else 1.0
    opt = Adam(clf.parameters(), lr=lr)
    xb = Tensor((x * scale).astype(model.dtype))
    for _ in range(steps):
        opt.zero_grad()
        loss = losses.cross_entropy(clf(xb), np.asarray(y, np.int64))
        loss.backward()
        opt.step()
    with no_grad():
        pred = as_numpy(clf(Tensor((x_test * scale).astype(model.dtype))).data).argmax(axis=1)
    return float((pred == y_test).mean())
