"""torchgraft-text against transformers and sentence-transformers, side by side.

load:       the packaged all-MiniLM-L6-v2 (same files): torchgraft builder vs transformers'
            ``AutoModel.from_pretrained`` vs ``SentenceTransformer(path)``, fresh process each,
            median of --repeat. Target: <= 0.5x transformers' time.
throughput: tokens/s on CPU, batches of 32 sentences of mixed lengths (real tokens counted),
            torchgraft vs transformers' BertModel (attn_implementation="sdpa"), identical weights.
            Target >= 1.0x. Run on mixed batches and on batches formed from length-sorted sentences
            (less padding for both), with torchgraft's unpadding on (default) and off.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from functools import partial

from _harness import interleaved, markdown_table, run_child

LOAD = r"""
import torch
method, path = sys.argv[1:3]
torch.set_num_threads(1)
if method == "torchgraft":
    import torchgraft.core as tg
    tg.get_model_weights("all_minilm_l6_v2").DEFAULT.fetch()  # hashed once, stamped: not timed
    tg.list_models()
elif method == "transformers":
    import transformers
else:
    import sentence_transformers
reset_peak()
t0 = time.perf_counter()
if method == "torchgraft":
    model = tg.get_model("all_minilm_l6_v2", weights="DEFAULT")
elif method == "transformers":
    model = transformers.AutoModel.from_pretrained(path)
else:
    model = sentence_transformers.SentenceTransformer(path, device="cpu")
report(time=time.perf_counter() - t0, peak=peak_mb())
"""

WORDS = [
    "the",
    "a",
    "man",
    "woman",
    "child",
    "dog",
    "cat",
    "runs",
    "eats",
    "plays",
    "reads",
    "quickly",
    "slowly",
    "under",
    "over",
    "beautiful",
    "old",
    "new",
    "city",
    "river",
    "music",
]


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.choice([4, 8, 16, 32, 64, 100]))) for _ in range(n)]


def throughput(seconds: float, sort: bool) -> dict[str, float]:
    import torch
    import transformers

    import torchgraft.core as tg

    weights = tg.get_model_weights("all_minilm_l6_v2").DEFAULT
    mine = tg.Weights(url=weights.url, sha256=weights.sha256, meta={})
    ours = tg.get_model("minilm_l6_h384", weights=mine).eval()
    padded = tg.get_model("minilm_l6_h384", weights=mine, unpad=False).eval()
    path = os.path.dirname(weights.fetch())
    ref = transformers.AutoModel.from_pretrained(path, attn_implementation="sdpa").eval()
    tokenize = weights.transforms()
    texts = sentences(32 * 8)
    if sort:
        texts.sort(key=len)
    batches = [tokenize(texts[i : i + 32]) for i in range(0, len(texts), 32)]
    models = {
        "transformers": lambda b: ref(input_ids=b["input_ids"], attention_mask=b["attention_mask"]),
        "torchgraft": lambda b: ours(b["input_ids"], b["attention_mask"]),
        "torchgraft, unpad=False": lambda b: padded(b["input_ids"], b["attention_mask"]),
    }

    def tokens_of(run) -> float:
        for b in batches:
            run(b)
        return float(sum(int(b["attention_mask"].sum()) for b in batches))

    with torch.inference_mode():
        for run in models.values():
            run(batches[0])  # warm-up
        rates = interleaved({name: partial(tokens_of, run) for name, run in models.items()}, 4, seconds)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    import torch

    import torchgraft.core as tg

    path = os.path.dirname(tg.get_model_weights("all_minilm_l6_v2").DEFAULT.fetch())
    load = {
        m: [run_child(LOAD, m, path) for _ in range(args.repeat)]
        for m in ("transformers", "sentence-transformers", "torchgraft")
    }
    med = {
        m: (statistics.median(r["time"] for r in runs), statistics.median(r["peak"] for r in runs))
        for m, runs in load.items()
    }
    base = med["transformers"][0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; load single-threaded, median of {args.repeat}\n")
    print("load all-MiniLM-L6-v2 (same files):")
    print(
        markdown_table(
            ["path", "time s", "peak MB", "time vs transformers"],
            [[m, f"{t:.3f}", f"{p:.0f}", f"{t / base:.2f}x"] for m, (t, p) in med.items()],
        )
    )
    print("target: torchgraft <= 0.5x transformers\n")
    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for sort in (False, True):
        r = throughput(args.seconds, sort)
        tv, tg_, pad = r["transformers"], r["torchgraft"], r["torchgraft, unpad=False"]
        rows.append(
            [
                "length-sorted" if sort else "mixed",
                f"{tv:.0f}",
                f"{tg_:.0f}",
                f"{tg_ / tv:.2f}x",
                f"{pad:.0f}",
                f"{pad / tv:.2f}x",
            ]
        )
    print(f"throughput, real tokens/s, batches of 32 mixed-length sentences, {torch.get_num_threads()} threads:")
    header = ["batches", "transformers BertModel (sdpa)", "torchgraft", "ratio", "torchgraft unpad=False", "ratio"]
    print(markdown_table(header, rows))
    print("target: >= 1.0x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
