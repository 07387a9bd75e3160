"""VAE training-step benchmark: minigen against the same model in PyTorch CPU.

Run with ``python -m minigen.bench models --only VAE``. The model is
``minigen.models.latent.vae.VAE`` at the size of Kingma & Welling's MNIST experiments
(docs/performance.md, "MLP VAE step (batch 128)"), identical in both frameworks, float32:

    data       x (128, 1, 28, 28), binary (0/1)
    encoder    Linear 784->400, ReLU, Linear 400->40 = (mu, log sigma^2) of J = 20
    sampling   z = mu + exp(log sigma^2 / 2) * eps, one eps ~ N(0, I) per example
    decoder    Linear 20->400, ReLU, Linear 400->784 = Bernoulli logits
    loss       -ELBO by estimator B: sum over pixels of BCE-with-logits + analytic KL,
               averaged over the batch (nats per image)
    optimiser  Adam (lr 1e-3), PyTorch default initialisation in both

Passes (each one iteration, timed as a median):

    fwd      the loss, no graph (minigen ``no_grad``, PyTorch ``torch.no_grad``)
    fwd+bwd  the loss and its gradients
    step     a full training step: zero grads, loss, backward, Adam update

Both draw fresh noise every call (minigen from its Generator, PyTorch from its global
one). PyTorch runs with ``torch.set_num_threads`` equal to Numba's thread count.

With ``--device cuda`` (``python -m minigen.bench models --device cuda``) both run on
the GPU at batch ``GPU_N`` = 256, and every timed pass ends with a device
synchronisation (CuPy's for minigen, ``torch.cuda.synchronize`` for PyTorch).
"""
import numpy as np

from ._timing import step_case_on, torch_or_none, torch_step_passes

N, D, HIDDEN, LATENT = 128, 784, 400, 20
GPU_N = 256     # issue 16: a training step at batch 256 on 28x28 data


def _minigen_setup():
    from minigen.models.latent.vae import VAE
    from minigen.models.registry import TrainConfig
    model = VAE(data_shape=(1, 28, 28), num_levels=2, latent_dim=LATENT, hidden=(HIDDEN,),
                likelihood="bernoulli", estimator="B", rng=0)
    model.configure_optimizers(TrainConfig(lr=1e-3), total_steps=1)
    return model


def _torch_model(torch):
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1, self.enc2 = nn.Linear(D, HIDDEN), nn.Linear(HIDDEN, 2 * LATENT)
            self.dec1, self.dec2 = nn.Linear(LATENT, HIDDEN), nn.Linear(HIDDEN, D)

        def loss(self, x):
            mu, log_var = self.enc2(F.relu(self.enc1(x))).chunk(2, dim=1)     # (N, J) each
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            logits = self.dec2(F.relu(self.dec1(z)))                           # (N, D)
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = 0.5 * (log_var.exp() + mu * mu - 1 - log_var).sum()
            return (rec + kl) / len(x)

    return VAE()


def cases(device):
    """The VAE step case on ``device`` ('cpu', or 'cuda': batch ``GPU_N``, both frameworks on the GPU)."""
    from autograd import no_grad
    torch = torch_or_none()
    n = N if device == "cpu" else GPU_N

    def setup():
        rng = np.random.default_rng(0)
        s = {"x": (rng.random((n, 1, 28, 28)) < 0.13).astype(np.uint8), "model": _minigen_setup()}
        if torch is not None:
            import numba
            torch.set_num_threads(numba.get_num_threads())
            torch.manual_seed(0)
            s["tmodel"] = _torch_model(torch)
            s["topt"] = torch.optim.Adam(s["tmodel"].parameters(), lr=1e-3)
            s["tx"] = torch.from_numpy(s["x"].reshape(n, D).astype(np.float32))
        return step_case_on(device, s)

    def fwd(s):
        with no_grad():
            return -s["model"].elbo(s["x"]).mean()

    def fwd_bwd(s):
        s["model"].zero_grad()
        (-s["model"].elbo(s["x"]).mean()).backward()

    def step(s):
        s["model"].train_step(s["x"])

    case = {"name": f"VAE step {D}-{HIDDEN}-{LATENT} N={n}", "setup": setup,
            "minigen": {"fwd": fwd, "fwd+bwd": fwd_bwd, "step": step}, "torch": None}
    if torch is not None:
        case["torch"] = torch_step_passes(torch, inputs=('tx',), device=device)
    return [case]
