"""Deep CTR models (DLRMs) on item ids, RecBench groups A–C."""
