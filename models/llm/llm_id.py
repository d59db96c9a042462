"""llm-id: the embedded LLM with one new token per item, ``<item_123>``, its row started at the
mean of the item's title token rows (P5; RecBench groups I on next item and D on CTR), trained
with LoRA plus those rows; `tokenizer: number-id` spells each item as its decimal number in the
LLM's own digit tokens instead (P5's sequential indexing, the cheap baseline: LoRA alone).
Everything else is models/llm/item_token_model.py."""

from __future__ import annotations

from benchmark.api import ModelMeta
from benchmark.registry import register_model
from models.layers.citations import RECBENCH
from models.llm.item_token_model import LLMItemTokens

P5 = "Geng et al., Recommendation as Language Processing (P5), RecSys 2022"


@register_model("llm-id")
class LLMID(LLMItemTokens):
    meta = ModelMeta(
        name="LLM-ID",
        paradigm="llm",
        item_repr="id",
        scheme="fine-tuned",
        backend="hf",
        supports=("score", "rank"),
        license="Apache-2.0",
        citation=f"{RECBENCH}; {P5}; Allal et al., SmolLM2: When Smol Goes Big, arXiv:2502.02737",
        group="I",
        description="An LLM with one new token per item (initialised from its title), LoRA-tuned to write the next "
        "item's token (exact constrained beam search over the catalogue) and to answer yes/no on CTR (group D).",
    )
    tokenizer_kinds = ("unique-id", "number-id")
    default_tokenizer = "unique-id"
