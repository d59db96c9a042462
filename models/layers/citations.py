RECBENCH = (
    "Liu et al., Can LLMs Outshine Conventional Recommenders? A Comparative Evaluation "
    "(RecBench), NeurIPS 2025, arXiv:2503.05493"
)
LLM_SEQREC = (
    "Boz, Zorgdrager, Kotti, Harte, Louridas, Karakouidas, Jannach & Fragkoulis, Improving Sequential "
    "Recommendations with LLMs (extends Harte et al., Leveraging Large Language Models for Sequential "
    "Recommendation, RecSys 2023)"
)
