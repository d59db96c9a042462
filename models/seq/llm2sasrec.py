"""LLM2SASRec (Boz et al., Improving Sequential Recommendations with LLMs, Section 5.2): SASRec whose
item-embedding table starts as the PCA of the items' text embeddings (MiniLM here, OpenAI / PaLM
there) and is then trained exactly as SASRec is (models/layers/sequential.py,
TextInitialisedItems)."""

from __future__ import annotations

from benchmark.registry import register_model
from models.layers.sequential import TextInitialisedItems, llm2_meta
from models.seq.sasrec import SASRec


@register_model("llm2sasrec")
class LLM2SASRec(TextInitialisedItems, SASRec):
    """Defaults: SASRec's, since the study trains the enhanced model "in the same manner as our
    baseline"; PCA, the study's usual best reduction, to the embedding width (hidden = 64, its
    example width), the table scaled to SASRec's random-initialisation std (0.05)."""

    meta = llm2_meta(SASRec.meta, "LLM2SASRec")
