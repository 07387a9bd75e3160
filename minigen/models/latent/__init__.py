"""The latent family: its base class and one file per model."""
