"""WGAN-GP beyond the contracts: the gradient penalty's value on a critic whose gradient is
known, its gradient (a gradient of a gradient, through the conv critic) against finite
differences, and the penalty under no_grad (evaluation)."""
import numpy as np

from autograd import Tensor, gradcheck, no_grad
from minigen.models import build_model
from minigen.nn import Linear


def test_penalty_of_a_linear_critic_is_the_norm_of_its_weight():
    """f(x) = w.x + b has grad_x f = w everywhere: GP = (|w| - 1)^2 whatever the points."""
    model = build_model("wgan-gp", data_shape=(2,), num_levels=None, latent_dim=2, hidden=(8,), rng=0,
                        dtype=np.float64)
    model.discriminator = Linear(2, 1, rng=np.random.default_rng(1), dtype=np.float64)
    rng = np.random.default_rng(2)
    real, fake = Tensor(rng.standard_normal((5, 2))), Tensor(rng.standard_normal((5, 2)))
    gp = model.gradient_penalty(real, fake, Tensor(rng.random((5, 1))))
    w = model.discriminator.weight.data
    np.testing.assert_allclose(gp.item(), (np.linalg.norm(w) - 1) ** 2, rtol=1e-9)   # 1e-12 under the root


def test_gradient_penalty_gradient_matches_finite_differences():
    """The penalty through the conv critic: d GP / d(critic weights, fake images) by double
    backward, checked against central differences in float64."""
    model = build_model("wgan-gp", latent_dim=3, channels=2, rng=0, dtype=np.float64)
    rng = np.random.default_rng(3)
    real = Tensor(rng.uniform(-1, 1, (3, 1, 8, 8)))
    eps = Tensor(rng.random((3, 1, 1, 1)))
    fake = rng.uniform(-1, 1, (3, 1, 8, 8))
    assert gradcheck(lambda f: model.gradient_penalty(real, f, eps), [fake], params=model.discriminator,
                     mode="directional", n_directions=3)


def test_penalty_in_evaluation_equals_training_value():
    model = build_model("wgan-gp", latent_dim=3, channels=2, rng=0, dtype=np.float64)
    rng = np.random.default_rng(4)
    real, fake = Tensor(rng.uniform(-1, 1, (4, 1, 8, 8))), Tensor(rng.uniform(-1, 1, (4, 1, 8, 8)))
    eps = Tensor(rng.random((4, 1, 1, 1)))
    recorded = model.gradient_penalty(real, fake, eps)
    with no_grad():
        evaluated = model.gradient_penalty(real, fake, eps)
    assert recorded.requires_grad and not evaluated.requires_grad
    np.testing.assert_allclose(evaluated.item(), recorded.item(), rtol=1e-12)


def test_recipe_of_the_paper():
    model = build_model("wgan-gp", "digits-reference", rng=0)
    train = model.presets["digits-reference"].train
    assert model.penalty == 10.0 and model.n_critic == 5 and model.betas == (0.0, 0.9) and train.lr == 1e-4
    assert train.batch_size == 64 and train.seed == 0 and train.steps == 5 * 1500
    assert not any("BatchNorm" in type(m).__name__ for m in model.discriminator.children())
