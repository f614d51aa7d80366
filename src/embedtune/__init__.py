"""embedtune: fine-tune a compact embedding retriever on your own data, honestly evaluated."""

__version__ = "0.1.0"
