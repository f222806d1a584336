"""The GPU benchmark: one script of a few minutes, for a machine with a GPU (CI never has one).

    python benchmarks/gpu.py                      # on a GPU machine: bf16, torch.compile, the full table
    python benchmarks/gpu.py --device cpu --quick --dtype float32 --no-compile   # a smoke run anywhere

It measures, with identical weights in both libraries:

1. loading straight to the GPU from the page cache, in GB/s: torchgraft's meta build + memory-mapped
   load with ``device=`` against safetensors' ``load_file(device=)`` + ``load_state_dict`` into a
   model built on the GPU (target: >= 7 GB/s on an H200-class machine);
2. inference throughput in ``--dtype`` (bf16) against torchvision (ResNet-50, ViT-B/16), torchaudio
   (wav2vec 2.0 base) and transformers (BERT-base), eager and ``torch.compile``;
3. generation tokens/s for GPT-2 against transformers' ``generate`` (greedy, same new tokens),
   eager and with ``generate(compile=True)``.

It prints one side-by-side table (ratios are torchgraft over the reference; above 1 is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _harness import markdown_table

Row = list[str]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeat: int) -> float:
    """Median seconds of ``repeat`` calls, after one warm-up call."""
    fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------- 1. loading to the GPU
def loading_rows(device: torch.device, name: str, repeat: int) -> list[Row]:
    from safetensors.torch import load_file, save_file

    import torchgraft.core as tg
    from torchgraft.core.loading import init_empty, load_weights

    with init_empty():
        shapes = {k: (v.shape, v.dtype) for k, v in tg.get_model(name).state_dict().items()}
    state = {
        k: torch.randn(s).to(d) if d.is_floating_point else torch.zeros(s, dtype=d) for k, (s, d) in shapes.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"{name}.safetensors")
        save_file(state, str(path))
        del state
        size = path.stat().st_size
        path.read_bytes()  # in the page cache: the GPU path, not the disk, is measured

        def ours() -> None:
            with init_empty():
                model = tg.get_model(name)
            load_weights(model, path, device=device)

        def usual() -> None:
            with torch.device(device):
                model = tg.get_model(name)  # random init on the GPU, as a plain build does
            model.load_state_dict(load_file(str(path), device=str(device)))

        t_usual, t_ours = timed(usual, device, repeat), timed(ours, device, repeat)
    gbs = lambda t: f"{size / t / 1e9:.2f} GB/s"  # noqa: E731
    return [
        [
            f"load {name} ({size / 2**30:.2f} GiB) to {device.type}",
            "load_file + load_state_dict",
            gbs(t_usual),
            gbs(t_ours),
            f"{t_usual / t_ours:.2f}x",
        ]
    ]


# --------------------------------------------------------------------------- 2. inference
def twins(name: str, quick: bool) -> tuple[str, torch.nn.Module, torch.nn.Module, Callable[[int], tuple]]:
    """(reference library, its model, torchgraft's with the same weights, inputs of a batch)."""
    import torchgraft.core as tg
    from torchgraft.core.loading import load_weights

    torch.manual_seed(0)
    if name in ("resnet50", "vit_b_16"):
        import torchvision

        ref = getattr(torchvision.models, name)()
        ours = tg.get_model(name)
        load_weights(ours, ref.state_dict())
        return "torchvision", ref, ours, lambda b: (torch.randn(b, 3, 224, 224),)
    if name == "wav2vec2_base":
        import torchaudio

        ref = torchaudio.models.wav2vec2_base()
        ours = tg.get_model(name)
        load_weights(ours, ref.state_dict())
        return "torchaudio", ref, ours, lambda b: (torch.randn(b, 16000 * (2 if quick else 10)),)
    import transformers

    from torchgraft.text.models import hf_to_torchgraft

    ref = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=False, attn_implementation="sdpa")
    ours = tg.get_model("bert_base")
    load_weights(ours, hf_to_torchgraft(dict(ref.state_dict())))
    return "transformers", ref, ours, lambda b: (torch.randint(0, 30522, (b, 128)),)


