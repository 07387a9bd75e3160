"""Step 18: a denoising diffusion model (DDPM) on 8x8 digits: its bound, its samplers, guidance.

A DDPM (Ho et al. 2020; minigen/models/diffusion/ddpm.py) destroys a digit in T small
Gaussian steps (minigen/models/diffusion/schedules.py) and learns to undo one step at a
time with a U-Net that predicts the added noise (minigen/nn/unet.py: residual blocks with
GroupNorm and SiLU, a sinusoidal embedding of t, self-attention at the lowest resolution).
The loss is the "simple" one, |eps - eps_theta(x_t, t)|^2 at a random t; the model's
likelihood figure is the variational bound

    -log p(x_0) <= L_T + sum_{t=2}^{T} L_{t-1} + L_0        (nats per image)

with the KL terms in closed form and L_0 a discretised Gaussian over the 17 grey levels,
estimated with K U-Net passes per image (stratified over t) and a standard error. This
example trains a class-conditional DDPM with label dropout (classifier-free guidance,
Ho & Salimans 2022) through the run layer and then

1. prints the test bound (nats/image, bits/dim) and its three parts;
2. writes the model's pictures: ancestral samples with sigma_t^2 = beta~_t and beta_t, the
   reverse chain x_T -> x_0, DDIM samples from one x_T with S = 5 .. 50 steps and the FID
   of each S (digit-classifier features), and one row per class at guidance w = 0, 1, 3.

The full network of the README (``digits-reference``: base 64, T = 1000, 250 epochs) takes
about 50 minutes on one core; here the same model at base 32 with T = 200 trains for 20 epochs (320
steps). Not timed as written: the same network at T = 1000 trained 320 steps in 16 minutes on a
2-core machine shared with other jobs (its samples already look like digits); the pictures
add a few minutes.

Run:  python examples/18_diffusion.py            (roughly 10-20 minutes on a laptop CPU)
      python examples/18_diffusion.py --tiny     (seconds: the smoke test's settings)
"""
import argparse
import os

import numpy as np

from autograd import no_grad
from minigen.data import get_dataset
from minigen.run import free_run_dir, train


def main(tiny=False, out_dir="runs/18_diffusion"):
    os.makedirs(out_dir, exist_ok=True)
    # the digits-guided preset (the reference U-Net with labels, p_uncond = 0.1), made smaller
    model_kwargs = dict(base=8, num_res_blocks=1, groups=4, T=20, test_timesteps=2, figure_samples=4,
                        ddim_steps=(2, 5)) if tiny else \
        dict(base=32, T=200, beta_T=0.1, test_timesteps=20, figure_samples=16, ddim_steps=(5, 10, 20, 50))
    result = train("ddpm", "digits-guided", out=free_run_dir(os.path.join(out_dir, "run")),
                   model_kwargs=model_kwargs, progress=not tiny, figures=False,
                   **(dict(steps=3, eval_every=3) if tiny else dict(epochs=20, eval_every=80)))
    model, report = result.model, result.report
    print(f"DDPM with {model.num_parameters():,} parameters, T = {model.T}; trained {result.seconds:.0f} s")
    print(f"  test bound {report['nll']:.2f} nats/image ({report['bpd']:.3f} bits/dim), Monte Carlo "
          f"s.e. {report['nll_mc_se']:.2f}, {report['timesteps_per_image']} steps per image")
    print(f"  parts: L_T {report['L_T_mean']:.3f} + sum L_t-1 {report['L_mid_mean']:.2f} + "
          f"L_0 {report['L_0_mean']:.3f}")
    model.eval()
    split = None if tiny else get_dataset("digits", "test")             # FID against the test digits
    with no_grad():
        paths = model.figures(out_dir, np.random.default_rng(2), split)
    for path in paths:
        print(f"  saved {path}")
    return {"report": report, "pictures": paths}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="seconds-long settings (smoke test)")
    p.add_argument("--out", default="runs/18_diffusion", help="folder for the PNG files")
    args = p.parse_args()
    main(tiny=args.tiny, out_dir=args.out)
