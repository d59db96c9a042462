"""Built-in model wrappers. Each module registers its model(s) with @register_model; adding a model
is one file plus one import line here."""

from models.baselines import oracle, popularity, random  # noqa: F401
from models.ctr import autoint, dcn, dcnv2, deepfm, dnn, finalmlp, gdcn, masknet, pnn  # noqa: F401
from models.llm import emb_prompt, finetuned_text, llm_id, llm_sid, qa_lora, qa_text, zeroshot_text  # noqa: F401
from models.seq import sasrec  # noqa: F401
from models.seq import bert4rec, gru4rec, hstu, llm2bert4rec, llm2gru4rec, llm2sasrec, llmseqsim, sknn_emb, tiger, transformerpp, vsknn  # noqa: F401
