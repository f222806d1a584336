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


def _pairs_have_types(file: Path) -> bool:
    """Whether the tokenizer marks a pair's second text with token type 1 (BERT's post-processor),
    as transformers' tokenizers that return ``token_type_ids`` do; GPT-2's, RoBERTa's, T5's do not."""
    import json

    processor = (
        json.loads(file.read_text(encoding="utf-8")).get("post_processor") or {}
    )  # the file is the serialized tokenizer
    kinds = [processor, *processor.get("processors", [])] if processor.get("type") == "Sequence" else [processor]
    for kind in kinds:
        if kind.get("type") == "BertProcessing":
            return True
        if kind.get("type") == "TemplateProcessing":
            pieces = [next(iter(piece.values())) for piece in kind.get("pair", [])]
            if any(piece.get("type_id", 0) for piece in pieces if isinstance(piece, dict)):
                return True
    return False


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
        if Path(self.tokenizer_file).is_dir():
            raise ValueError(
                f"{self.tokenizer_file} is a directory; expected its tokenizer.json: "
                f"TextTransform.from_pretrained({str(self.tokenizer_file)!r}) reads the folder as transformers does"
            )
        if self.max_length < 2:
            raise ValueError(f"max_length must leave room for the special tokens; found {self.max_length}")
        if self.padding_side not in PADDING_SIDES:
            raise ValueError(f"padding_side must be one of {PADDING_SIDES}; found {self.padding_side!r}")

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        *,
        max_length: int | None = None,
        padding_side: str | None = None,
        with_token_types: bool | None = None,
    ) -> TextTransform:
        """The tokenizer a transformers folder holds (``save_pretrained`` of a fast tokenizer):
        ``tokenizer.json`` with ``tokenizer_config.json``'s special tokens, padding side, model max
        length and model input names (no ``token_type_ids`` there: none here). Keywords override them."""
        folder = Path(directory)
        file = folder / "tokenizer.json" if folder.is_dir() else folder
        if not file.is_file():
            raise FileNotFoundError(
                f"no tokenizer.json in {folder}: torchgraft reads a fast tokenizer's file; write one with "
                "AutoTokenizer.from_pretrained(...).save_pretrained(folder)"
            )
        config_path = file.with_name("tokenizer_config.json")
        config: dict[str, Any] = {}
        if config_path.is_file():
            from torchgraft.core.preflight import read_json

            config = read_json(config_path)
        model_max = config.get("model_max_length")
        if max_length is None:
            # transformers writes a huge sentinel when the length is unknown
            max_length = int(model_max) if isinstance(model_max, int) and 2 <= model_max <= 1 << 20 else 512

        def token(key: str) -> str | None:
            value = config.get(key)
            value = value.get("content") if isinstance(value, dict) else value
            return value if isinstance(value, str) else None

        # A decoder's folder often names no pad token (GPT-2's): pad with its end-of-text token, as
        # transformers users set tokenizer.pad_token = tokenizer.eos_token.
        pad = token("pad_token") or token("eos_token")
        names = config.get("model_input_names")
        if with_token_types is None:
            with_token_types = "token_type_ids" in names if isinstance(names, list) else _pairs_have_types(file)
        return cls(
            tokenizer_file=file,
            max_length=max_length,
            with_token_types=with_token_types,
            padding_side=padding_side or config.get("padding_side") or "right",
            pad_token=pad,
        )

    def _tokenizer(self, truncation: str = "longest_first", stride: int = 0, max_length: int | None = None) -> Any:
        return _load_tokenizer(
            str(self.tokenizer_file),
            max_length or self.max_length,
            truncation,
            stride,
            self.padding_side,
            self.pad_token,
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
        truncation: str | bool = "longest_first",
        stride: int = 0,
        return_overflowing: bool = False,
        return_word_ids: bool = False,
        return_offsets: bool = False,
        text_pair: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        padding: bool | str = True,
        max_length: int | None = None,
        return_tensors: str | None = "pt",
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
        and ``sequence_ids`` ``[B, T]`` (0 or 1: which text of a pair; -1 for special tokens).

        transformers' keywords work as there: ``text_pair=`` (for ``text_pairs``), ``padding=``
        (``True``/``"longest"``: to the longest row; ``"max_length"``: to ``max_length``; ``False``
        where the rows are equally long), ``truncation=True`` (``"longest_first"``) or ``False`` (a
        text longer than ``max_length`` is an error instead of cut), ``max_length=`` (at most the
        model's) and ``return_tensors="pt"`` (the only kind returned)."""
        if text_pair is not None:
            if text_pairs is not None:
                raise TypeError("got text_pairs and text_pair=; pass one")
            text_pairs = text_pair
        if return_tensors not in ("pt", None):
            raise ValueError(
                f"return_tensors={return_tensors!r}: torchgraft returns torch tensors; pass 'pt' or leave it out"
            )
        limit = self.max_length if max_length is None else max_length
        if not isinstance(limit, int) or not 2 <= limit <= self.max_length:
            raise ValueError(f"max_length must be in [2, {self.max_length}] (the model's limit); found {max_length!r}")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad'; found {padding!r}")
        refuse_long = truncation is False or truncation == "do_not_truncate"
        truncation = "longest_first" if truncation is True or refuse_long else truncation
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
        tokenizer = self._tokenizer(truncation, stride, limit)
        try:
            encodings = tokenizer.encode_batch(inputs, is_pretokenized=is_split_into_words)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # tokenizers' errors, and its Rust panics (a stride longer than a window)
            raise ValueError(
                f"cannot tokenize within max_length={self.max_length} (truncation={truncation!r}, stride={stride}): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        if refuse_long:
            long = [i for i, e in enumerate(encodings) if e.overflowing]
            if long:
                raise ValueError(
                    f"texts {long} are longer than max_length={limit} tokens and truncation=False: shorten them, "
                    "or pass truncation=True"
                )
        if padding == "max_length":
            for encoding in encodings:
                encoding.pad(limit, direction=self.padding_side, pad_id=tokenizer.padding["pad_id"],
                             pad_type_id=tokenizer.padding["pad_type_id"], pad_token=tokenizer.padding["pad_token"])  # fmt: skip
        elif padding in (False, "do_not_pad"):
            lengths = {sum(e.attention_mask) for e in encodings}
            if len(lengths) > 1:
                raise ValueError(
                    f"padding=False leaves rows of {sorted(lengths)} tokens, which make no tensor: pass padding=True"
                )
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
