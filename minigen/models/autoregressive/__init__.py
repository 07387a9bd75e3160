"""The autoregressive family: its base class and one file per model."""
