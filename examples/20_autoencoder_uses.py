"""Step 20: what autoencoders are for: code priors, pretraining, chains, sequences, anomalies, inpainting.

The second half of the autoencoder lectures (examples/12_autoencoders.py is the first),
one picture per use, written to ``out_dir``:

    vqvae_prior_samples.png   VQ-VAE + PixelCNN prior (van den Oord et al. 2017): code grids drawn
                              by the PixelCNN and decoded, next to uniform code grids decoded
                              (what the VQ-VAE alone can do); the -ELBO with each prior is printed.
    stacked_few_labels.png    a classifier on the encoder of a stacked autoencoder (greedy layer-wise
                              pretraining, Bengio et al. 2007), of an autoencoder trained end to end,
                              and from scratch, fine-tuned on 50 and 100 labelled digits: test accuracy.
    chains.png                the GSN's chain (latent state, walkback by backprop; Bengio et al. 2014)
                              next to the DAE's (walkback, Bengio et al. 2013), from noise.
    seq2seq.png               the LSTM seq2seq autoencoder (Srivastava et al. 2015), digits read as 8
                              rows: reconstructions decoded free running and with teacher forcing.
    seq2seq_codes.png         its codes of test digits (first two principal components).
    anomaly.png, anomaly_auc.png   trained without one digit (minigen/anomaly.py): the most and
                              least anomalous test digits, and the ROC AUC of the reconstruction
                              error (autoencoder) and of the -ELBO (VAE) per held-out digit; with
                              Fashion-MNIST installed, the same for a held-out clothing class.
    inpainting.png            lower halves and random 4x4 squares filled (minigen/inpaint.py) by the
                              DAE's and the GSN's clamped chains, the VAE's pseudo-Gibbs sampling, and
                              PixelCNN's exact ancestral completion.

Models come from ``--runs DIR`` when it holds their reference run folders (``DIR/<model>``,
from ``python -m minigen train <model> --config digits-reference --out DIR/<model>``), else
they are trained here with their digits-reference presets, capped at ``--epochs`` (default
60; about 15-30 minutes of one CPU core in all). ``--tiny`` runs in seconds.

Run:  python examples/20_autoencoder_uses.py [--out runs/20_autoencoder_uses] [--runs runs]
      python examples/20_autoencoder_uses.py --tiny
"""
import argparse
import os
import time

import numpy as np
from matplotlib.figure import Figure

from minigen import anomaly, inpaint, plots
from minigen.data import BatchLoader, get_dataset
from minigen.models import TrainConfig
from minigen.models.latent.autoencoder import Autoencoder
from minigen.models.latent.stacked import few_label_accuracy
from minigen.run import load_run, train


def get(name, preset, epochs, runs=None, tiny=False):
    """A trained model: the run folder ``runs/name`` if there is one, else trained here."""
    folder = os.path.join(runs, name) if runs else None
    if folder and os.path.exists(os.path.join(folder, "config.json")) and not tiny:
        return load_run(folder)[0]
    preset = "digits-tiny" if tiny and preset == "digits-reference" else preset
    model = train(name, preset, progress=False, figures=False, epochs=epochs).model
    model.eval()
    return model


def vqvae_prior(test, epochs, runs, tiny, out_dir):
    model = get("vq-vae-prior", "digits-reference", epochs, runs, tiny)
    rng = np.random.default_rng(0)
    prior = model.sample(32, rng, mean=True)
    uniform = model.vqvae.sample(32, rng, mean=True)
    plots.labelled_rows([("PixelCNN prior", prior), ("uniform prior", uniform)],
                        os.path.join(out_dir, "vqvae_prior_samples.png"), max_per_row=16,
                        title="VQ-VAE: decoded code grids (decoder means)")
    m = model.evaluate(test)
    print(f"  test -ELBO {m['nelbo']:.2f} nats = rec {m['rec']:.2f} + prior {m['prior']:.2f} "
          f"(uniform prior: {m['rec'] + m['uniform_prior']:.2f})")
    return m


