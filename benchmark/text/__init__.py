"""Item text as vectors: the MiniLM sentence encoder, run offline from its PyPI package."""

from benchmark.text.encoder import ENCODER_NAME, catalogue_digest, encode_catalogue, encode_texts

__all__ = ["ENCODER_NAME", "catalogue_digest", "encode_catalogue", "encode_texts"]
