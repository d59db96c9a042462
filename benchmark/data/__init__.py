"""Data adapters: raw files (or the synthetic generator) to one canonical Dataset."""

from benchmark.data.dataset import TEXT_FIELDS, Catalogue, DataError, Dataset

__all__ = ["TEXT_FIELDS", "Catalogue", "DataError", "Dataset"]
