"""Text to model inputs with the ``tokenizers`` library, from a checkpoint's own tokenizer file.

``TextTransform`` turns a string or a list of strings into the dict of ``[B, T]`` tensors a text
encoder takes (``input_ids``, ``attention_mask``, ``token_type_ids``), truncated to the model's
maximum length and padded to the longest sequence of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

__all__ = ["TextTransform", "TokenizerFromAsset"]


@lru_cache(maxsize=8)
def _load_tokenizer(path: str, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.enable_truncation(max_length=max_length)
    padding = tokenizer.padding or {}
    # Files saved without a padding section still name their pad token in the vocabulary.
    pad_token = padding.get("pad_token") or next(
        (t for t in ("[PAD]", "<pad>") if tokenizer.token_to_id(t) is not None), None
    )
    if pad_token is None or tokenizer.token_to_id(pad_token) is None:
        raise ValueError(f"{path}: no padding settings and no [PAD] or <pad> token in the vocabulary")
    tokenizer.no_padding()
    tokenizer.enable_padding(
        pad_id=tokenizer.token_to_id(pad_token), pad_type_id=padding.get("pad_type_id", 0), pad_token=pad_token
    )
    return tokenizer


@dataclass(frozen=True)
class TextTransform:
    """Tokenizes with ``tokenizer_file`` (a ``tokenizer.json``); ``max_length`` counts the special
    tokens."""

    tokenizer_file: Path
    max_length: int
    with_token_types: bool = True
    _cache_key: tuple[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must leave room for the special tokens; found {self.max_length}")
        object.__setattr__(self, "_cache_key", (str(self.tokenizer_file), self.max_length))

    def __call__(self, texts: str | Sequence[str]) -> dict[str, torch.Tensor]:
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch or not all(isinstance(t, str) for t in batch):
            raise TypeError(f"expected a string or a non-empty list of strings; found {type(texts).__name__}")
        encodings = _load_tokenizer(*self._cache_key).encode_batch(batch)
        out = {
            "input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.long),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),
        }
        if self.with_token_types:
            out["token_type_ids"] = torch.tensor([e.type_ids for e in encodings], dtype=torch.long)
        return out

    def describe(self) -> str:
        return f"tokenizers ({Path(self.tokenizer_file).name}), truncate to {self.max_length}, pad to the longest"


class TokenizerFromAsset:
    """A weights entry's ``transforms`` factory: the ``TextTransform`` of its tokenizer asset
    (fetched and verified through the weight store when first called)."""

    def __init__(self, asset: Any, max_length: int, with_token_types: bool = True) -> None:
        self.asset, self.max_length, self.with_token_types = asset, max_length, with_token_types

    def __call__(self) -> TextTransform:
        return TextTransform(self.asset.fetch(), self.max_length, self.with_token_types)
