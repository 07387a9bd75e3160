"""GAN variants on the 8x8 digits: a label for both players, a Wasserstein critic, unpaired
translation, and a VAE that measures its error in a discriminator's eyes.

Four pictures in ``runs/15_gan_variants``:

* ``cgan_classes.png`` - the conditional GAN (Mirza & Osindero 2014,
  ``minigen/models/adversarial/cgan.py``): one row per class, each row the samples G(z | y)
  for ten z and the label y asked for. The label reaches G as a one-hot code beside z and
  D as ten constant image channels. Printed: the fraction of samples minigen's digit
  classifier puts in the class asked for.
* ``wgan_distance.png`` - WGAN (Arjovsky et al. 2017, ``wgan.py``): the critic's estimate of
  the Wasserstein distance, E f(x) - E f(G(z)) with every critic weight clipped to
  [-0.01, 0.01], over training. Unlike a GAN's losses it falls as the samples improve
  ([1] §4.2); next to it, samples.
* ``cyclegan_translations.png`` - CycleGAN (Zhu et al. 2017, ``cyclegan.py``) between the
  digits and their stroke-thickened versions, trained on unpaired halves of each batch:
  inputs, translations, and the reconstructions F(G(x)) and G(F(y)) the cycle loss asks
  for. Printed: the fraction of translations a domain classifier puts in the target domain,
  the cycle error and the error against the true thickening.
* ``vae_vs_vaegan.png`` - the plain VAE (``minigen/models/latent/vae.py``) and VAE-GAN
  (Larsen et al. 2016, ``vae_gan.py``, its reconstruction error measured in a
  discriminator's hidden layer): test digits, both reconstructions, both models' samples;
  the FID of both (on minigen's own digit classifier) in the title.

The loops are written out (``train``) so the WGAN's estimate can be recorded at every
step. ``python -m minigen train cgan|wgan|cyclegan|vae-gan --config digits-reference``
trains the same models through the run layer, longer (the README's numbers).

Run:  python examples/15_gan_variants.py          (9 minutes, measured, one thread of an idle CPU)
      python examples/15_gan_variants.py --tiny   (the smoke test's settings, seconds)
"""
import argparse
import itertools
import os

import numpy as np

from minigen import plots
from minigen.data import BatchLoader, get_dataset
from minigen.metrics import sample_metrics
from minigen.models import TrainConfig, build_model
from minigen.models.adversarial.wgan import wasserstein_curve

TRAIN, TEST = get_dataset("digits", "train"), get_dataset("digits", "test")
SEED = 0                                          # every model's initial weights: build_model(..., rng=SEED)


def train(model, steps, lr, batch_size=64, seed=0, view=None):
    """``steps`` calls of ``model.train_step`` on shuffled (x, y) batches; returns the step records."""
    model.configure_optimizers(TrainConfig(lr=lr, batch_size=batch_size))
    data = TRAIN if view is None else get_dataset("digits", "train", view=view)
    loader = BatchLoader(*data.arrays(), batch_size=batch_size, rng=np.random.default_rng([seed, 1]))
    model.train()
    records = [{"step": step, **{f"train/{k}": v for k, v in model.train_step(batch).items()}}
               for step, batch in zip(range(1, steps + 1), itertools.cycle(loader))]
    model.eval()
    return records


def quality(samples, tiny):
    """FID on minigen's digit classifier (full runs) or the pixel MMD (tiny runs: no classifier to train)."""
    name = "mmd" if tiny else "fid"
    return name.upper(), sample_metrics(samples, TEST, names=[name], num_levels=17)[name]


def conditional(out_dir, tiny):
    model = build_model("cgan", "digits-tiny" if tiny else "digits-reference", rng=SEED)
    train(model, 30 if tiny else 1500, 1e-3 if tiny else 2e-4)
    rng = np.random.default_rng(2)
    path = plots.labelled_rows(model.class_rows(rng), os.path.join(out_dir, "cgan_classes.png"), levels=17,
                               title="cGAN: row y holds samples G(z | y)")
    if not tiny:
        from minigen.metrics.features import digits_classifier, to_unit
        labels = np.arange(1000) % 10
        x = to_unit(model.sample(1000, rng, labels), 17).astype(np.float32)
        print(f"cGAN: {np.mean(digits_classifier()[0].predict(x) == labels):.1%} of the samples are read as "
              f"the class asked for")
    print(f"cGAN rows per class -> {path}")


