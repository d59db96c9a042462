"""Built-in model wrappers. Each module registers its model(s) with @register_model; adding a model
is one file plus one import line here."""

from models.baselines import oracle, popularity, random  # noqa: F401
from models.ctr import dnn  # noqa: F401
from models.llm import finetuned_text, zeroshot_text  # noqa: F401
from models.seq import sasrec  # noqa: F401
