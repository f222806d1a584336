"""``torchgraft embed``, ``torchgraft similarity`` and ``torchgraft generate`` (a
``torchgraft.cli`` plugin)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "all_minilm_l6_v2"
DEFAULT_GENERATOR = "gpt2"


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    for name, help_text, func in (
        ("embed", "sentence embeddings of texts", embed),
        ("similarity", "cosine-similarity matrix of texts", similarity),
    ):
        p = sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("texts", nargs="+", metavar="TEXT")
        p.add_argument("--model", help=f"a sentence-embedding model (default {DEFAULT_MODEL})")
        p.add_argument("--weights", help="its weights: MEMBER, model.MEMBER or Enum.MEMBER (default DEFAULT)")
        p.set_defaults(func=func)
    p = sub.add_parser(
        "generate",
        parents=[common],
        help="continue prompts (decoders) or answer them (encoder-decoders); streams to a terminal",
    )
    p.add_argument("prompts", nargs="+", metavar="PROMPT")
    p.add_argument(
        "--model",
        help=f"a generative model: gpt2, distilgpt2, t5_small, flan_t5_base, bart_large_cnn, ... (default {DEFAULT_GENERATOR})",
    )
    p.add_argument("--weights", help="its weights: MEMBER, model.MEMBER or Enum.MEMBER (default DEFAULT)")
    p.add_argument("--max-new-tokens", type=int, help="tokens to generate at most (default: the weights' own, else 20)")
    p.add_argument("--temperature", type=float, help="sample at this temperature (turns sampling on)")
    p.add_argument("--top-k", type=int, help="sample from the k most likely tokens (turns sampling on)")
    p.add_argument("--top-p", type=float, help="sample from the smallest set with this probability (turns sampling on)")
    p.add_argument("--beams", type=int, help="beam search with this many beams")
    p.add_argument("--seed", type=_seed, help="seed for sampling (reproducible output), 0 to 2**64 - 1")
    p.set_defaults(func=generate)


def _seed(text: str) -> int:
    """``--seed``: an integer torch's generators take (0 to 2**64 - 1), named when it is not."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer from 0 to 2**64 - 1; found {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"--seed must be an integer from 0 to 2**64 - 1; found {value}")
    return value


def _embed(args: argparse.Namespace) -> tuple[Any, str]:
    import torch

    import torchgraft.core as tg
    from torchgraft.core.cli import pick_weights

    args.model, weights = pick_weights(args.model, args.weights, DEFAULT_MODEL)
    if weights.role == "backbone":  # decided before any download
        raise ValueError(
            f"{weights} are encoder weights, not a sentence-embedding model: use a model such as "
            f"{DEFAULT_MODEL}, or build one with torchgraft.text.models.sentence_embedder(backbone={args.model!r})"
        )
    if "embedding_dim" not in weights.meta or weights.transforms is None:  # resnet50, gpt2, ...: before any download
        raise ValueError(
            f"{weights} is not a sentence-embedding model's weights (its entry declares no embedding_dim and "
            f"tokenizer): use a model such as {DEFAULT_MODEL}"
        )
    model = tg.get_model(args.model, weights=weights).eval()
    with torch.inference_mode():
        vectors = model(**weights.transforms()(args.texts))
    if vectors.dim() != 2:
        raise ValueError(f"{args.model} is not a sentence-embedding model: it returned shape {list(vectors.shape)}")
    return vectors, str(weights)


def embed(args: argparse.Namespace) -> int:
    from torchgraft.core.cli import emit

    vectors, weights = _embed(args)
    data = {
        "model": args.model,
        "weights": weights,
        "embeddings": [[round(float(x), 7) for x in row] for row in vectors],
    }

    def text(d: dict[str, Any]) -> str:
        lines = [f"{d['model']} ({d['weights']}): {len(d['embeddings'][0])} dimensions"]
        for t, row in zip(args.texts, d["embeddings"], strict=True):
            lines.append(f"{t[:40]!r}: [{', '.join(f'{x:+.4f}' for x in row[:4])}, ...]")
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def similarity(args: argparse.Namespace) -> int:
    import torch.nn.functional as F

    from torchgraft.core.cli import emit

    vectors, weights = _embed(args)
    unit = F.normalize(vectors, dim=-1)
    matrix = (unit @ unit.T).clamp(-1, 1)
    data = {
        "model": args.model,
        "weights": weights,
        "texts": args.texts,
        "similarity": [[round(float(x), 6) for x in row] for row in matrix],
    }

    def text(d: dict[str, Any]) -> str:
        labels = [f"[{i}]" for i in range(len(d["texts"]))]
        lines = [f"{label} {t}" for label, t in zip(labels, d["texts"], strict=True)]
        lines.append("      " + " ".join(f"{label:>6}" for label in labels))
        lines += [
            f"{label:>5} " + " ".join(f"{x:6.3f}" for x in row)
            for label, row in zip(labels, d["similarity"], strict=True)
        ]
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def _generation_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    sampling = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}
    options.update({k: v for k, v in sampling.items() if v is not None})
    if options:
        options["do_sample"] = True
    if args.beams is not None:
        options["num_beams"] = args.beams
    if args.max_new_tokens is not None:
        options["max_new_tokens"] = args.max_new_tokens
    return options