def few_labels(train_set, test, epochs, runs, tiny, out_dir):
    stacked = get("stacked-autoencoder", "digits-reference", epochs, runs, tiny)
    scratch = get("stacked-autoencoder", "digits-scratch" if not tiny else "digits-tiny", epochs, None, tiny)
    sizes, steps = ((20,), 20) if tiny else ((50, 100), 300)
    table = {"stacked AE, pretrained": [], "AE trained end to end": [], "from scratch": []}
    for n in sizes:
        rng = np.random.default_rng(n)
        pick = np.concatenate([rng.permutation(np.flatnonzero(train_set.y == c))[:n // 10]
                               for c in range(10)])                           # n / 10 of each digit
        x, y = train_set.x[pick], train_set.y[pick]
        for key, model, pre in (("stacked AE, pretrained", stacked, True),
                                ("AE trained end to end", scratch, True), ("from scratch", stacked, False)):
            table[key].append(few_label_accuracy(model, x, y, test.x, test.y, pre, steps=steps))
        print("  " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in table.items()) + f"  ({n} labels)")
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    idx = np.arange(len(sizes))
    for i, (k, v) in enumerate(table.items()):
        ax.bar(idx + (i - 1) * 0.27, v, 0.27, label=k)
    ax.set(xticks=idx, xticklabels=[f"{n} labels" for n in sizes], ylim=(0, 1), ylabel="test accuracy",
           title="A digit classifier from few labels: the encoder as initialisation")
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(os.path.join(out_dir, "stacked_few_labels.png"), dpi=100)
    return table


def chains(epochs, runs, tiny):
    gsn = get("gsn", "digits-reference", epochs, runs, tiny)
    dae = get("denoising-autoencoder", "digits-reference", epochs, runs, tiny)
    rows = []
    for name, model in (("GSN", gsn), ("DAE", dae)):
        _, means = model.chain(4, 48, np.random.default_rng(1))                   # (48, 4, 1, 8, 8)
        for i in range(2):
            rows.append((f"{name} chain {i + 1}", means[3::4, i]))
    return gsn, dae, rows


def seq2seq(test, epochs, runs, tiny, out_dir):
    from minigen.pca import pca
    model = get("seq2seq-autoencoder", "digits-reference", epochs, runs, tiny)
    x = test.x[:16]
    x_in = model.data_view(x)[0]
    teacher = model.mean_of(model.decode_frames(model.encode(x_in), x_in, np.ones(8, bool))).reshape(x.shape)
    plots.labelled_rows([("test digits", x / 16.0), ("free running", model.reconstruct(x)),
                         ("teacher forcing", np.clip(teacher, 0, 1))], os.path.join(out_dir, "seq2seq.png"),
                        value_range=(0, 1), title="LSTM seq2seq autoencoder: 8 rows in, 8 rows out")
    z = model.posterior_mean(test.x)
    mean, V, _ = pca(z, 2)
    plots.latent_scatter((z - mean) @ V.T, test.y, os.path.join(out_dir, "seq2seq_codes.png"),
                         title="seq2seq codes of test digits (2 principal components)")
    m = model.evaluate(test)
    print(f"  test squared error per image: free running {m['mse']:.3f}, "
          f"teacher forcing {m['mse_teacher']:.3f}")
    return m


def fit(model, x, epochs, lr=1e-3, seed=0):
    model.configure_optimizers(TrainConfig(lr=lr))
    loader = BatchLoader(x, batch_size=64, rng=np.random.default_rng(seed))
    model.train()
    for _ in range(epochs):
        for xb in loader:
            model.train_step(xb)
    model.eval()
    return model


def anomalies(train_set, test, classes, epochs, tiny, out_dir):
    from minigen.models.latent.vae import VAE
    hidden = (32,) if tiny else (256, 256)
    table = []
    for c in classes:
        x, _ = anomaly.normal_split(train_set.x, train_set.y, c)
        ae = fit(Autoencoder(hidden=hidden, rng=0), x, epochs)
        vae = fit(VAE(hidden=hidden, rng=0), x, epochs)
        auc_ae, s = anomaly.held_out_auc(ae, test.x, test.y, c, "reconstruction")
        auc_vae, _ = anomaly.held_out_auc(vae, test.x, test.y, c, "bound", k=1)
        table.append(("digits", c, auc_ae, auc_vae))
        print(f"  digits without {c}: AUC reconstruction error {auc_ae:.3f}, VAE -ELBO {auc_vae:.3f}")
        if c == classes[0]:
            most, least = anomaly.extremes(s, test.x)
            plots.labelled_rows([("most anomalous", most), ("least anomalous", least)],
                                os.path.join(out_dir, "anomaly.png"), levels=17,
                                title=f"AE trained without {c}s: test digits by reconstruction error")
    if not tiny:
        try:
            fm_train, fm_test = get_dataset("fashion-mnist", "train"), get_dataset("fashion-mnist", "test")
        except (FileNotFoundError, OSError) as e:
            print(f"  (Fashion-MNIST not available: {e})")
        else:
            c = 7                                                              # sneakers held out
            x, _ = anomaly.normal_split(fm_train.x[:12000], fm_train.y[:12000], c)
            ae = Autoencoder(data_shape=(1, 28, 28), num_levels=256, code_dim=32, hidden=(512, 256), rng=0)
            ae = fit(ae, x, 5)
            auc, _ = anomaly.held_out_auc(ae, fm_test.x[:3000], fm_test.y[:3000], c, "reconstruction")
            table.append(("fashion-mnist", c, auc, float("nan")))
            print(f"  fashion-mnist without class {c} (sneaker): AUC reconstruction error {auc:.3f}")
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    idx = np.arange(len(table))
    ax.bar(idx - 0.2, [t[2] for t in table], 0.4, label="AE reconstruction error")
    ax.bar(idx + 0.2, [t[3] for t in table], 0.4, label="VAE -ELBO")
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    names = [f"{t[1]}" if t[0] == "digits" else f"F{t[1]}" for t in table]
    ax.set(xticks=idx, xticklabels=names, ylim=(0, 1),
           xlabel="held-out class (F: Fashion-MNIST)", ylabel="ROC AUC", title="Anomaly detection")
    ax.legend(loc="lower right")
    fig.savefig(os.path.join(out_dir, "anomaly_auc.png"), dpi=100)
    return table