def wasserstein(out_dir, tiny):
    model = build_model("wgan", "digits-tiny" if tiny else "digits-reference", rng=SEED)
    records = train(model, 40 if tiny else 4000, 1e-3 if tiny else 5e-5)
    curve = wasserstein_curve(records, os.path.join(out_dir, "wgan_distance.png"),
                              title="WGAN: the critic's estimate of W(data, samples)")
    grid = plots.image_grid(model.sample(64, np.random.default_rng(3)),
                            os.path.join(out_dir, "wgan_samples.png"), levels=17, title="WGAN samples")
    print(f"WGAN: estimate {np.mean([r['train/wasserstein'] for r in records[:50]]):.4f} (first 50 steps) -> "
          f"{np.mean([r['train/wasserstein'] for r in records[-50:]]):.4f} (last 50) -> {curve}, {grid}")


def translation(out_dir, tiny):
    model = build_model("cyclegan", "digits-tiny" if tiny else "digits-reference", rng=SEED)
    train(model, 10 if tiny else 600, 1e-3 if tiny else 2e-4)
    test = TEST.subset(np.arange(64)) if tiny else TEST
    report = model.report(test, np.random.default_rng(4))
    path = model.figures(out_dir, np.random.default_rng(4), test)[0]
    target = os.path.join(out_dir, "cyclegan_translations.png")
    os.replace(path, target)
    print(f"CycleGAN: {report['to_Y']:.1%} of G(x) read as thick, {report['to_X']:.1%} of F(y) as thin "
          f"(classifier accuracy on real images {report['classifier_accuracy']:.1%}); cycle error "
          f"{report['cycle_error']:.3f}, error against the true thickening {report['translation_error']:.3f} "
          f"(pixels on [0, 1]) -> {target}")


def vae_against_vaegan(out_dir, tiny):
    vaegan = build_model("vae-gan", "digits-tiny" if tiny else "digits-reference", rng=SEED)
    train(vaegan, 20 if tiny else 1500, 1e-3 if tiny else 2e-4)
    vae = build_model("vae", "digits-tiny" if tiny else "digits-reference", rng=SEED)
    train(vae, 20 if tiny else 1600, 1e-3, view=vae.dataset_view)          # 1600 steps: 100 epochs
    rng = np.random.default_rng(5)
    x = TEST.x[:12]
    vae_rec = np.rint(vae.decode_mean(vae.posterior_mean(x)) * 16).astype(np.uint8)   # mean of p(x | mu(x))
    s_vae, s_gan = vae.sample(1000, rng), vaegan.sample(1000, rng)
    (name, q_vae), (_, q_gan) = quality(s_vae, tiny), quality(s_gan, tiny)
    rows = [("test digits", x), ("VAE rec.", vae_rec), ("VAE-GAN rec.", vaegan.reconstruct(x)),
            ("VAE draws", s_vae[:12]), ("VAE-GAN draws", s_gan[:12])]
    path = plots.labelled_rows(rows, os.path.join(out_dir, "vae_vs_vaegan.png"), levels=17,
                               title=f"VAE ({name} {q_vae:.2f}) vs VAE-GAN ({name} {q_gan:.2f})")
    print(f"{name}: VAE {q_vae:.3f}, VAE-GAN {q_gan:.3f} -> {path}")


def main(tiny=False, out_dir="runs/15_gan_variants"):
    """Write cgan_classes.png, wgan_distance.png (+ wgan_samples.png), cyclegan_translations.png and
    vae_vs_vaegan.png into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    conditional(out_dir, tiny)
    wasserstein(out_dir, tiny)
    translation(out_dir, tiny)
    vae_against_vaegan(out_dir, tiny)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="seconds: the smoke test's settings")
    parser.add_argument("--out-dir", default="runs/15_gan_variants")
    args = parser.parse_args()
    main(tiny=args.tiny, out_dir=args.out_dir)
