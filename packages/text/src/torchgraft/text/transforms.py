"""Text to model inputs with the ``tokenizers`` library, from a checkpoint's own tokenizer file.

``TextTransform`` turns texts (or sentence pairs, or pre-split words) into the dict of ``[B, T]``
tensors a text encoder takes (``input_ids``, ``attention_mask``, ``token_type_ids``), truncated to
the model's maximum length and padded to the longest sequence of the batch. On request it also
returns each token's word index (to align word labels), the character offsets of every token, and
overflowing windows of long inputs (for question answering over long contexts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import torch

__all__ = ["TextTransform", "TokenizerFromAsset", "hub_tokenizer"]


TRUNCATION = ("longest_first", "only_first", "only_second")


PADDING_SIDES = ("right", "left")


@lru_cache(maxsize=16)
def _load_tokenizer(
    path: str,
    max_length: int,
    truncation: str = "longest_first",
    stride: int = 0,
    padding_side: str = "right",
    pad_token: str | None = None,
) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(path)
    tokenizer.enable_truncation(max_length=max_length, strategy=truncation, stride=stride)
    padding = tokenizer.padding or {}
    # Files saved without a padding section still name their pad token in the vocabulary.
    pad_token = (
        pad_token
        or padding.get("pad_token")
        or next((t for t in ("[PAD]", "<pad>") if tokenizer.token_to_id(t) is not None), None)
    )
    if pad_token is None or tokenizer.token_to_id(pad_token) is None:
        raise ValueError(
            f"{path}: no padding settings and no {pad_token or '[PAD] or <pad>'} token in the vocabulary; "
            "name one with pad_token="
        )
    tokenizer.no_padding()
    tokenizer.enable_padding(
        direction=padding_side,
        pad_id=tokenizer.token_to_id(pad_token),
        pad_type_id=padding.get("pad_type_id", 0),
        pad_token=pad_token,
    )
    return tokenizer


def _batch_of(texts: Any, words: bool, what: str) -> list[Any]:
    """A list of strings, or with ``words`` a list of word lists; a single one is wrapped."""

    def one(item: Any) -> bool:
        if not words:
            return isinstance(item, str)
        return isinstance(item, (list, tuple)) and all(isinstance(w, str) for w in item)

    if one(texts):
        return [texts]
    if isinstance(texts, (list, tuple)) and texts and all(one(t) for t in texts):
        return list(texts)
    expected = "a list of words, or a list of such lists" if words else "a string or a non-empty list of strings"
    raise TypeError(f"{what}: expected {expected}; found {type(texts).__name__}")


@dataclass(frozen=True)
class TextTransform:
    """Tokenizes with ``tokenizer_file`` (a ``tokenizer.json``); ``max_length`` counts the special
    tokens. Call it as transformers' tokenizers are called::

        transform(texts)                                   # a string or a list of strings
        transform(questions, contexts, truncation="only_second")  # sentence pairs
        transform(words, is_split_into_words=True, return_word_ids=True)  # pre-split words
    """

    tokenizer_file: Path
    max_length: int
    with_token_types: bool = True
    #: ``"left"`` for decoder prompts, so every row's last token is real and generation continues it.
    padding_side: str = "right"
    #: The padding token where the file names none (GPT-2 pads with ``<|endoftext|>``).
    pad_token: str | None = None

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must leave room for the special tokens; found {self.max_length}")
        if self.padding_side not in PADDING_SIDES:
            raise ValueError(f"padding_side must be one of {PADDING_SIDES}; found {self.padding_side!r}")

    def _tokenizer(self, truncation: str = "longest_first", stride: int = 0) -> Any:
        return _load_tokenizer(
            str(self.tokenizer_file), self.max_length, truncation, stride, self.padding_side, self.pad_token
        )

    @property
    def pad_token_id(self) -> int:
        return self._tokenizer().padding["pad_id"]

    def decode(self, ids: Sequence[int] | torch.Tensor, *, skip_special_tokens: bool = True) -> str:
        """The text of one row of token ids (special tokens, padding among them, left out)."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode takes one row of ids; found shape {list(ids.shape)} (use batch_decode)")
            ids = ids.tolist()
        return self._tokenizer().decode(list(ids), skip_special_tokens=skip_special_tokens)

    def batch_decode(
        self, ids: Sequence[Sequence[int]] | torch.Tensor, *, skip_special_tokens: bool = True
    ) -> list[str]:
        """The text of each row of ``ids`` ``[B, T]``."""
        rows = ids.tolist() if isinstance(ids, torch.Tensor) else [list(r) for r in ids]
        return self._tokenizer().decode_batch(rows, skip_special_tokens=skip_special_tokens)

    def __call__(
        self,
        texts: str | Sequence[str] | Sequence[Sequence[str]],
        text_pairs: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        *,
        is_split_into_words: bool = False,
        truncation: str = "longest_first",
        stride: int = 0,
        return_overflowing: bool = False,
        return_word_ids: bool = False,
        return_offsets: bool = False,
    ) -> dict[str, torch.Tensor]:
        """``[B, T]`` tensors: ``input_ids``, ``attention_mask``, ``token_type_ids`` (where the model
        has token types: 0 for the first text of a pair, 1 for the second).

        ``truncation``: which text of a pair gives way when the pair is too long: ``"longest_first"``
        (a token at a time from the longer), ``"only_second"`` (the context of a question, say) or
        ``"only_first"``. ``return_overflowing``: the tokens truncation cut come back as further
        rows, each window overlapping the previous one by ``stride`` tokens, with
        ``overflow_to_sample`` ``[B']`` naming the input each row came from. ``return_word_ids``:
        ``word_ids`` ``[B, T]``, the index of each token's word in its text (-1 for special and
        padding tokens). ``return_offsets``: ``offsets`` ``[B, T, 2]`` character spans in their text,
        and ``sequence_ids`` ``[B, T]`` (0 or 1: which text of a pair; -1 for special tokens)."""
        if truncation not in TRUNCATION:
            raise ValueError(f"truncation must be one of {TRUNCATION}; found {truncation!r}")
        if stride < 0 or stride >= self.max_length:
            raise ValueError(f"stride must be in [0, max_length={self.max_length}); found {stride}")
        if truncation != "longest_first" and text_pairs is None:
            raise ValueError(f"truncation={truncation!r} needs text_pairs")
        first = _batch_of(texts, is_split_into_words, "texts")
        inputs: list[Any] = first
        if text_pairs is not None:
            second = _batch_of(text_pairs, is_split_into_words, "text_pairs")
            if len(second) != len(first):
                raise ValueError(f"expected one text pair per text; found {len(first)} texts and {len(second)} pairs")
            inputs = list(zip(first, second, strict=True))
        tokenizer = self._tokenizer(truncation, stride)
        try:
            encodings = tokenizer.encode_batch(inputs, is_pretokenized=is_split_into_words)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # tokenizers' errors, and its Rust panics (a stride longer than a window)
            raise ValueError(
                f"cannot tokenize within max_length={self.max_length} (truncation={truncation!r}, stride={stride}): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        sample = list(range(len(encodings)))
        if return_overflowing:
            rows, sample = [], []
            for i, encoding in enumerate(encodings):
                for window in (encoding, *encoding.overflowing):
                    rows.append(window)
                    sample.append(i)
            encodings = _pad_windows(tokenizer, rows, self.padding_side)
        out = {
            "input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.long),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),
        }
        if self.with_token_types:
            out["token_type_ids"] = torch.tensor([e.type_ids for e in encodings], dtype=torch.long)
        if return_word_ids:
            out["word_ids"] = torch.tensor([[-1 if w is None else w for w in e.word_ids] for e in encodings])
        if return_offsets:
            out["offsets"] = torch.tensor([e.offsets for e in encodings], dtype=torch.long)
            out["sequence_ids"] = torch.tensor([[-1 if s is None else s for s in e.sequence_ids] for e in encodings])
        if return_overflowing:
            out["overflow_to_sample"] = torch.tensor(sample, dtype=torch.long)
        return out

    def describe(self) -> str:
        return f"tokenizers ({Path(self.tokenizer_file).name}), truncate to {self.max_length}, pad to the longest"


def _pad_windows(tokenizer: Any, windows: list[Any], side: str) -> list[Any]:
    """Overflowing windows are padded only to their own encoding's length: pad them all to the
    longest, as the batch's first windows are."""
    padding = tokenizer.padding
    longest = max(len(w.ids) for w in windows)
    for window in windows:
        window.pad(
            longest,
            direction=side,
            pad_id=padding["pad_id"],
            pad_type_id=padding["pad_type_id"],
            pad_token=padding["pad_token"],
        )
    return windows


class TokenizerFromAsset:
    """A weights entry's ``transforms`` factory: the ``TextTransform`` of its tokenizer asset
    (fetched and verified through the weight store when first called)."""

    def __init__(
        self,
        asset: Any,
        max_length: int,
        with_token_types: bool = True,
        *,
        padding_side: str = "right",
        pad_token: str | None = None,
    ) -> None:
        self.asset, self.max_length, self.with_token_types = asset, max_length, with_token_types
        self.padding_side, self.pad_token = padding_side, pad_token

    def __call__(self) -> TextTransform:
        return TextTransform(
            self.asset.fetch(), self.max_length, self.with_token_types, self.padding_side, self.pad_token
        )


def _tokenizer_for(assets: Mapping[str, Any], *, file: str, **options: Any) -> TokenizerFromAsset:
    return TokenizerFromAsset(assets[file], **options)


def hub_tokenizer(
    *,
    max_length: int,
    with_token_types: bool = True,
    padding_side: str = "right",
    pad_token: str | None = None,
    file: str = "tokenizer.json",
) -> Callable[[Mapping[str, Any]], TokenizerFromAsset]:
    """A `HubFamily`'s ``transforms``: each entry's `TokenizerFromAsset` over its own ``file`` asset."""
    return partial(
        _tokenizer_for,
        file=file,
        max_length=max_length,
        with_token_types=with_token_types,
        padding_side=padding_side,
        pad_token=pad_token,
    )