def inpainting(test, gsn, dae, epochs, runs, tiny, out_dir):
    vae = get("vae", "digits-reference", epochs, runs, tiny)
    pixelcnn = get("pixelcnn", "digits-reference", epochs, runs, tiny)
    x = test.x[:8]
    steps = 5 if tiny else 100
    rows, errors = [], {}
    for mask_name, seen in (("half", inpaint.lower_half(8, (1, 8, 8))),
                            ("square", inpaint.random_squares(8, (1, 8, 8), 4,
                                                                  np.random.default_rng(2)))):
        rng = np.random.default_rng(3)
        fills = {"DAE chain": inpaint.chain_inpaint(dae, x, seen, steps, rng),
                 "GSN chain": inpaint.chain_inpaint(gsn, x, seen, steps, rng),
                 "VAE Gibbs": inpaint.vae_inpaint(vae, x, seen, steps, rng),
                 "PixelCNN": inpaint.pixelcnn_inpaint(pixelcnn, x, seen, rng)}
        rows += [(f"{mask_name}: truth", x), ("observed", np.nan_to_num(inpaint.occluded(x, seen), nan=8.0))]
        rows += list(fills.items())
        errors[mask_name] = {k: float(inpaint.hidden_error(x, v, seen, 17).mean()) for k, v in fills.items()}
        print(f"  {mask_name} hidden: squared error on the hidden pixels per image "
              + ", ".join(f"{k} {v:.2f}" for k, v in errors[mask_name].items()))
    plots.labelled_rows(rows, os.path.join(out_dir, "inpainting.png"), levels=17,
                        title="Inpainting (hidden pixels grey in 'observed')")
    return errors


def main(tiny=False, out_dir="runs/20_autoencoder_uses", runs=None, epochs=60):
    os.makedirs(out_dir, exist_ok=True)
    train_set, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    epochs = 1 if tiny else epochs
    t0 = time.perf_counter()
    print("1. VQ-VAE + PixelCNN prior")
    results = {"vqvae_prior": vqvae_prior(test, epochs, runs, tiny, out_dir)}
    print("2. stacked autoencoder: a classifier from few labels")
    results["few_labels"] = few_labels(train_set, test, epochs, runs, tiny, out_dir)
    print("3. GSN and DAE chains")
    gsn, dae, rows = chains(epochs, runs, tiny)
    plots.labelled_rows(rows, os.path.join(out_dir, "chains.png"), value_range=(0, 1),
                        title="E[X | .] every 4th step from noise: GSN (latent state) and DAE")
    print("4. seq2seq autoencoder")
    results["seq2seq"] = seq2seq(test, epochs, runs, tiny, out_dir)
    print("5. anomaly detection")
    classes = [4] if tiny else [1, 4, 7]
    results["anomaly"] = anomalies(train_set, test, classes, 1 if tiny else 50, tiny, out_dir)
    print("6. inpainting")
    results["inpainting"] = inpainting(test, gsn, dae, epochs, runs, tiny, out_dir)
    print(f"pictures in {out_dir}/ ({time.perf_counter() - t0:.0f} s)")
    return results


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--out", default="runs/20_autoencoder_uses", help="folder for the PNG files")
    p.add_argument("--runs", default=None, help="folder holding reference runs <model>/ to load")
    p.add_argument("--epochs", type=int, default=60, help="epoch cap of the models trained here")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out, runs=args.runs, epochs=args.epochs)
