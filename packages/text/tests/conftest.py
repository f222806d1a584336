"""Shared by the text tests: a GPT-2 checkpoint in openai-community/gpt2's exact layout, with a
byte-level BPE tokenizer in GPT-2's layout, made once per session (548 MB: the catalog entry fixes
the architecture)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

PROMPTS = [
    "The harbour was quiet that morning, and",
    "Ünïcödé and accents: déjà vu",
    "Short",
    "A much longer prompt about cats, ferries and the weather on the island, which",
]
CORPUS = [*PROMPTS, "The ferry leaves at noon; the cats stay home."] * 5


def tiny_transformers_model(kind: str):
    """A tiny random transformers model of each family ``from_huggingface`` imports (``bert``,
    ``gpt2``, ``t5``, ``bart``), seeded: what the importer tests save and mutate."""
    import transformers

    torch.manual_seed(0)
    if kind == "bert":
        config = transformers.BertConfig(
            vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=40,
        )  # fmt: skip
        return transformers.BertModel(config)
    if kind == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=99, n_positions=32, n_embd=32, n_layer=2, n_head=4, bos_token_id=1, eos_token_id=2
        )
        return transformers.GPT2LMHeadModel(config)
    if kind == "t5":
        config = transformers.T5Config(vocab_size=99, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
        return transformers.T5ForConditionalGeneration(config)
    if kind == "bart":
        config = transformers.BartConfig(
            vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=40,
        )  # fmt: skip
        return transformers.BartForConditionalGeneration(config)
    raise ValueError(f"no tiny model of {kind!r}")


def _tiny_checkpoint(kind: str, folder: Path, **save: object) -> tuple[Path, dict]:
    """`tiny_transformers_model` saved by transformers into ``folder / kind``; returns the
    directory and its ``config.json``."""
    import json

    tiny_transformers_model(kind).save_pretrained(folder / kind, **save)
    return folder / kind, json.loads((folder / kind / "config.json").read_text())


@pytest.fixture(scope="session")
def tiny_checkpoint():
    return _tiny_checkpoint


def _gpt2_layout_tokenizer(path: Path) -> Path:
    """A byte-level BPE tokenizer laid out as GPT-2's (no normalizer, no special tokens added)."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator(CORPUS, vocab_size=400, special_tokens=["<|endoftext|>"])
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="session")
def gpt2_layout_tokenizer():
    return _gpt2_layout_tokenizer


@pytest.fixture(scope="session")
def gpt2_hub(tmp_path_factory):
    """A transformers GPT-2 (124M), saved as openai-community/gpt2 publishes it: GPT2Model keys
    without a prefix, Conv1D weights, the causal-mask buffers, no separate LM head (embedding rows
    past the test tokenizer's 400 tokens are zero). Returns the folder to serve and the reference."""
    import transformers
    from safetensors.torch import save_file

    torch.manual_seed(0)
    reference = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    with torch.no_grad():  # tokens the small tokenizer lacks score 0: greedy text stays readable
        reference.transformer.wte.weight[400:] = 0
    state = {k: v.contiguous() for k, v in reference.transformer.state_dict().items()}
    for i in range(12):
        state[f"h.{i}.attn.bias"] = torch.tril(torch.ones(1024, 1024)).view(1, 1, 1024, 1024)
    root = tmp_path_factory.mktemp("hub")
    repo = root / "openai-community" / "gpt2" / "resolve" / "main"
    repo.mkdir(parents=True)
    save_file(state, str(repo / "model.safetensors"))
    _gpt2_layout_tokenizer(repo / "tokenizer.json")
    return root, reference
