"""The energy family: its base class and one file per model."""
