"""torchgraft generation against transformers' ``generate()``, side by side, on identical random
weights of the published shapes (CPU, fp32, this machine's threads).

generate: tokens/s (rows x new tokens / s) for gpt2 (124M) at batch 1 and batch 8 (left-padded
          prompts of mixed lengths), 128 new tokens; t5-small and bart-base at batch 4, 64 new
          tokens, greedy and 4 beams. Both must produce the same tokens (checked), so the same work
          is timed: lengths are fixed with min_new_tokens = max_new_tokens. Median of alternating
          rounds, each case in a fresh process. Target: >= 1.5x.
compile:  torchgraft's generate(compile=True) against its eager loop (gpt2, batch 1), and the
          one-time compile.
floor:    gpt2's matrix products alone (every layer's and the LM head's, one token per row): the
          tokens/s no implementation of the same fp32 model can beat here, so the ratio any
          generate() can reach over transformers is bounded by floor / transformers.
build:    building with the weights from the same safetensors file, torchgraft's builder vs
          transformers' ``from_pretrained``, fresh process each: time and peak RSS growth against
          the file's bytes. Targets: <= 0.5x time, peak <= 1.1x the weight bytes.

    python benchmarks/bench_generation.py [--rounds 3] [--sections generate,compile,floor,build]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from _harness import markdown_table, run_child

MODELS = r"""
import torch, transformers
from torchgraft.core import generate, load_weights

def models(family):
    torch.manual_seed(0)
    if family == "gpt2":
        from torchgraft.text.models import gpt2, hf_to_gpt2
        ref = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
        ours = gpt2(dropout=0.0).eval()
        load_weights(ours, hf_to_gpt2(dict(ref.state_dict())))
    elif family == "t5_small":
        from torchgraft.text.models import t5_small, hf_to_t5
        ref = transformers.T5ForConditionalGeneration(transformers.T5Config(decoder_start_token_id=0)).eval()
        ours = t5_small(dropout=0.0).eval()
        load_weights(ours, hf_to_t5(dict(ref.state_dict())))
    else:
        from torchgraft.text.models import bart_base, hf_to_bart
        config = transformers.BartConfig(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                                         decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072,
                                         forced_eos_token_id=None)
        ref = transformers.BartForConditionalGeneration(config).eval()
        ours = bart_base(dropout=0.0).eval()
        load_weights(ours, hf_to_bart(dict(ref.state_dict())))
    return ref, ours

def inputs(family, batch):
    torch.manual_seed(1)
    if family == "gpt2":
        lengths = [32] if batch == 1 else [32, 20, 28, 12, 32, 25, 16, 30][:batch]
        pad, left = 50256, True
    else:
        lengths = [64, 48, 56, 40][:batch]
        pad, left = (0 if family == "t5_small" else 1), False
    width = max(lengths)
    ids = torch.full((batch, width), pad)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        cols = slice(width - n, width) if left else slice(0, n)
        ids[i, cols] = torch.randint(5, 30000, (n,))
        mask[i, cols] = 1
    return ids, mask, sum(lengths)
"""

GENERATE = (
    MODELS
    + r"""
family, batch, beams, new, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ref, ours = models(family)
ids, mask, _ = inputs(family, batch)
kw = dict(max_new_tokens=new, min_new_tokens=new, num_beams=beams)
if family == "gpt2":
    kw["pad_token_id"] = 50256
runs = {
    "transformers": lambda: ref.generate(input_ids=ids, attention_mask=mask, do_sample=False, **kw),
    "torchgraft": lambda: generate(ours, ids, attention_mask=mask, **kw),
}
with torch.inference_mode():
    outs = {name: run() for name, run in runs.items()}  # warm-up, and the same work
    equal = torch.equal(outs["transformers"], outs["torchgraft"])
    times = {name: [] for name in runs}
    for r in range(rounds):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
