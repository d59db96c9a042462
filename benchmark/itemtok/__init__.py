"""Item tokenizers: every catalogue item as a short sequence of integer codes, and back.

How an LLM (or a generative recommender) sees an item is a component models take as an
argument (DESIGN.md, "Item tokenizers"):

- `item_codes(catalogue, config)` → `ItemCodes` (codes, level sizes, token strings, inverse
  lookup, the tokenizer report), for the kinds in `KINDS` (config.py): unique ID, number ID,
  and semantic IDs from an RQ-VAE or residual k-means over the items' MiniLM text embeddings,
  cached by catalogue content hash + config + code version (build.py);
"""

from benchmark.itemtok.build import CODE_VERSION, item_codes
from benchmark.itemtok.codes import ItemCodes, collisions, disambiguate, utilisation
from benchmark.itemtok.config import KINDS, SID_KINDS, TokenizerConfig

__all__ = [
    "CODE_VERSION", "KINDS", "SID_KINDS", "ItemCodes", "TokenizerConfig", "collisions", "disambiguate", "item_codes",
    "utilisation",
]
