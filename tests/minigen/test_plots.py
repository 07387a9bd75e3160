"""minigen.plots: every function writes a real, non-empty PNG and returns its path."""
import json
import struct

import numpy as np
import pytest

from minigen import plots
from minigen.data import get_dataset, toy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) of a PNG, after checking its signature and that it holds pixels."""
    with open(path, "rb") as f:
        head = f.read(24)
        rest = f.read()
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(rest) > 500, f"{path} is suspiciously small"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits", "test")


def test_image_grid_digits_and_mnist_shapes(tmp_path, digits):
    path = tmp_path / "nested" / "digits.png"
    assert plots.image_grid(digits.x[:64], path, nrow=8, title="digits") == path
    width, height = png_size(path)
    assert width >= 8 * 8 * 8 and height >= 8 * 8 * 8     # 8x8 digits are enlarged, not blurred
    mnist_like = np.random.default_rng(0).random((10, 28, 28)).astype(np.float32)  # (N, H, W) floats
    png_size(plots.image_grid(mnist_like, tmp_path / "mnist.png"))
    png_size(plots.image_grid(digits.binarized().x[:5], tmp_path / "binary.png", nrow=5))


def test_image_grid_rgb_and_value_range(tmp_path):
    rgb = np.random.default_rng(1).uniform(-1, 1, (6, 3, 16, 16))
    png_size(plots.image_grid(rgb, tmp_path / "rgb.png", value_range=(-1, 1), title="RGB"))
    with pytest.raises(ValueError, match="expected images"):
        plots.image_grid(np.zeros((2, 2, 8, 8)), tmp_path / "bad.png")


def test_image_pixels_map_levels_exactly(tmp_path):
    from matplotlib.image import imread

    x = np.zeros((1, 1, 8, 8), np.uint8)
    x[0, 0, :, 4:] = 16                                    # right half white at 17 levels
    picture = imread(plots.image_grid(x, tmp_path / "half.png"))
    values = np.unique(np.round(picture[..., :3], 3))
    assert 0.0 in values and 1.0 in values and len(values) <= 3  # black, white, padding/background


def test_reconstructions_and_completions(tmp_path, digits):
    x = digits.scaled().x[:20]
    png_size(plots.reconstructions(x, 1.0 - x, tmp_path / "recon.png"))
    occluded = x.copy()
    occluded[:, :, 4:, :] = np.nan                         # hidden bottom half
    png_size(plots.completions(x, occluded, x, tmp_path / "completions.png"))
    with pytest.raises(ValueError, match="differ in length"):
        plots.reconstructions(x, x[:3], tmp_path / "bad.png")


def test_curves_from_jsonl_and_records(tmp_path):
    records = [{"step": s, "epoch": s // 100, "train/loss": 1.0 / (1 + s), "lr": 1e-3} for s in range(200)]
    records += [{"step": s, "val/loss": 2.0 / (1 + s)} for s in range(0, 200, 50)]
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    png_size(plots.curves(jsonl, tmp_path / "curves.png", smooth=0.9, title="run"))
    png_size(plots.curves(records, tmp_path / "loss.png", keys=["train/loss"], x="epoch"))


def test_density_2d_with_and_without_density(tmp_path):
    data = get_dataset("8gaussians", "train", n=2000)
    std = 0.5 / np.sqrt(2.0)

    def log_prob(x):
        assert x.shape[1] == 2
        return toy.gaussian_mixture_log_prob(x, toy.eight_gaussians_means(), np.full(8, std),
                                             np.full(8, 1 / 8))

    png_size(plots.density_2d(log_prob, tmp_path / "density.png", samples=data.x[:300], data=data.x,
                              grid=60, batch_size=1000))
    png_size(plots.density_2d(log_prob, tmp_path / "log.png", bounds=5.0, grid=40, log_scale=True))
    png_size(plots.density_2d(None, tmp_path / "samples.png", samples=data.x[:300], data=data.x))


def test_density_1d(tmp_path):
    data = get_dataset("mixture-1d", "train", n=2000)

    def log_prob(x):
        return toy.gaussian_mixture_log_prob(x, [[-2.0], [0.5], [3.0]], [0.5, 0.3, 1.0], [0.3, 0.3, 0.4])

    png_size(plots.density_1d(log_prob, tmp_path / "d1.png", data=data.x, samples=data.x[:500, 0]))
    png_size(plots.density_1d(None, tmp_path / "hist.png", samples=data.x))


@pytest.mark.parametrize("dim, num_classes", [(2, 10), (5, 4), (2, 12), (3, None)])
def test_latent_scatter(tmp_path, dim, num_classes):
    rng = np.random.default_rng(dim)
    z = rng.standard_normal((300, dim))
    labels = None if num_classes is None else rng.integers(0, num_classes, 300)
    names = None if num_classes != 4 else ["a", "b", "c", "d"]
    png_size(plots.latent_scatter(z, labels, tmp_path / "latent.png", class_names=names))
    with pytest.raises(ValueError, match="D >= 2"):
        plots.latent_scatter(z[:, :1], labels, tmp_path / "bad.png")
