RECBENCH = (
    "Liu et al., Can LLMs Outshine Conventional Recommenders? A Comparative Evaluation "
    "(RecBench), NeurIPS 2025, arXiv:2503.05493"
)
LLM_SEQREC = (
    "Boz, Zorgdrager, Kotti, Harte, Louridas, Karakouidas, Jannach & Fragkoulis, Improving Sequential "
    "Recommendations with LLMs (extends Harte et al., Leveraging Large Language Models for Sequential "
    "Recommendation, RecSys 2023)"
)
UQABENCH = (
    "Liu et al., UQABench: Evaluating User Embedding for Prompting LLMs in Personalized Question "
    "Answering, 2025"
)
TRANSFORMER_PP = (
    "Gu & Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces, arXiv:2312.00752 (the name); "
    "Touvron et al., LLaMA: Open and Efficient Foundation Language Models, arXiv:2302.13971 (the block); "
    "Su et al., RoFormer: Enhanced Transformer with Rotary Position Embedding, arXiv:2104.09864; "
    "Shazeer, GLU Variants Improve Transformer, arXiv:2002.05202"
)
HSTU_PAPER = (
    "Zhai et al., Actions Speak Louder than Words: Trillion-Parameter Sequential Transducers for Generative "
    "Recommendations, ICML 2024, arXiv:2402.17152"
)
