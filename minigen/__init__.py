"""minigen: deep generative models from scratch on NumPy, Numba and CuPy."""
__version__ = "0.1.0"
