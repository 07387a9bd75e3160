"""minigen: deep generative models from scratch on NumPy, Numba and CuPy.

    import minigen
    result = minigen.train("vae", preset="digits-reference", out="runs/vae")
    model, config = minigen.load_run("runs/vae")

``minigen.train`` is the Python twin of ``python -m minigen train`` (``minigen/run.py``).
"""
__version__ = "0.1.0"


def train(model, preset=None, **kwargs):
    """Train a registered model; see ``minigen.run.train`` for the arguments."""
    from .run import train as _train
    return _train(model, preset, **kwargs)


def load_run(run_dir, which="best", device="cpu"):
    """Rebuild a trained run's model; see ``minigen.run.load_run``."""
    from .run import load_run as _load_run
    return _load_run(run_dir, which, device)
