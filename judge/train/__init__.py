"""Training, export and evaluation of the default judges (needs the `train` extra: torch, transformers)."""
