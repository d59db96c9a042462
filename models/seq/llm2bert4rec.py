"""LLM2BERT4Rec (Boz et al., Improving Sequential Recommendations with LLMs, Section 5.2): BERT4Rec
whose item-embedding table starts as the PCA of the items' text embeddings (MiniLM here, OpenAI / PaLM
there) and is then trained exactly as BERT4Rec is (models/layers/sequential.py,
TextInitialisedItems)."""

from __future__ import annotations

from benchmark.registry import register_model
from models.layers.sequential import TextInitialisedItems, llm2_meta
from models.seq.bert4rec import BERT4Rec


@register_model("llm2bert4rec")
class LLM2BERT4Rec(TextInitialisedItems, BERT4Rec):
    """Defaults: BERT4Rec's, since the study trains the enhanced model "in the same manner as our
    baseline"; PCA, the study's usual best reduction, to the embedding width (hidden = 64, its
    example width), the table scaled to BERT4Rec's random-initialisation std (0.05)."""

    meta = llm2_meta(BERT4Rec.meta, "LLM2BERT4Rec")