report(equal=equal, tokens=batch * new, **{k: sorted(v)[len(v) // 2] for k, v in times.items()})
"""
)

COMPILE = (
    MODELS
    + r"""
rounds = int(sys.argv[1])
_, ours = models("gpt2")
ids, mask, _ = inputs("gpt2", 1)
kw = dict(max_new_tokens=128, min_new_tokens=128)
with torch.inference_mode():
    eager = generate(ours, ids, attention_mask=mask, **kw)
    t0 = time.perf_counter()
    compiled = generate(ours, ids, attention_mask=mask, compile=True, **kw)
    first = time.perf_counter() - t0
    times = {"eager": [], "compiled": []}
    for r in range(rounds):
        for name in (["eager", "compiled"] if r % 2 == 0 else ["compiled", "eager"]):
            t0 = time.perf_counter()
            generate(ours, ids, attention_mask=mask, compile=name == "compiled", **kw)
            times[name].append(time.perf_counter() - t0)
report(equal=torch.equal(eager, compiled), first=first, tokens=128, **{k: sorted(v)[len(v) // 2] for k, v in times.items()})
"""
)

FLOOR = r"""
import torch
batch, rounds = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
shapes = [(2304, 768), (768, 768), (3072, 768), (768, 3072)] * 12 + [(50257, 768)]  # gpt2: qkv, out, fc1, fc2; LM head
weights = [torch.randn(o, i) for o, i in shapes]
inputs = {i: torch.randn(batch, 1, i) for i in (768, 3072)}
def step():
    for w in weights:
        torch.nn.functional.linear(inputs[w.shape[1]], w)
with torch.inference_mode():
    step()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(16):
            step()
        times.append((time.perf_counter() - t0) / 16)
report(step=sorted(times)[len(times) // 2], tokens=batch)
"""

BUILD = r"""
import torch
family, method, folder = sys.argv[1:4]
torch.set_num_threads(1)
if method == "torchgraft":
    import torchgraft.core as tg
    import torchgraft.text.models as models
    path = f"{folder}/model.safetensors"
    weights = tg.Weights(url="file://" + path, sha256=None, meta={})
    weights.fetch()  # pinned once in the store: not timed
    builder = {"gpt2": models.gpt2, "t5_small": models.t5_small, "bart_base": models.bart_base}[family]
else:
    import transformers
    cls = {"gpt2": transformers.GPT2LMHeadModel, "t5_small": transformers.T5ForConditionalGeneration,
           "bart_base": transformers.BartForConditionalGeneration}[family]
reset_peak()
t0 = time.perf_counter()
model = builder(weights=weights) if method == "torchgraft" else cls.from_pretrained(folder)
report(time=time.perf_counter() - t0, peak=peak_mb())
"""

SAVE = (
    MODELS
    + r"""
family, folder = sys.argv[1:3]
ref, _ = models(family)
ref.save_pretrained(folder)
report(bytes=__import__("os").path.getsize(folder + "/model.safetensors"))
"""
)


def generation_rows(rounds: int) -> list[list[str]]:
    rows = []
    cases = [("gpt2", 1, 1, 128), ("gpt2", 8, 1, 128)]
    cases += [(f, 4, b, 64) for f in ("t5_small", "bart_base") for b in (1, 4)]
    for family, batch, beams, new in cases:
        r = run_child(GENERATE, family, str(batch), str(beams), str(new), str(rounds))
        hf, tg = r["tokens"] / r["transformers"], r["tokens"] / r["torchgraft"]
        label = f"{family}, batch {batch}, {'greedy' if beams == 1 else f'{beams} beams'}, {new} new"
        rows.append([label, f"{hf:.1f}", f"{tg:.1f}", f"{tg / hf:.2f}x", "yes" if r["equal"] else "NO"])
    return rows


def compile_row(rounds: int) -> list[str]:
    r = run_child(COMPILE, str(rounds))
    eager, compiled = r["tokens"] / r["eager"], r["tokens"] / r["compiled"]
    return [
        "gpt2, batch 1, 128 new",
        f"{eager:.1f}",
        f"{compiled:.1f}",
        f"{compiled / eager:.2f}x",
        f"{r['first']:.1f}",
        "yes" if r["equal"] else "NO",
    ]


def floor_rows(rounds: int) -> list[list[str]]:
    rows = []
    for batch in (1, 8):
        r = run_child(FLOOR, str(batch), str(rounds))
        rows.append([f"gpt2, batch {batch}", f"{r['step'] * 1000:.1f}", f"{r['tokens'] / r['step']:.1f}"])
    return rows


def build_rows(repeat: int) -> list[list[str]]:
    rows = []
    env = {**os.environ, "TORCHGRAFT_HOME": tempfile.mkdtemp(prefix="tg-bench-home-")}
    for family in ("gpt2", "t5_small", "bart_base"):
        with tempfile.TemporaryDirectory() as folder:
            size_mb = run_child(SAVE, family, folder)["bytes"] / 2**20
            results = {
                method: [run_child(BUILD, family, method, folder, env=env) for _ in range(repeat)]
                for method in ("transformers", "torchgraft")
            }
        t = {m: statistics.median(x["time"] for x in v) for m, v in results.items()}
        peak = {m: statistics.median(x["peak"] for x in v) for m, v in results.items()}
        rows.append(
            [
                f"{family} ({size_mb:.0f} MB)",
                f"{t['transformers']:.3f}",
                f"{t['torchgraft']:.3f}",
                f"{t['torchgraft'] / t['transformers']:.2f}x",
                f"{peak['transformers']:.0f}",
                f"{peak['torchgraft']:.0f}",
                f"{peak['torchgraft'] / size_mb:.2f}x",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per build measurement")
    parser.add_argument("--sections", default="generate,compile,floor,build", help="comma-separated")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    Path(tempfile.gettempdir()).mkdir(exist_ok=True)
    if "generate" in sections:
        print("## generate: tokens/s on CPU fp32, identical weights (target >= 1.5x)\n")
        print(
            markdown_table(["case", "transformers", "torchgraft", "ratio", "same tokens"], generation_rows(args.rounds))
        )
    if "compile" in sections:
        print("\n## torchgraft generate(compile=True): tokens/s\n")
        print(
            markdown_table(
                ["case", "eager", "compiled", "speed-up", "compile s", "same tokens"], [compile_row(args.rounds)]
            )
        )
    if "floor" in sections:
        print("\n## the floor: gpt2's matrix products alone, per token step\n")
        print(markdown_table(["case", "ms per step", "tokens/s at most"], floor_rows(args.rounds)))
    if "build" in sections:
        print("\n## build with weights from the same file (targets <= 0.5x time, peak <= 1.1x weight bytes)\n")
        header = [
            "model",
            "from_pretrained s",
            "torchgraft s",
            "time ratio",
            "from_pretrained peak MB",
            "torchgraft peak MB",
            "torchgraft peak / file",
        ]
        print(markdown_table(header, build_rows(args.repeat)))


if __name__ == "__main__":
    main()
