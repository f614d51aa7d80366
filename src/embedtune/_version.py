"""The package version, in a module of its own so that low modules (the model card) can name it
without importing :mod:`embedtune` itself, whose lazy facade reaches every layer above them."""

__version__ = "0.1.0"
