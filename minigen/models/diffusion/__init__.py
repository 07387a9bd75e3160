"""The diffusion family: its base class and one file per model."""
