"""Out of Python (issue 23): eager against the ``torch.export`` program and the AOTInductor package
of the same model, side by side, CPU fp32, identical (random) weights.

models:  resnet50 (images/s, batch 8 at 224 px); a BERT-base encoder (sentences/s, batch 16 of
         128 tokens, once all real and once a quarter to three quarters padding); wav2vec 2.0 base
         (seconds of audio/s, batch 4 of 2 s, one of them 1.2 s with ``lengths``).
methods: eager (``torch.inference_mode``); ``exported``, the program's module
         (`torchgraft.core.export.export`, every dimension the model allows dynamic); ``aoti``,
         ``torch._inductor.aoti_compile_and_package`` of that program, loaded with
         ``aoti_load_package``. Each program is checked against eager before it is timed.
Targets: exported and AOTInductor >= 1.0x eager.

    python benchmarks/bench_deploy.py [--seconds 6] [--rounds 3] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from _harness import interleaved, markdown_table

import torchgraft.core as tg
from torchgraft.core.export import export


def _text_batch(padded: bool, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1000, 30000, (batch, length), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    if padded:
        for i in range(batch):
            mask[i, length // 4 + (i * length // 2) // batch :] = 0  # 25 %..75 % real
    return ids, mask


def cases(quick: bool) -> list[tuple[str, str, torch.nn.Module, tuple, float]]:
    """(name, unit, model, inputs, work per call)."""
    torch.manual_seed(0)
    small = {"num_layers": 2} if quick else {}
    image = 64 if quick else 224
    out = [
        ("resnet50", "images/s", tg.get_model("resnet50"), (torch.randn(8, 3, image, image),), 8.0),
    ]
    encoder = tg.get_model("bert_base", **small)
    length = 32 if quick else 128
    for padded in (False, True):
        name = "bert_base, " + ("padded" if padded else "all real")
        out.append((name, "sentences/s", encoder, _text_batch(padded, 16, length), 16.0))
    seconds = 0.5 if quick else 2.0
    samples = int(16000 * seconds)
    lengths = torch.tensor([samples, samples, samples, int(samples * 0.6)])
    wav2vec = tg.get_model("wav2vec2_base", **({"encoder_num_layers": 2} if quick else {}))
    out.append(("wav2vec2_base", "audio s/s", wav2vec, (torch.randn(4, samples), lengths), 4 * seconds))
    return out


def _once(fn: Callable[..., object], inputs: tuple, work: float) -> float:
    fn(*inputs)
    return work


def _close(a: object, b: object) -> bool:
    a = a[0] if isinstance(a, tuple) else a
    b = b[0] if isinstance(b, tuple) else b
    return bool(torch.allclose(a, b, atol=1e-4, rtol=1e-4))


def measure(args: argparse.Namespace) -> list[dict]:
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="bench_deploy_"))
    for name, unit, model, inputs, work in cases(args.quick):
        model.eval()
        program = export(model, *inputs)
        exported = program.module()
        start = time.perf_counter()
        package = torch._inductor.aoti_compile_and_package(program, package_path=str(folder / f"{len(rows)}.pt2"))
        compile_s = time.perf_counter() - start
        aoti = torch._inductor.aoti_load_package(package)
        with torch.inference_mode():
            reference = model(*inputs)
            for method, run in (("exported", exported), ("aoti", aoti)):
                if not _close(reference, run(*inputs)):
                    raise SystemExit(f"{name}: the {method} program differs from eager")

            runs = {
                m: partial(_once, fn, inputs, work)
                for m, fn in (("eager", model), ("exported", exported), ("aoti", aoti))
            }
            rates = interleaved(runs, args.rounds, args.seconds)
        rows.append({"model": name, "unit": unit, **rates, "aoti_compile_s": compile_s})
        print(f"{name}: {rates}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="time per method and model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small shapes: checks the script runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = measure(args)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 CPU")
    header = ["model", "unit", "eager", "exported", "ratio", "AOTInductor", "ratio", "AOTI compile s"]
    table = [
        [
            r["model"],
            r["unit"],
            f"{r['eager']:.2f}",
            f"{r['exported']:.2f}",
            f"{r['exported'] / r['eager']:.2f}x",
            f"{r['aoti']:.2f}",
            f"{r['aoti'] / r['eager']:.2f}x",
            f"{r['aoti_compile_s']:.0f}",
        ]
        for r in rows
    ]
    print(markdown_table(header, table))


if __name__ == "__main__":
    main()
