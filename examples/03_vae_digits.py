"""Step 03: a variational autoencoder on the 8x8 digits, and what its latent space holds.

We train ``minigen.models.latent.vae.VAE`` (Kingma & Welling 2014) with the plain loop a
student would write: Adam on minibatches of the training digits, the validation
-ELBO after every epoch, the parameters of the best epoch kept (early stopping).
Then we look at what it learned, in pictures written to ``out_dir``:

    reconstructions.png   test digits above the decoder's mean at their code mu(x)
    samples.png           z ~ N(0, I) decoded: the decoder's mean, then actual draws
    interpolation.png     decoded codes on straight lines between pairs of test digits
    latent_scatter.png    mu(x) of every test digit, coloured by its label (PCA to 2-D)
    latent2d_scatter.png  the same for a second VAE with a 2-D latent space (no PCA)
    manifold.png          that 2-D VAE's decoder on a grid of z (Kingma & Welling, Fig. 4)
    curves.png            train and validation -ELBO per epoch

and the test -ELBO and the IWAE bound (Burda et al. 2016) of the kept parameters, in
nats per image (a uniform model scores 64 log 17 = 181.33) and bits per dimension.
Takes a minute or two on a laptop CPU.

The model states only its paper: ``loss(batch)`` is the minibatch -ELBO, and the base
class's ``train_step`` runs zero_grad / backward / Adam step on it
(minigen/models/base.py). ``python -m minigen train vae`` trains the same model through
the run layer instead (run folder, checkpoints, resume, end-of-run report).

Run:  python examples/03_vae_digits.py [--out runs/03_vae_digits]
      python examples/03_vae_digits.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import os
import time
from statistics import NormalDist

import numpy as np

from minigen import plots
from minigen.data import BatchLoader, get_dataset
from minigen.models.latent.vae import VAE
from minigen.models.registry import TrainConfig


def fit(model, train, val, epochs, patience, seed=0):
    """Adam on shuffled minibatches of 64; returns the per-epoch records, best parameters loaded."""
    loader = BatchLoader(train.x, batch_size=64, rng=np.random.default_rng(seed))
    model.configure_optimizers(TrainConfig(lr=1e-3, batch_size=64), total_steps=epochs * len(loader))
    best, best_state, records = np.inf, model.state_dict(), []
    for epoch in range(1, epochs + 1):
        model.train()
        train_nelbo = np.mean([model.train_step(xb)["nelbo"] for xb in loader])   # loss() -> step
        model.eval()
        val_nelbo = model.eval_step(val.x)["nelbo"]   # common random numbers: comparable across epochs
        records.append({"epoch": epoch, "train/nelbo": float(train_nelbo), "val/nelbo": val_nelbo})
        if val_nelbo < best:
            best, best_epoch, best_state = val_nelbo, epoch, model.state_dict()
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    print(f"  best validation -ELBO {best:.2f} nats at epoch {best_epoch} of {epoch}")
    return records


def main(tiny=False, out_dir="runs/03_vae_digits"):
    os.makedirs(out_dir, exist_ok=True)
    train, val, test = (get_dataset("digits", s) for s in ("train", "val", "test"))
    epochs, patience, hidden, k = (1, 1, (64,), 5) if tiny else (200, 20, (256, 256), 1000)
    t0 = time.perf_counter()

    print("VAE 64-256-256-(16+16), 16-256-256-64x17 logits (categorical pixels, estimator B)")
    model = VAE(latent_dim=16, hidden=hidden, likelihood="categorical", rng=0)
    records = fit(model, train, val, epochs, patience)
    result = model.bounds(test.x, k, np.random.default_rng(1))       # k samples per test digit
    nelbo, nll = result["nelbo"].mean(), result["nll_iwae"].mean()
    print(f"  test -ELBO {nelbo:.2f} nats ({model.bits_per_dim(nelbo):.4f} bits/dim), "
          f"IWAE-{k} NLL bound {nll:.2f} nats ({model.bits_per_dim(nll):.4f} bits/dim)")

    rng = np.random.default_rng(0)
    x = test.x[:16]
    plots.reconstructions(x, model.reconstruct(x), os.path.join(out_dir, "reconstructions.png"),
                          title="Test digits and their reconstructions")
    samples = np.concatenate([model.sample(32, rng, mean=True), model.sample(32, rng) / 16.0])
    plots.image_grid(samples, os.path.join(out_dir, "samples.png"), nrow=16,
                     title="Prior samples: decoder means (top), draws (bottom)")
    path = model.interpolate(test.x[16:24], test.x[24:32], steps=10)   # (8, 10, 1, 8, 8)
    plots.image_grid(path.reshape(-1, 1, 8, 8), os.path.join(out_dir, "interpolation.png"), nrow=10,
                     title="Interpolation between the codes of two test digits")
    plots.latent_scatter(model.posterior_mean(test.x), test.y, os.path.join(out_dir, "latent_scatter.png"),
                         title="Codes mu(x) of the test digits (PCA)")
    plots.curves(records, os.path.join(out_dir, "curves.png"), title="-ELBO (nats per image)")

    print("VAE with a 2-D latent space, for a picture of the whole code space")
    model2 = VAE(latent_dim=2, hidden=hidden, likelihood="categorical", rng=1)
    fit(model2, train, val, epochs, patience)
    plots.latent_scatter(model2.posterior_mean(test.x), test.y,
                         os.path.join(out_dir, "latent2d_scatter.png"), title="2-D codes of the test digits")
    grid = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, 12)])  # equal prior mass
    z = np.stack(np.meshgrid(grid, grid[::-1]), axis=-1).reshape(-1, 2)   # (144, 2), row = z[1]
    plots.image_grid(model2.decode_mean(z), os.path.join(out_dir, "manifold.png"), nrow=12,
                     title="Decoder means on a grid of z (2-D latent)")
    print(f"pictures in {out_dir}/ ({time.perf_counter() - t0:.0f} s)")
    return {"test_nelbo": float(nelbo), "test_nll_iwae": float(nll)}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--out", default="runs/03_vae_digits", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
