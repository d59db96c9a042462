"""llm-sid: the embedded LLM reading and writing items as semantic IDs (RecBench groups J on next
item and F on CTR; LC-Rec): each item is its codes from residual k-means or an RQ-VAE over the
items' MiniLM text embeddings (benchmark.itemtok), one new token per code of each level
(``<a_3><b_17><c_5><d_0>``), each row started at the centroid of its items' title embeddings,
trained with LoRA plus those rows. Everything else is models/llm/item_token_model.py."""

from __future__ import annotations

from benchmark.api import ModelMeta
from benchmark.itemtok import SID_KINDS
from benchmark.registry import register_model
from models.layers.citations import RECBENCH
from models.llm.item_token_model import LLMItemTokens

LC_REC = "Zheng et al., Adapting Large Language Models by Integrating Collaborative Semantics for Recommendation " \
         "(LC-Rec), ICDE 2024"


@register_model("llm-sid")
class LLMSID(LLMItemTokens):
    meta = ModelMeta(
        name="LLM-SID",
        paradigm="llm",
        item_repr="sid",
        scheme="fine-tuned",
        backend="hf",
        supports=("score", "rank"),
        license="Apache-2.0",
        citation=f"{RECBENCH}; {LC_REC}; Allal et al., SmolLM2: When Smol Goes Big, arXiv:2502.02737",
        group="J",
        description="An LLM whose items are semantic-ID tokens (codes of their text embeddings), LoRA-tuned to "
        "write the next item's codes (exact constrained beam search over the catalogue's trie) and to answer "
        "yes/no on CTR (group F).",
    )
    tokenizer_kinds = SID_KINDS
    default_tokenizer = "sid-rqkmeans"