def inference_rows(
    device: torch.device, dtype: torch.dtype, names: list[str], batch: int, repeat: int, compile: bool
) -> list[Row]:
    rows = []
    for name in names:
        library, ref, ours, make = twins(name, quick=batch <= 2)
        inputs = tuple(x.to(device) if not x.is_floating_point() else x.to(device, dtype) for x in make(batch))
        ref, ours = (m.to(device, dtype).eval() for m in (ref, ours))
        modes = [("eager", lambda m: m)] + ([("compile", torch.compile)] if compile else [])
        for mode, wrap in modes:
            r, o = wrap(ref), wrap(ours)
            with torch.inference_mode():
                t_ref = timed(lambda r=r, x=inputs: r(*x), device, repeat)
                t_ours = timed(lambda o=o, x=inputs: o(*x), device, repeat)
            per = "items/s"
            rows.append(
                [
                    f"{name} {str(dtype).removeprefix('torch.')} {mode}, batch {batch}",
                    library,
                    f"{batch / t_ref:.1f} {per}",
                    f"{batch / t_ours:.1f} {per}",
                    f"{t_ref / t_ours:.2f}x",
                ]
            )
        del ref, ours
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


# --------------------------------------------------------------------------- 3. generation
def generation_rows(device: torch.device, dtype: torch.dtype, new: int, batch: int, compile: bool) -> list[Row]:
    import transformers

    import torchgraft.core as tg
    from torchgraft.core.loading import load_weights
    from torchgraft.text.models import hf_to_gpt2

    torch.manual_seed(0)
    ref = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    ours = tg.get_model("gpt2", dropout=0.0).eval()
    load_weights(ours, hf_to_gpt2(dict(ref.state_dict())))
    ref, ours = ref.to(device, dtype), ours.to(device, dtype)
    ids = torch.randint(5, 30000, (batch, 32), device=device)
    mask = torch.ones_like(ids)
    options = {"max_new_tokens": new, "min_new_tokens": new, "do_sample": False}

    def run_ref() -> torch.Tensor:
        return ref.generate(input_ids=ids, attention_mask=mask, pad_token_id=50256, **options)

    def run_ours(compiled: bool = False) -> torch.Tensor:
        return tg.generate(ours, ids, attention_mask=mask, compile=compiled, **options)

    with torch.inference_mode():
        same = torch.equal(run_ref()[:, 32:], run_ours()[:, 32:])
        t_ref = timed(run_ref, device, 2)
        t_ours = timed(run_ours, device, 2)
        rows = [
            [
                f"gpt2 generate {str(dtype).removeprefix('torch.')}, batch {batch}, {new} new (same tokens: {same})",
                "transformers",
                f"{batch * new / t_ref:.1f} tok/s",
                f"{batch * new / t_ours:.1f} tok/s",
                f"{t_ref / t_ours:.2f}x",
            ]
        ]
        if compile:
            t_comp = timed(lambda: run_ours(True), device, 2)
            rows.append(
                [
                    f"gpt2 generate(compile=True), batch {batch}",
                    "transformers",
                    f"{batch * new / t_ref:.1f} tok/s",
                    f"{batch * new / t_comp:.1f} tok/s",
                    f"{t_ref / t_comp:.2f}x",
                ]
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--quick", action="store_true", help="small batches and files: a smoke run")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    compile = not args.no_compile
    header = ["measurement", "reference", "reference", "torchgraft", "ratio"]
    rows: list[Row] = []
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("loading", lambda: loading_rows(device, "resnet50" if args.quick else "gpt2_large", 1 if args.quick else 5)),
        ("inference", lambda: inference_rows(
            device, dtype, ["resnet50"] if args.quick else ["resnet50", "vit_b_16", "wav2vec2_base", "bert_base"],
            2 if args.quick else 64, 1 if args.quick else 20, compile)),
        ("generation", lambda: generation_rows(device, dtype, 4 if args.quick else 128, 1 if args.quick else 8, compile)),
    ]  # fmt: skip
    for name, section in sections:
        start = time.perf_counter()
        rows += section()
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"\n**GPU benchmark on {gpu}, torch {torch.__version__}**\n")
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
