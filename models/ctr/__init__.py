"""Deep CTR models (DLRMs) of RecBench groups A–C: item ids, item text or both (item_repr)."""
