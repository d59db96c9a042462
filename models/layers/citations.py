RECBENCH = (
    "Liu et al., Can LLMs Outshine Conventional Recommenders? A Comparative Evaluation "
    "(RecBench), NeurIPS 2025, arXiv:2503.05493"
)
