"""A tiny random causal LM with a locally trained tokenizer and a chat template, saved as a normal
transformers checkpoint: for tests and examples that must run in seconds, offline."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CORPUS = [
    "You are a recommender system. Will the user interact with the candidate item? Answer Yes or No.",
    "The user's history, oldest first: the dark knight, toy story, the matrix, finding nemo.",
    "Candidate item: a movie about space travel. Category: movies. Brand: studio.",
    "Yes No Yes No yes no YES NO",
    "Yes",
    "No",
    "books music news fashion video games kitchen garden toys",
]


def make_tiny_checkpoint(
    directory: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 384,
    hidden_size: int = 32,
    layers: int = 2,
    with_pad_token: bool = False,
) -> Path:
    """Write a random LlamaForCausalLM (a few ten thousand parameters) and its byte-level BPE
    tokenizer to `directory`; without `with_pad_token` the tokenizer has no pad token, as many
    causal LMs ship."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>" if with_pad_token else None,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)

    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def make_tiny_adapter(base_directory: str | Path, directory: str | Path, *, seed: int = 1, rank: int = 4) -> Path:
    """Write a peft LoRA adapter for the checkpoint at `base_directory`, with random (not zero)
    B matrices so that it changes the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_directory, local_files_only=True)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "v_proj"],
        task_type="CAUSAL_LM",
        init_lora_weights=False,
    )
    get_peft_model(base, config).save_pretrained(directory)
    return Path(directory)
