"""Step 12: autoencoders, from PCA to a generative Markov chain, and a use: anomaly detection.

The autoencoder lecture's argument, one picture at a time (written to ``out_dir``):

    ae_vs_pca.png            test reconstruction error against the code size J for PCA
                             (by the SVD, minigen/pca.py), a linear autoencoder trained with
                             the squared error, and a non-linear (ReLU MLP) one. The linear AE
                             lands on PCA's curve: it spans the principal subspace (Baldi &
                             Hornik 1989; the principal angles are printed), and the non-linear
                             one does better at small J.
    ae_gaussian_samples.png  a Gaussian fitted to the non-linear AE's training codes, decoded:
                             an autoencoder is not a likelihood model, and sampling it needs a
                             density of the codes that training never asked for.
    dae_chain_*.png          the denoising autoencoder's Markov chain X_t ~ P(X | X~_{t-1}),
                             X~_t ~ C(X~ | X_t) from uniform noise (Bengio et al. 2013), trained
                             without and with walkback (their Algorithm 2): every 5th step.
    dae_toy_chains.png       the same on the 2-D Swiss roll: where 500 chains started uniformly
                             on [-6, 6]^2 are after 30 steps, without and with walkback.
    anomaly_auc.png          train on all digits but one, score the test digits by the
                             autoencoder's reconstruction error and by the VAE's -ELBO: the ROC
                             AUC of telling the held-out digit from the others, per digit.
    anomaly_extremes.png     the most and the least anomalous test images for one held-out digit.

The models train as the digits protocol says: Adam 1e-3, batches of 64, the validation
loss after every epoch, the best epoch kept, stopping after 20 epochs without progress
(at most 200 epochs; 100 for the DAEs and the anomaly models, to keep the example short).
The linear autoencoders are the exception: gradient descent turns their subspace slowly
along directions of nearly equal variance (the digits' 2nd and 3rd principal variances
are 0.62 and 0.58), so they take 4000 full-batch Adam steps at 1e-2. About 20 minutes of
one CPU core (most of it the 20 anomaly models); ``--tiny`` runs in seconds.

Run:  python examples/12_autoencoders.py [--out runs/12_autoencoders]
      python examples/12_autoencoders.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import os
import time

import numpy as np
from matplotlib.figure import Figure

from minigen import plots
from minigen.data import BatchLoader, get_dataset
from minigen.metrics import roc_auc
from minigen.models.latent.autoencoder import Autoencoder
from minigen.models.latent.denoising import DenoisingAutoencoder
from minigen.models.latent.vae import VAE
from minigen.models.registry import TrainConfig
from minigen.pca import pca, pca_reconstruct, principal_angles


def fit(model, train_x, val_x, epochs, patience=20, metric="loss", seed=0):
    """Adam 1e-3 on minibatches of 64; the validation ``metric`` after every epoch; best epoch kept."""
    loader = BatchLoader(train_x, batch_size=64, rng=np.random.default_rng(seed))
    model.configure_optimizers(TrainConfig(lr=1e-3, batch_size=64))
    best, best_epoch, best_state = np.inf, 0, model.state_dict()
    for epoch in range(1, epochs + 1):
        model.train()
        for xb in loader:
            model.train_step(xb)
        model.eval()
        value = model.eval_step(val_x)[metric]           # common random numbers: comparable epochs
        if value < best:
            best, best_epoch, best_state = value, epoch, model.state_dict()
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return model


def batches(loader, steps):
    """``steps`` batches of ``loader``, epoch after epoch."""
    while steps > 0:
        for xb in loader:
            yield xb
            steps -= 1
            if steps == 0:
                return


def ae_vs_pca(train, val, test, sizes, epochs, linear_steps, out_dir):
    """Test squared error per image for PCA, a linear AE and a non-linear AE, against J."""
    unit = lambda x: x.reshape(len(x), -1) / 16.0      # noqa: E731  levels 0..16 -> [0, 1]
    rows, curves = [], {"PCA (SVD)": [], "linear AE": [], "ReLU AE 256-256": []}
    for J in sizes:
        mean, V, _ = pca(unit(train.x), J)
        curves["PCA (SVD)"].append(((pca_reconstruct(unit(test.x), mean, V) - unit(test.x)) ** 2).sum(1).mean())
        linear = Autoencoder(code_dim=J, hidden=(), activation="linear", rng=0)
        linear.configure_optimizers(TrainConfig(lr=1e-2))
        for _ in range(linear_steps):                    # full batch: slow along near-equal variances
            linear.train_step(train.x)
        curves["linear AE"].append(linear.reconstruction_error(test.x).mean())
        deep = fit(Autoencoder(code_dim=J, hidden=(256, 256), rng=0), train.x, val.x, epochs)
        curves["ReLU AE 256-256"].append(deep.reconstruction_error(test.x).mean())
        angle = principal_angles(linear.decoder.head.weight.data, V.T).max()
        rows.append((J, *(c[-1] for c in curves.values()), angle))
        print(f"  J={J:3d}  PCA {rows[-1][1]:.3f}  linear AE {rows[-1][2]:.3f}  ReLU AE {rows[-1][3]:.3f}  "
              f"largest angle linear AE vs PCA {angle:.2f} deg")
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for (name, values), style in zip(curves.items(), ("o-", "s--", "^-")):
        ax.plot(sizes, values, style, label=name)
    ax.set(xscale="log", yscale="log", xlabel="code size J", ylabel="test squared error per image",
           title="Autoencoders against PCA on the 8x8 digits")
    ax.minorticks_off()
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_yticks([0.1, 0.2, 0.5, 1, 2, 5], ["0.1", "0.2", "0.5", "1", "2", "5"])
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(os.path.join(out_dir, "ae_vs_pca.png"), dpi=100)
    deep.fit_code_gaussian(train.x)                      # the last (largest J) non-linear AE
    plots.image_grid(deep.sample(64, np.random.default_rng(0), mean=True),
                     os.path.join(out_dir, "ae_gaussian_samples.png"), nrow=16,
                     title=f"ReLU AE (J={sizes[-1]}): g(z), z ~ Gaussian fitted to the training codes")
    return rows


def dae_chains(train, val, epochs, out_dir, tiny):
    """DAE chains on digits and on the Swiss roll, without and with walkback."""
    toy = get_dataset("swissroll", "train", n=2000).x.astype(np.float32)
    fig = Figure(figsize=(9, 4.4), layout="constrained")
    for i, p in enumerate((0.0, 0.5)):
        name = "walkback" if p else "no_walkback"
        dae = DenoisingAutoencoder(code_dim=32 if tiny else 256, walkback=p, rng=0)
        fit(dae, train.x, val.x, epochs)
        _, means = dae.chain(8, 60, np.random.default_rng(1))                    # (T, 8, 1, 8, 8)
        grid = means[4::5].transpose(1, 0, 2, 3, 4).reshape(-1, 1, 8, 8)        # chain per row
        plots.image_grid(grid, os.path.join(out_dir, f"dae_chain_{name}.png"), nrow=12,
                         title=f"DAE chain from noise, {'walkback p = 0.5' if p else 'no walkback'}: "
                               "E[X | X~_t] every 5th step")
        toy_dae = DenoisingAutoencoder(data_shape=(2,), num_levels=None, code_dim=32, hidden=(32,),
                                       activation="relu", code_activation="relu", reconstruction="mse",
                                       corruption="gaussian", noise=0.1, walkback=0.7 if p else 0.0,
                                       max_walkback=10, rng=0)
        toy_dae.configure_optimizers(TrainConfig(lr=3e-3))
        loader = BatchLoader(toy, batch_size=128, rng=np.random.default_rng(0))
        for xb in batches(loader, 60 if tiny else 300):
            toy_dae.train_step(xb)
        rng = np.random.default_rng(1)
        states, _ = toy_dae.chain(500, 30, rng, x0=rng.uniform(-6, 6, (500, 2)))
        ax = fig.add_subplot(1, 2, i + 1)
        ax.scatter(toy[:, 0], toy[:, 1], s=2, c="0.75", label="data")
        ax.scatter(states[-1][:, 0], states[-1][:, 1], s=5, c="C3", label="chains, step 30")
        ax.set(xlim=(-6, 6), ylim=(-6, 6), aspect="equal",
               title="walkback p = 0.7" if p else "no walkback")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("DAE chains on the Swiss roll from uniform starts on [-6, 6]^2")
    fig.savefig(os.path.join(out_dir, "dae_toy_chains.png"), dpi=100)


def anomalies(train, val, test, classes, epochs, k, out_dir, hidden=(256, 256)):
    """Hold out one digit at a time; ROC AUC of the AE's and the VAE's anomaly scores."""
    table = []
    for c in classes:
        normal_train, normal_val = train.x[train.y != c], val.x[val.y != c]
        ae = fit(Autoencoder(hidden=hidden, rng=0), normal_train, normal_val, epochs)
        vae = fit(VAE(hidden=hidden, rng=0), normal_train, normal_val, epochs, metric="nelbo")
        ae_score = ae.reconstruction_error(test.x)
        vae_score = vae.bounds(test.x, k, np.random.default_rng(1))["nll_iwae"]     # -IWAE_k bound
        table.append((c, roc_auc(ae_score, test.y == c), roc_auc(vae_score, test.y == c)))
        print(f"  held out {c}: AUC reconstruction error {table[-1][1]:.3f}   VAE -IWAE-{k} {table[-1][2]:.3f}")
        if c == classes[0]:
            order = np.argsort(ae_score)
            rows = [("most anomalous", test.x[order[::-1][:16]]), ("least anomalous", test.x[order[:16]])]
            labelled_rows(rows, os.path.join(out_dir, "anomaly_extremes.png"),
                          f"AE trained without {c}s: test digits by reconstruction error")
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    idx = np.arange(len(table))
    ax.bar(idx - 0.2, [t[1] for t in table], 0.4, label="AE reconstruction error")
    ax.bar(idx + 0.2, [t[2] for t in table], 0.4, label=f"VAE -IWAE-{k}")
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set(xticks=idx, xticklabels=[str(t[0]) for t in table], ylim=(0, 1), xlabel="held-out digit",
           ylabel="ROC AUC", title="Anomaly detection: the held-out digit against the others")
    ax.legend(loc="lower right")
    fig.savefig(os.path.join(out_dir, "anomaly_auc.png"), dpi=100)
    return table


def labelled_rows(rows, path, title):
    """Rows of 8x8 images with a label at the left of each row."""
    fig = Figure(figsize=(1.0 + 0.55 * len(rows[0][1]), 0.75 * len(rows) + 0.5), layout="constrained")
    axes = fig.subplots(len(rows), len(rows[0][1]), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for j, image in enumerate(images):
            axes[r, j].imshow(image[0], cmap="gray_r", vmin=0, vmax=16)
            axes[r, j].set_xticks([])
            axes[r, j].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.savefig(path, dpi=100)


def main(tiny=False, out_dir="runs/12_autoencoders"):
    os.makedirs(out_dir, exist_ok=True)
    train, val, test = (get_dataset("digits", s) for s in ("train", "val", "test"))
    epochs = 1 if tiny else 200
    t0 = time.perf_counter()
    print("1. autoencoders against PCA (test squared error per image, pixels in [0, 1])")
    rows = ae_vs_pca(train, val, test, (2,) if tiny else (2, 4, 8, 16, 32), epochs, 50 if tiny else 4000,
                     out_dir)
    print("2. the denoising autoencoder's Markov chain, without and with walkback")
    dae_chains(train, val, min(epochs, 100), out_dir, tiny)
    print("3. anomaly detection: train without one digit, score the test digits")
    table = anomalies(train, val, test, [4] if tiny else list(range(10)), min(epochs, 100), 5 if tiny else 100,
                      out_dir,
                      hidden=(32,) if tiny else (256, 256))
    print(f"pictures in {out_dir}/ ({time.perf_counter() - t0:.0f} s)")
    return {"ae_vs_pca": rows, "anomaly_auc": table}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--out", default="runs/12_autoencoders", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
