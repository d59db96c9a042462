"""Item tokenizers: every catalogue item as a short sequence of integer codes, and back.

How an LLM (or a generative recommender) sees an item is a component models take as an
argument (DESIGN.md, "Item tokenizers"):

- `item_codes(catalogue, config)` → `ItemCodes` (codes, level sizes, token strings, inverse
  lookup, the tokenizer report), for the kinds in `KINDS` (config.py): unique ID, number ID,
  and semantic IDs from an RQ-VAE or residual k-means over the items' MiniLM text embeddings,
  cached by catalogue content hash + config + code version (build.py);
- `PrefixTrie` (trie.py): the valid code sequences as CSR arrays, with batched masks and state
  advance for constrained decoding;
- `constrained_beam_search` (beam.py): exact beam search over any step function returning
  next-token log-probabilities, answering rank requests with a sparse `TopK`;
  `TrieLogitsProcessor` (hf.py, imported from there since it needs transformers) constrains HF
  `generate` with the same trie.
"""

from benchmark.itemtok.beam import BeamResult, BeamState, beam_search, constrained_beam_search
from benchmark.itemtok.build import CODE_VERSION, item_codes
from benchmark.itemtok.codes import ItemCodes, collisions, disambiguate, utilisation
from benchmark.itemtok.config import KINDS, SID_KINDS, TokenizerConfig
from benchmark.itemtok.trie import PrefixTrie

__all__ = [
    "CODE_VERSION", "KINDS", "SID_KINDS", "BeamResult", "BeamState", "ItemCodes", "PrefixTrie", "TokenizerConfig",
    "beam_search", "collisions", "constrained_beam_search", "disambiguate", "item_codes", "utilisation",
]