class _TextStream:
    """Prints a row's new text as its tokens come, holding back an incomplete UTF-8 character."""

    def __init__(self, transform: Any, out: Any) -> None:
        self.transform, self.out, self.ids, self.shown = transform, out, [], ""

    def __call__(self, tokens: Any) -> None:
        self.ids.append(int(tokens[0]))
        text = self.transform.decode(self.ids)
        if not text.endswith("\ufffd") and len(text) > len(self.shown):
            self.out.write(text[len(self.shown) :])
            self.out.flush()
            self.shown = text


def generate(args: argparse.Namespace) -> int:
    import torch

    import torchgraft.core as tg
    from torchgraft.core.cli import UsageError, emit, pick_weights
    from torchgraft.core.generation import with_publisher_defaults

    options = _generation_options(args)
    if args.model is not None and Path(args.model).is_dir():  # a transformers folder (save_pretrained)
        from .models import from_huggingface
        from .transforms import TextTransform

        if args.weights is not None:
            raise UsageError(f"--weights names a catalog entry; the folder {args.model} brings its own weights")
        _check_prompts(args.prompts)
        transform = TextTransform.from_pretrained(args.model)
        model = from_huggingface(args.model).eval()
        model.generation_config.merged(options)
        weights: Any = Path(args.model).resolve()
    else:
        args.model, weights = pick_weights(args.model, args.weights, DEFAULT_GENERATOR)
        if "generation" not in weights.meta:  # decided before any download
            raise ValueError(
                f"{weights} is not a generative model's weights: use a decoder or an encoder-decoder such as "
                f"{DEFAULT_GENERATOR}, t5_small or bart_large_cnn (torchgraft list --domain text)"
            )
        with_publisher_defaults(tg.GenerationConfig(), weights).merged(options)  # bad values fail before any download
        _check_prompts(args.prompts)
        weights.fetch()  # the store's typed errors (offline, unreachable, corrupt) before any work
        transform = weights.transforms()
        model = tg.get_model(args.model, weights=weights).eval()
    seq2seq = hasattr(model, "encode")
    generator = torch.Generator().manual_seed(args.seed) if args.seed is not None else None
    stream = sys.stdout.isatty() and not args.json and options.get("num_beams", 1) == 1
    results = []
    # On a terminal each prompt streams as it is made; otherwise the prompts go as one batch.
    for prompts in [[p] for p in args.prompts] if stream else [args.prompts]:
        inputs = transform(prompts)
        if stream:
            print(f"{prompts[0]}" + ("\n-> " if seq2seq else ""), end="", flush=True)
        streamer = _TextStream(transform, sys.stdout) if stream else None
        out = tg.generate(model, **inputs, generator=generator, streamer=streamer, **options)
        new = out[:, 1:] if seq2seq else out[:, inputs["input_ids"].shape[1] :]
        for prompt, row in zip(prompts, new.tolist(), strict=True):
            tokens = _until_eos(row, model.generation_config.eos_ids)
            results.append({"prompt": prompt, "text": transform.decode(tokens), "tokens": tokens})
        if stream:
            print()
    if stream:
        return 0
    data = {"model": args.model, "weights": str(weights), "results": results}
    emit(
        args,
        data,
        lambda d: "\n\n".join(f"{r['prompt']}{'' if not seq2seq else ' -> '}{r['text']}" for r in d["results"]),
    )
    return 0


def _check_prompts(prompts: list[str]) -> None:
    """Each prompt is text a tokenizer can read: not empty, and valid UTF-8 (a shell passes bytes
    that are not as lone surrogates), said before any download."""
    from torchgraft.core.cli import UsageError

    for i, prompt in enumerate(prompts, 1):
        if not prompt:
            raise UsageError(f"PROMPT {i} is empty: give the text to continue (or answer)")
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = prompt[exc.start].encode("utf-8", "surrogateescape").hex()
            raise UsageError(
                f"PROMPT {i} is not valid UTF-8 text: byte 0x{byte} at character {exc.start}; pass the text in UTF-8"
            ) from None


def _until_eos(tokens: list[int], eos: tuple[int, ...]) -> list[int]:
    """The tokens a row made, up to and without its first EOS (the rest is padding)."""
    for i, token in enumerate(tokens):
        if token in eos:
            return tokens[:i]
    return tokens
